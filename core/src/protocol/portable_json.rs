//! Game-data JSON that every client's parser can read (DECISIONS D21).
//!
//! Payloads are relayed as written, so a payload that is valid JSON for the server's
//! parser but not for the recipients' would break every other player's decoder. The
//! official SDKs use serde_json with its defaults, as do many games; other parsers
//! (JavaScript's `JSON.parse`, .NET, Godot) share the same limits or looser ones. This
//! check refuses what such parsers cannot take:
//!
//! - nesting deeper than [`MAX_PAYLOAD_DEPTH`] (serde_json stops at 128 levels for the
//!   whole document, and the `GameData` envelope adds two);
//! - numbers outside the range of a 64-bit float (`1e400`, a 5,000-digit integer);
//! - `\u` escapes that do not form valid UTF-16 (an unpaired surrogate such as `\udc00`).
//!
//! The input is already known to be syntactically valid JSON (the envelope parsed), so
//! this is one linear pass that allocates nothing.

use std::fmt;

/// Deepest container nesting accepted in a game-data payload (the MessagePack path uses
/// the same bound).
pub const MAX_PAYLOAD_DEPTH: usize = 100;

/// Why a payload is not portable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortabilityProblem {
    /// Containers nested deeper than [`MAX_PAYLOAD_DEPTH`].
    TooDeep,
    /// A number that is infinite as a 64-bit float.
    NumberOutOfRange,
    /// A `\u` escape of an unpaired UTF-16 surrogate.
    UnpairedSurrogate,
}

impl fmt::Display for PortabilityProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PortabilityProblem::TooDeep => "Game data is nested deeper than 100 levels",
            PortabilityProblem::NumberOutOfRange => {
                "Game data has a number outside the range of a 64-bit float"
            }
            PortabilityProblem::UnpairedSurrogate => "Game data has an unpaired UTF-16 surrogate escape",
        })
    }
}

/// Checks one syntactically valid JSON value. See the module documentation.
pub fn check_portable_json(text: &str) -> Result<(), PortabilityProblem> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_PAYLOAD_DEPTH {
                    return Err(PortabilityProblem::TooDeep);
                }
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'"' => i = check_string(bytes, i + 1)?,
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len() && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    i += 1;
                }
                check_number(&text[start..i])?;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Scans a string body starting after its opening quote; returns the index after the
/// closing quote.
fn check_string(bytes: &[u8], mut i: usize) -> Result<usize, PortabilityProblem> {
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Ok(i + 1),
            b'\\' if bytes.get(i + 1) == Some(&b'u') => {
                let unit = hex4(bytes, i + 2);
                i += 6;
                match unit {
                    Some(0xD800..=0xDBFF) => {
                        // A high surrogate must be followed at once by an escaped low one.
                        let low = (bytes.get(i) == Some(&b'\\') && bytes.get(i + 1) == Some(&b'u'))
                            .then(|| hex4(bytes, i + 2))
                            .flatten();
                        if !matches!(low, Some(0xDC00..=0xDFFF)) {
                            return Err(PortabilityProblem::UnpairedSurrogate);
                        }
                        i += 6;
                    }
                    Some(0xDC00..=0xDFFF) => return Err(PortabilityProblem::UnpairedSurrogate),
                    _ => {}
                }
            }
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Ok(i)
}

fn hex4(bytes: &[u8], at: usize) -> Option<u16> {
    let digits = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
    u16::from_str_radix(digits, 16).ok()
}

fn check_number(token: &str) -> Result<(), PortabilityProblem> {
    // Short tokens cannot overflow an f64 (its largest finite value has 309 digits);
    // skip the parse for the common case.
    if token.len() < 300 && !token.contains(['e', 'E']) {
        return Ok(());
    }
    match token.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(()),
        _ => Err(PortabilityProblem::NumberOutOfRange),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn ordinary_payloads_pass() {
        for text in [
            r#"{"pos":[1,2.5,-3e10],"name":"Zoë \ud83d\ude00 \"q\" \\u","ok":true,"n":null}"#,
            "1.7976931348623157e308",
            "-0",
            r#""\\udc00""#,
            &"9".repeat(299),
        ] {
            assert_eq!(check_portable_json(text), Ok(()), "{text}");
            serde_json::from_str::<serde_json::Value>(text).expect("serde_json reads it too");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        assert_eq!(check_portable_json(&nested(MAX_PAYLOAD_DEPTH)), Ok(()));
        assert_eq!(check_portable_json(&nested(MAX_PAYLOAD_DEPTH + 1)), Err(PortabilityProblem::TooDeep));
        assert_eq!(check_portable_json(&nested(126)), Err(PortabilityProblem::TooDeep));
        // Brackets inside strings do not count.
        let text = format!("\"{}\"", "[".repeat(500));
        assert_eq!(check_portable_json(&text), Ok(()));
    }

    #[test]
    fn numbers_outside_f64_are_refused() {
        for text in ["1e400", "-1e400", "[1,2,1E309]", &"9".repeat(5_000)] {
            assert_eq!(check_portable_json(text), Err(PortabilityProblem::NumberOutOfRange), "{text}");
            assert!(serde_json::from_str::<serde_json::Value>(text).is_err(), "serde_json refuses {text}");
        }
        assert_eq!(check_portable_json("1e-400"), Ok(()), "underflow rounds to zero");
    }

    #[test]
    fn unpaired_surrogates_are_refused() {
        for text in [r#""\udc00""#, r#""\ud800""#, r#""\ud800x""#, r#""\ud800\u0041""#, r#"{"a\uDFFF":1}"#] {
            assert_eq!(check_portable_json(text), Err(PortabilityProblem::UnpairedSurrogate), "{text}");
            assert!(serde_json::from_str::<serde_json::Value>(text).is_err(), "serde_json refuses {text}");
        }
    }
}
