//! The idle check after the churn: the server must come back to no rooms and no
//! connections within `--idle-wait-secs`.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use smol::Timer;

use super::sampling::{server_counts, take_sample, Sample, ServerCounts};
use super::shared::Shared;

/// What the server looked like after the churn stopped.
#[derive(Debug, Clone, Default)]
pub(super) struct Idle {
    /// Seconds from the end of the churn until rooms and connections were both 0 (or
    /// the wait ended).
    pub(super) waited_secs: f64,
    pub(super) returned: bool,
    pub(super) last: Option<ServerCounts>,
    pub(super) rss: Option<u64>,
    pub(super) fds: Option<u64>,
}

/// Polls the metrics every second until the server has no room and no connection, or
/// `--idle-wait-secs` passed.
pub(super) async fn idle_check(sh: &Shared<'_>, samples: &RefCell<Vec<Sample>>) -> Idle {
    let began = Instant::now();
    let deadline = began + sh.opts.idle_wait;
    let mut last = None;
    let mut returned = false;
    let polls = sh.opts.idle_wait.as_secs() as usize + 2;
    for _ in 0..polls {
        if let Ok(m) = server_counts(sh).await {
            last = Some(m);
            if m.rooms == 0 && m.connections == 0 {
                returned = true;
                break;
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        Timer::at((Instant::now() + Duration::from_secs(1)).min(deadline)).await;
    }
    let waited_secs = began.elapsed().as_secs_f64();
    let mut cpu = None;
    let mut sample = take_sample(sh, "idle", &mut cpu).await;
    sample.metrics = sample.metrics.or(last);
    let idle = Idle { waited_secs, returned, last, rss: sample.rss, fds: sample.fds };
    samples.borrow_mut().push(sample);
    sh.idle_over.set(true);
    idle
}
