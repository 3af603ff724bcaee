//! Command-line flags and the one-shot commands (`--validate-config`, `--print-config`,
//! `--version`), as OPERATIONS §1 describes them.

use std::path::PathBuf;

use argh::FromArgs;
use signal_fish_core::Config;

/// Exit code for a configuration that does not load or validate.
pub const EXIT_CONFIG: i32 = 1;
/// Exit code for bad command-line usage.
pub const EXIT_USAGE: i32 = 2;

/// Signal Fish: a self-hosted signaling and lobby server for peer-to-peer games
/// (WebSocket protocol v2 on /v2/ws; health on /v2/health; metrics on /metrics and
/// /metrics/prom).
#[derive(FromArgs, Debug, Default, PartialEq, Eq)]
#[argh(
    help_triggers("-h", "--help"),
    note = "Configuration, later sources winning: compiled defaults; SIGNAL_FISH_CONFIG_JSON (inline JSON); \
standard input if SIGNAL_FISH_CONFIG_STDIN=1; one config file (--config PATH, else SIGNAL_FISH_CONFIG_PATH, \
else ./config.json if present); then environment overrides SIGNAL_FISH_<KEY>, with __ between nested keys \
(SIGNAL_FISH_PORT=4000, SIGNAL_FISH_SERVER__DEFAULT_MAX_PLAYERS=4). A bad value, a wrong type or an unknown key \
is an error that names the key; the server does not start with it.\n\
Logging: RUST_LOG filters log lines (default info) unless logging.level is set; logging.format picks json or text.\n\
Exit codes: 0 success, 1 invalid configuration or start-up failure, 2 bad usage. SIGINT/SIGTERM close every \
connection with 1001 and exit 0."
)]
pub struct Args {
    /// load and validate the configuration, print a summary and exit (0 valid, 1 invalid)
    #[argh(switch, short = 'c')]
    pub validate_config: bool,
    /// print the effective configuration (every key, defaults included) as JSON and exit
    #[argh(switch)]
    pub print_config: bool,
    /// read this config file instead of ./config.json
    #[argh(option, arg_name = "PATH")]
    pub config: Option<PathBuf>,
    /// print the version and exit
    #[argh(switch, short = 'V')]
    pub version: bool,
    /// record this run with the flight recorder into DIR (recorder.enabled = true,
    /// recorder.dir = DIR; the other recorder.* keys apply)
    #[argh(option, arg_name = "DIR")]
    pub record: Option<PathBuf>,
}

/// What the process should do.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the server.
    Serve {
        /// `--config`.
        config_path: Option<PathBuf>,
        /// `--record DIR`.
        record: Option<PathBuf>,
    },
    /// `--validate-config`.
    Validate {
        /// `--config`.
        config_path: Option<PathBuf>,
    },
    /// `--print-config`.
    Print {
        /// `--config`.
        config_path: Option<PathBuf>,
    },
    /// `--version`.
    Version,
}

/// The outcome of parsing: a command, or text to print and an exit code (help: stdout,
/// 0; errors: stderr, 2).
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Go on with this command.
    Run(Command),
    /// Print `text` to stdout and exit 0.
    Help(String),
    /// Print `text` to stderr and exit [`EXIT_USAGE`].
    Usage(String),
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Parsed {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let parsed = match Args::from_args(&["signal-fish-server"], &args) {
        Ok(parsed) => parsed,
        Err(exit) => {
            return match exit.status {
                Ok(()) => Parsed::Help(exit.output),
                Err(()) => Parsed::Usage(format!(
                    "{}\nRun signal-fish-server --help for more information.",
                    exit.output.trim_end()
                )),
            }
        }
    };
    if parsed.validate_config && parsed.print_config {
        return Parsed::Usage(
            "error: the argument '--validate-config' cannot be used with '--print-config'".to_owned(),
        );
    }
    if parsed.record.as_ref().is_some_and(|dir| dir.as_os_str().is_empty()) {
        return Parsed::Usage("error: --record needs a folder, e.g. --record recordings".to_owned());
    }
    if parsed.record.is_some() && (parsed.validate_config || parsed.print_config || parsed.version) {
        return Parsed::Usage(
            "error: --record starts a recorded server; it cannot be used with --validate-config, --print-config or --version"
                .to_owned(),
        );
    }
    let config_path = parsed.config;
    Parsed::Run(if parsed.version {
        Command::Version
    } else if parsed.validate_config {
        Command::Validate { config_path }
    } else if parsed.print_config {
        Command::Print { config_path }
    } else {
        Command::Serve { config_path, record: parsed.record }
    })
}

/// `signal-fish-server <version>`.
pub fn version_line() -> String {
    format!("signal-fish-server {}", env!("CARGO_PKG_VERSION"))
}

/// The success output of `--validate-config`.
pub fn validation_summary(config: &Config) -> String {
    format!(
        "Configuration validation passed\n\nConfiguration summary:\n  Port: {}\n  Storage backend: InMemory\n  TLS enabled: {}\n  Metrics auth required: {}\n  Reconnection enabled: {}\n  Max players per room: {}\n  Deployment region: {}\n",
        config.port,
        config.security.transport.tls.enabled,
        config.security.require_metrics_auth,
        config.server.enable_reconnection,
        config.server.default_max_players,
        config.server.region_id,
    )
}

/// The output of `--print-config`: pretty JSON, two-space indent, every key.
pub fn print_config(config: &Config) -> String {
    let mut text = serde_json::to_string_pretty(config).expect("the config serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn commands() {
        assert_eq!(parse(&args(&[])), Parsed::Run(Command::Serve { config_path: None, record: None }));
        assert_eq!(
            parse(&args(&["--record", "rec"])),
            Parsed::Run(Command::Serve { config_path: None, record: Some(PathBuf::from("rec")) })
        );
        assert!(
            matches!(parse(&args(&["--record", ""])), Parsed::Usage(text) if text.contains("needs a folder"))
        );
        assert!(matches!(parse(&args(&["--record", "r", "--print-config"])), Parsed::Usage(_)));
        assert_eq!(
            parse(&args(&["-c", "--config", "x.json"])),
            Parsed::Run(Command::Validate { config_path: Some("x.json".into()) })
        );
        assert_eq!(parse(&args(&["--print-config"])), Parsed::Run(Command::Print { config_path: None }));
        assert_eq!(parse(&args(&["-V"])), Parsed::Run(Command::Version));
    }

    #[test]
    fn help_and_usage_errors() {
        let Parsed::Help(help) = parse(&args(&["--help"])) else { panic!("help expected") };
        for flag in
            ["--validate-config", "--print-config", "--config", "--version", "SIGNAL_FISH_", "config.json"]
        {
            assert!(help.contains(flag), "help lacks {flag}:\n{help}");
        }
        assert!(matches!(parse(&args(&["-h"])), Parsed::Help(_)));
        let Parsed::Usage(both) = parse(&args(&["-c", "--print-config"])) else { panic!() };
        assert!(both.contains("cannot be used with"));
        assert!(matches!(parse(&args(&["--bogus"])), Parsed::Usage(_)));
    }

    #[test]
    fn summary_lines() {
        let summary = validation_summary(&Config::default());
        assert!(
            summary.starts_with("Configuration validation passed\n\nConfiguration summary:\n  Port: 3536\n")
        );
        assert!(summary.contains("  Max players per room: 8\n  Deployment region: default\n"));
    }
}
