//! Shrinking a failing workload: drop operations while the same failure remains.

use super::exec::{run_ops, Execution};
use super::workload::{Op, Workload};

/// Most re-runs one shrink may take.
const MAX_ATTEMPTS: usize = 3000;

/// The kind of a failure message, with numbers, ids and names blurred, so that shrinking
/// keeps the same bug rather than wandering to another.
pub fn failure_kind(message: &str) -> String {
    let mut out = String::new();
    let mut last_digit = false;
    for c in message.chars() {
        let digit = c.is_ascii_hexdigit() && !c.is_ascii_alphabetic() || c.is_ascii_digit();
        if digit {
            if !last_digit {
                out.push('#');
            }
        } else {
            out.push(c);
        }
        last_digit = digit;
    }
    out.chars().take(60).collect()
}

/// A smaller list of operations that fails the same way (and its execution).
pub fn shrink(workload: &Workload, failing: &Execution) -> (Vec<Op>, Execution) {
    let Some((index, message)) = &failing.failure else {
        return (workload.ops.clone(), failing.clone());
    };
    let kind = failure_kind(message);
    let still_fails = |ops: &[Op]| -> Option<Execution> {
        let run = run_ops(workload, ops);
        match &run.failure {
            Some((_, m)) if failure_kind(m) == kind => Some(run),
            _ => None,
        }
    };
    // What came after the failure cannot have caused it.
    let mut ops: Vec<Op> = workload.ops[..=*index].to_vec();
    let mut best = still_fails(&ops).unwrap_or_else(|| failing.clone());
    if best.failure.is_none() {
        return (workload.ops.clone(), failing.clone());
    }
    let mut attempts = 0;
    let mut chunk = (ops.len() / 2).max(1);
    loop {
        let mut progressed = false;
        let mut start = 0;
        while start < ops.len() && attempts < MAX_ATTEMPTS {
            let end = (start + chunk).min(ops.len());
            let candidate: Vec<Op> = ops[..start].iter().chain(&ops[end..]).cloned().collect();
            attempts += 1;
            if let Some(run) = still_fails(&candidate) {
                let cut = run.failure.as_ref().map_or(candidate.len(), |(i, _)| i + 1);
                ops = candidate[..cut.min(candidate.len())].to_vec();
                best = run;
                progressed = true;
            } else {
                start += chunk;
            }
        }
        if attempts >= MAX_ATTEMPTS || (chunk == 1 && !progressed) {
            break;
        }
        if !progressed {
            chunk = (chunk / 2).max(1);
        }
    }
    (ops, best)
}

#[cfg(test)]
mod tests {
    use super::failure_kind;

    #[test]
    fn blurs_numbers() {
        assert_eq!(
            failure_kind("room 12 over capacity at 3.5s"),
            failure_kind("room 7 over capacity at 10.25s")
        );
        assert_ne!(failure_kind("room over capacity"), failure_kind("seat index wrong"));
    }
}
