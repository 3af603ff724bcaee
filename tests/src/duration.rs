//! Durations as scenarios write them (`30s`, `500ms`, `5m`, `1h30m`, `1.5s`) and
//! virtual times as transcripts print them (`30.001s`).

use std::time::Duration;

/// Parses a duration: one or more `<number><unit>` parts, units `h`, `m`, `s`, `ms`, `us`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration (examples: 30s, 500ms, 5m, 1h30m, 1.5s)");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" => 1e-6,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        let micros = (number * scale * 1e6).round();
        if !(0.0..=1e15).contains(&micros) {
            return Err(bad());
        }
        total += Duration::from_micros(micros as u64);
    }
    Ok(total)
}

/// Formats a virtual time (since the simulation started) as seconds: `30s`, `30.001s`,
/// `0.000250s`.
pub fn format_secs(elapsed: Duration) -> String {
    let micros = elapsed.as_micros();
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    if frac == 0 {
        return format!("{secs}s");
    }
    let digits = format!("{frac:06}");
    format!("{secs}.{}s", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("3x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn formats_trimmed_seconds() {
        assert_eq!(format_secs(Duration::from_secs(30)), "30s");
        assert_eq!(format_secs(Duration::from_millis(30_001)), "30.001s");
        assert_eq!(format_secs(Duration::from_micros(250)), "0.00025s");
    }
}
