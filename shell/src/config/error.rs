//! Configuration errors. Each names the key, the value and what is accepted, and the
//! source that set it (DECISIONS D3).

use std::fmt;
use std::path::PathBuf;

use signal_fish_core::config::ConfigError;

/// Why no configuration could be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// A config file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A source is not valid JSON, or not a JSON object.
    Parse {
        /// The source (`config file ./config.json`, `SIGNAL_FISH_CONFIG_JSON`, …).
        source: String,
        /// What is wrong and where.
        message: String,
    },
    /// An environment variable names no key or has a value its key cannot take.
    Env {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// A value has the wrong type or an unknown key is present.
    Type {
        /// The dotted key.
        key: String,
        /// The value as JSON, if there is one.
        value: Option<String>,
        /// The source that set it, if known.
        source: Option<String>,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// The typed configuration breaks one or more rules of `Config::validate`.
    Invalid(Vec<(ConfigError, Option<String>)>),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Read { path, error } => {
                write!(f, "cannot read config file {}: {error}", path.display())
            }
            LoadError::Parse { source, message } => {
                write!(f, "{source} is not a valid configuration: {message}")
            }
            LoadError::Env { var, value, message } => {
                write!(f, "environment variable {var}={}: {message}", quote(value))
            }
            LoadError::Type { key, value, source, message } => {
                write!(f, "{key}")?;
                if let Some(value) = value {
                    write!(f, " = {value}")?;
                }
                if let Some(source) = source {
                    write!(f, " (from {source})")?;
                }
                write!(f, ": {message}")
            }
            LoadError::Invalid(errors) => {
                for (i, (error, source)) in errors.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{error}")?;
                    if let Some(source) = source {
                        write!(f, " (from {source})")?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LoadError {}

fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| text.to_owned())
}

/// Makes serde's type names readable: `expected u16` → `expected an integer from 0 to
/// 65535`.
pub(crate) fn friendly(message: &str) -> String {
    const NAMES: &[(&str, &str)] = &[
        ("expected u8", "expected an integer from 0 to 255"),
        ("expected u16", "expected an integer from 0 to 65535"),
        ("expected u32", "expected an integer from 0 to 4294967295"),
        ("expected u64", "expected a non-negative integer"),
        ("expected usize", "expected a non-negative integer"),
        ("expected a boolean", "expected true or false"),
    ];
    let mut out = message.to_owned();
    for (from, to) in NAMES {
        if out.ends_with(from) || out.contains(&format!("{from} ")) {
            out = out.replace(from, to);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_names() {
        assert_eq!(
            friendly("invalid value: integer `70000`, expected u16"),
            "invalid value: integer `70000`, expected an integer from 0 to 65535"
        );
        assert_eq!(
            friendly("invalid type: string \"x\", expected a boolean"),
            "invalid type: string \"x\", expected true or false"
        );
        assert_eq!(friendly("expected u64 or so"), "expected a non-negative integer or so");
    }
}
