//! Loading the configuration: compiled defaults, then JSON sources, then `SIGNAL_FISH_*`
//! environment overrides, then validation (DECISIONS D2–D3).
//!
//! Sources, later ones winning:
//! 1. the compiled defaults (the seed's documented values);
//! 2. `SIGNAL_FISH_CONFIG_JSON`: an inline JSON document;
//! 3. standard input, when `SIGNAL_FISH_CONFIG_STDIN` is `1`, `true` or `yes`;
//! 4. one config file: `--config PATH`, else `SIGNAL_FISH_CONFIG_PATH`, else
//!    `config.json` in the working directory if it exists;
//! 5. `SIGNAL_FISH_*` environment overrides.
//!
//! JSON objects merge key by key; any other value replaces what was there (an env
//! variable naming a whole map, like `relay_types.game_relay_mappings`, replaces it). A value of
//! the wrong type, an unknown key or a rule broken is an error naming the key, the
//! value, what is accepted and the source; nothing falls back to defaults silently.

mod document;
mod env;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod schema;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_json::Value;
use signal_fish_core::Config;

use document::Document;
pub use env::{var_name, PREFIX as ENV_PREFIX, RESERVED as RESERVED_ENV};
pub use error::LoadError;

/// The file looked for in the working directory.
pub const DEFAULT_FILE: &str = "config.json";

/// Everything the loader reads, gathered up front so loading itself is a pure function.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `--config PATH` (must exist when given).
    pub config_path: Option<PathBuf>,
    /// Where relative paths and `config.json` are looked up.
    pub working_dir: PathBuf,
    /// The environment (only `SIGNAL_FISH_*` names are read).
    pub env: Vec<(String, String)>,
    /// Standard input's content, when `SIGNAL_FISH_CONFIG_STDIN` asked for it.
    pub stdin: Option<String>,
}

impl LoadOptions {
    /// Options from this process: its environment, working directory, and standard
    /// input if `SIGNAL_FISH_CONFIG_STDIN` is set to `1`, `true` or `yes`.
    pub fn from_process(config_path: Option<PathBuf>) -> Result<LoadOptions, LoadError> {
        let env: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let working_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let wants_stdin = env.iter().any(|(k, v)| {
            k == "SIGNAL_FISH_CONFIG_STDIN"
                && matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes")
        });
        let stdin = if wants_stdin {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|error| LoadError::Read { path: PathBuf::from("<stdin>"), error })?;
            Some(text)
        } else {
            None
        };
        Ok(LoadOptions { config_path, working_dir, env, stdin })
    }

    fn env_var(&self, name: &str) -> Option<&str> {
        self.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A loaded configuration and where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// The sources that contributed, in merge order (`defaults` first).
    pub sources: Vec<String>,
    /// Settings that are allowed but probably a mistake.
    pub warnings: Vec<String>,
}

impl Loaded {
    /// One line for the start-up log: `defaults + config file config.json + 2 env overrides`.
    pub fn describe(&self) -> String {
        self.sources.join(" + ")
    }
}

/// Loads and validates.
pub fn load(options: &LoadOptions) -> Result<Loaded, LoadError> {
    let (loaded, document) = assemble(options)?;
    let mut problems = loaded.config.validate().err().map(|e| e.0).unwrap_or_default();
    // The TLS files are read as the server would read them, so a bad file (or TLS in a
    // build without it) is reported here and by `--validate-config`, with its key.
    if let Err(tls) = crate::tls::acceptor(&loaded.config) {
        for problem in tls.0 {
            if !problems.iter().any(|p| p.key == problem.key) {
                problems.push(problem);
            }
        }
    }
    if !problems.is_empty() {
        let annotated = problems
            .into_iter()
            .map(|e| {
                let origin = document.origin_of(&e.key).map(str::to_owned);
                (e, origin)
            })
            .collect();
        return Err(LoadError::Invalid(annotated));
    }
    Ok(loaded)
}

/// Loads without the validation rules (for `--print-config`); types and keys are still
/// checked, since only a well-typed configuration can be printed.
pub fn load_unvalidated(options: &LoadOptions) -> Result<Loaded, LoadError> {
    assemble(options).map(|(loaded, _)| loaded)
}

/// The compiled defaults: the core's, except that a build with the original's feature
/// `legacy-fullmesh` serves the matchbox full-mesh port unless told not to
/// (`mesh.enabled = false`), so `cargo run --features legacy-fullmesh` behaves as the
/// original's (DECISIONS D50).
fn compiled_defaults() -> Config {
    #[allow(unused_mut)]
    let mut config = Config::default();
    #[cfg(feature = "legacy-fullmesh")]
    {
        config.mesh.enabled = true;
    }
    config
}

fn assemble(options: &LoadOptions) -> Result<(Loaded, Document), LoadError> {
    let defaults = serde_json::to_value(compiled_defaults()).expect("the default config serialises");
    let mut document = Document::new(defaults.clone());
    let mut sources = vec!["defaults".to_owned()];

    if let Some(inline) = options.env_var("SIGNAL_FISH_CONFIG_JSON") {
        merge_text(&mut document, inline, "SIGNAL_FISH_CONFIG_JSON", &mut sources)?;
    }
    if let Some(text) = &options.stdin {
        merge_text(&mut document, text, "standard input", &mut sources)?;
    }
    if let Some((path, shown)) = config_file(options) {
        let text =
            std::fs::read_to_string(&path).map_err(|error| LoadError::Read { path: shown.clone(), error })?;
        let label = format!("config file {}", shown.display());
        merge_text(&mut document, &text, &label, &mut sources)?;
    }

    let overrides = env::overrides(&options.env, &defaults)?;
    for o in &overrides {
        document.set(&o.path, o.value.clone(), &format!("environment variable {}", o.var), o.replace);
    }
    match overrides.len() {
        0 => {}
        1 => sources.push(format!("env {}", overrides[0].var)),
        n => sources.push(format!("{n} env overrides")),
    }

    let config: Config = serde_path_to_error::deserialize(document.root.clone()).map_err(|e| {
        let key = e.path().to_string();
        let message = error::friendly(&e.into_inner().to_string());
        LoadError::Type {
            value: document.value_at(&key).map(Value::to_string),
            source: document.origin_of(&key).map(str::to_owned),
            key,
            message,
        }
    })?;
    let warnings = config.warnings();
    Ok((Loaded { config, sources, warnings }, document))
}

/// The config file to read: (path to open, path to show).
fn config_file(options: &LoadOptions) -> Option<(PathBuf, PathBuf)> {
    let named = options
        .config_path
        .clone()
        .or_else(|| options.env_var("SIGNAL_FISH_CONFIG_PATH").filter(|p| !p.is_empty()).map(PathBuf::from));
    if let Some(path) = named {
        return Some((options.working_dir.join(&path), path));
    }
    let default = options.working_dir.join(DEFAULT_FILE);
    default.is_file().then(|| (default, Path::new(DEFAULT_FILE).to_path_buf()))
}

fn merge_text(
    document: &mut Document,
    text: &str,
    label: &str,
    sources: &mut Vec<String>,
) -> Result<(), LoadError> {
    if text.trim().is_empty() {
        return Ok(());
    }
    let parse_error = |message: String| LoadError::Parse { source: label.to_owned(), message };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => {
            document.merge(&map, label);
            sources.push(label.to_owned());
            Ok(())
        }
        Ok(_) => Err(parse_error("expected a JSON object at the top level".to_owned())),
        Err(e) => Err(parse_error(format!("invalid JSON: {e}"))),
    }
}
