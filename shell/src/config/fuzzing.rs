//! The config-loading harness shared by the `load_config` fuzz target and the test that
//! replays its corpus (feature `fuzzing`).
//!
//! Input format, so seeds stay readable: a JSON document (the config file), then a line
//! `---`, then `NAME=VALUE` lines taken as `SIGNAL_FISH_NAME` environment variables.

use std::path::PathBuf;

use super::{load, LoadOptions};
use signal_fish_core::Config;

/// Most environment variables taken from one input.
const MAX_ENV: usize = 32;

/// Loads a configuration from fuzzer bytes. Panics if loading panics, if an accepted
/// configuration does not validate or does not survive `--print-config` and reloading,
/// or if an error says nothing.
pub fn load_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (document, env_text) = text.split_once("\n---\n").unwrap_or((&text, ""));
    let env: Vec<(String, String)> = env_text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (format!("SIGNAL_FISH_{name}"), value.to_owned()))
        // Never let fuzz input point the loader at files.
        .filter(|(name, _)| name != "SIGNAL_FISH_CONFIG_PATH")
        .take(MAX_ENV)
        .collect();
    let options = LoadOptions {
        config_path: None,
        working_dir: PathBuf::from("/nonexistent/signal-fish-fuzz"),
        env,
        stdin: Some(document.to_owned()),
    };
    match load(&options) {
        Ok(loaded) => {
            assert!(loaded.config.validate().is_ok(), "an accepted configuration must validate");
            let printed = serde_json::to_string_pretty(&loaded.config).expect("configs serialise");
            let reloaded: Config = serde_json::from_str(&printed).expect("printed configs load");
            assert_eq!(reloaded, loaded.config, "--print-config must round-trip");
        }
        Err(error) => assert!(!error.to_string().trim().is_empty(), "errors must say what is wrong"),
    }
}
