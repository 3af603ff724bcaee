//! The binary's logging (OPERATIONS §9): a `tracing` subscriber writing JSON or text
//! lines to stdout and, optionally, to a rotating file.
//!
//! The level filter is `logging.level` when set, else `RUST_LOG` (full filter syntax),
//! else `info`. Nothing is logged per message on hot paths; connection events are at
//! `debug`.

mod rolling;

use std::io::IsTerminal as _;
use std::sync::Mutex;

use signal_fish_core::config::{LogFormat, LoggingConfig};
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::layer::{Layer, Layered, SubscriberExt as _};
use tracing_subscriber::registry::Registry;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use rolling::RollingFile;

type BoxedLayer = Box<dyn Layer<Layered<EnvFilter, Registry>> + Send + Sync>;

/// Installs the global subscriber. `rust_log` is the `RUST_LOG` value, if any. Returns
/// notes worth logging once logging works (a bad `RUST_LOG`, an unusable log directory).
pub fn init(config: &LoggingConfig, rust_log: Option<&str>) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    let filter = build_filter(config.level.as_deref(), rust_log, &mut notes);
    let mut layers: Vec<BoxedLayer> = Vec::new();
    let ansi = config.format == LogFormat::Text && std::io::stdout().is_terminal();
    layers.push(match config.format {
        LogFormat::Json => tracing_subscriber::fmt::layer().json().with_writer(std::io::stdout).boxed(),
        LogFormat::Text => {
            tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stdout).boxed()
        }
    });
    if config.enable_file_logging {
        match RollingFile::open(&config.dir, &config.filename, config.rotation) {
            Ok(file) => {
                let file = Mutex::new(file);
                layers.push(match config.format {
                    LogFormat::Json => tracing_subscriber::fmt::layer().json().with_writer(file).boxed(),
                    LogFormat::Text => {
                        tracing_subscriber::fmt::layer().with_ansi(false).with_writer(file).boxed()
                    }
                });
            }
            Err(error) => notes.push(format!(
                "Failed to create log directory '{}' ({error}), continuing with stdout logs",
                config.dir
            )),
        }
    }
    tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))?;
    Ok(notes)
}

/// `logging.level`, else `RUST_LOG`, else `info`.
fn build_filter(level: Option<&str>, rust_log: Option<&str>, notes: &mut Vec<String>) -> EnvFilter {
    if let Some(level) = level {
        let level = match level.trim().to_ascii_lowercase().as_str() {
            "warning" => "warn".to_owned(),
            "err" => "error".to_owned(),
            other => other.to_owned(),
        };
        if let Ok(filter) = EnvFilter::try_new(&level) {
            return filter;
        }
        notes.push(format!("invalid logging.level {level:?}, using info"));
    } else if let Some(directives) = rust_log.filter(|d| !d.trim().is_empty()) {
        match EnvFilter::try_new(directives) {
            Ok(filter) => return filter,
            Err(e) => notes.push(format!("invalid RUST_LOG {directives:?} ({e}), using info")),
        }
    }
    EnvFilter::new("info")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_then_rust_log_then_info() {
        let mut notes = Vec::new();
        assert_eq!(build_filter(Some("Warning"), Some("debug"), &mut notes).to_string(), "warn");
        assert_eq!(
            build_filter(None, Some("signal_fish_server=debug"), &mut notes).to_string(),
            "signal_fish_server=debug"
        );
        assert_eq!(build_filter(None, None, &mut notes).to_string(), "info");
        assert!(notes.is_empty());
        assert_eq!(build_filter(None, Some("=[bad"), &mut notes).to_string(), "info");
        assert_eq!(notes.len(), 1);
    }
}
