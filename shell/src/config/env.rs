//! `SIGNAL_FISH_*` environment overrides (DECISIONS D2).
//!
//! `SIGNAL_FISH_PORT`, `SIGNAL_FISH_SERVER__DEFAULT_MAX_PLAYERS`: the prefix, then the key
//! path with `__` between nested keys, in any case. The original binary's spelling with
//! two underscores after the prefix (`SIGNAL_FISH__SERVER__…`) means the same. Values
//! are parsed as the type the key expects; a comma splits a value only for list keys.

use serde_json::Value;

use super::error::LoadError;
use super::schema::{resolve, Kind};

/// Every override variable starts with this.
pub const PREFIX: &str = "SIGNAL_FISH_";

/// Names with the prefix that are not configuration keys.
pub const RESERVED: &[&str] = &[
    "SIGNAL_FISH_CONFIG_PATH",
    "SIGNAL_FISH_CONFIG_JSON",
    "SIGNAL_FISH_CONFIG_STDIN",
    "SIGNAL_FISH_ENVIRONMENT",
    "SIGNAL_FISH__ENVIRONMENT",
    "SIGNAL_FISH_PRODUCTION",
];

/// One override, ready to apply.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Override {
    /// The variable's name.
    pub var: String,
    /// The key path.
    pub path: Vec<String>,
    /// The typed value.
    pub value: Value,
    /// Whether the value replaces the key's object instead of merging into it (maps
    /// set whole: `SIGNAL_FISH_RELAY_TYPES__GAME_RELAY_MAPPINGS={"chess":"mirror"}`).
    pub replace: bool,
}

/// The env var name for a dotted key, in the seed's spelling.
pub fn var_name(key: &str) -> String {
    format!("{PREFIX}{}", key.replace('.', "__").to_ascii_uppercase())
}

/// Reads every override from `env`, sorted by variable name. Variables outside the
/// prefix and reserved names are ignored; anything else must name a key and carry a
/// value of its type.
pub(crate) fn overrides(env: &[(String, String)], defaults: &Value) -> Result<Vec<Override>, LoadError> {
    let mut vars: Vec<&(String, String)> = env
        .iter()
        .filter(|(name, _)| name.starts_with(PREFIX) && !RESERVED.contains(&name.as_str()))
        .collect();
    vars.sort();
    let mut out: Vec<Override> = Vec::with_capacity(vars.len());
    for (var, raw) in vars {
        let rest = &var[PREFIX.len()..];
        let rest = rest.strip_prefix('_').unwrap_or(rest);
        let path: Vec<String> =
            rest.split("__").filter(|s| !s.is_empty()).map(|s| s.to_ascii_lowercase()).collect();
        let env_error = |message: String| LoadError::Env { var: var.clone(), value: raw.clone(), message };
        if path.is_empty() {
            return Err(env_error("names no configuration key".to_owned()));
        }
        let kind = resolve(defaults, &path).map_err(|unknown| {
            let mut message = format!("`{}` is not a configuration key", unknown.key);
            if !unknown.accepted.is_empty() {
                let scope = if unknown.parent.is_empty() {
                    "top-level keys".to_owned()
                } else {
                    format!("keys of `{}`", unknown.parent)
                };
                message.push_str(&format!("; {scope}: {}", unknown.accepted.join(", ")));
            } else if !unknown.parent.is_empty() {
                message.push_str(&format!("; `{}` has no sub-keys", unknown.parent));
            }
            env_error(message)
        })?;
        let value = parse(kind, raw)
            .map_err(|expected| env_error(format!("`{}` expects {expected}", path.join("."))))?;
        if let Some(earlier) = out.iter().find(|o| o.path == path) {
            if earlier.value != value {
                return Err(env_error(format!(
                    "`{}` is also set by {} to a different value; set it once",
                    path.join("."),
                    earlier.var
                )));
            }
            continue;
        }
        let replace = matches!(kind, Kind::Map(_));
        out.push(Override { var: var.clone(), path, value, replace });
    }
    Ok(out)
}

/// Parses an env value as `kind`; the error says what is accepted.
fn parse(kind: Kind, raw: &str) -> Result<Value, String> {
    let text = raw.trim();
    match kind {
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err("true or false (also 1/0, yes/no, on/off)".to_owned()),
        },
        Kind::Integer => {
            text.parse::<u64>().map(Value::from).map_err(|_| "a non-negative integer".to_owned())
        }
        Kind::String => Ok(Value::String(text.to_owned())),
        Kind::OptionalInteger => {
            if text.is_empty() || text == "null" {
                Ok(Value::Null)
            } else {
                text.parse::<u64>().map(Value::from).map_err(|_| "a non-negative integer, or null".to_owned())
            }
        }
        Kind::OptionalString => {
            if text.is_empty() || text == "null" {
                Ok(Value::Null)
            } else {
                Ok(Value::String(text.to_owned()))
            }
        }
        Kind::StringList => {
            if text.starts_with('[') {
                let list: Vec<String> = serde_json::from_str(text)
                    .map_err(|e| format!("a comma-separated list or a JSON array of strings ({e})"))?;
                return Ok(Value::from(list));
            }
            Ok(Value::Array(
                text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Value::from).collect(),
            ))
        }
        Kind::Section | Kind::Map(_) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(Value::Object(map)),
            _ => Err("a JSON object".to_owned()),
        },
        Kind::Json => match serde_json::from_str::<Value>(text) {
            Ok(value @ Value::Array(_)) => Ok(value),
            _ => Err("a JSON array of objects".to_owned()),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use signal_fish_core::Config;

    use super::*;

    fn run(vars: &[(&str, &str)]) -> Result<Vec<Override>, LoadError> {
        let env: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        overrides(&env, &serde_json::to_value(Config::default()).unwrap())
    }

    #[test]
    fn both_spellings_reach_the_same_key() {
        let got = run(&[("SIGNAL_FISH_PORT", "4000"), ("SIGNAL_FISH__SERVER__PING_TIMEOUT", "12")]).unwrap();
        assert_eq!(got[0].path, ["port"]);
        assert_eq!(got[0].value, json!(4000));
        assert_eq!(got[1].path, ["server", "ping_timeout"]);
        assert_eq!(got[1].value, json!(12));
    }

    #[test]
    fn values_follow_the_key_type() {
        let got = run(&[
            ("SIGNAL_FISH_SECURITY__CORS_ORIGINS", "http://a.example,http://b.example"),
            ("SIGNAL_FISH_PROTOCOL__PLAYER_NAME_VALIDATION__ALLOWED_SYMBOLS", "-, _ ,!"),
            ("SIGNAL_FISH_SERVER__REGION_ID", "123"),
            ("SIGNAL_FISH_SECURITY__METRICS_AUTH_TOKEN", ""),
            ("SIGNAL_FISH_SERVER__ENABLE_RECONNECTION", "FALSE"),
        ])
        .unwrap();
        let value = |var: &str| got.iter().find(|o| o.var == var).unwrap().value.clone();
        assert_eq!(value("SIGNAL_FISH_SECURITY__CORS_ORIGINS"), json!("http://a.example,http://b.example"));
        assert_eq!(
            value("SIGNAL_FISH_PROTOCOL__PLAYER_NAME_VALIDATION__ALLOWED_SYMBOLS"),
            json!(["-", "_", "!"])
        );
        assert_eq!(value("SIGNAL_FISH_SERVER__REGION_ID"), json!("123"));
        assert_eq!(value("SIGNAL_FISH_SECURITY__METRICS_AUTH_TOKEN"), Value::Null);
        assert_eq!(value("SIGNAL_FISH_SERVER__ENABLE_RECONNECTION"), json!(false));
    }

    #[test]
    fn reserved_and_foreign_names_are_not_keys() {
        let got = run(&[("SIGNAL_FISH_CONFIG_PATH", "/x"), ("PATH", "/bin"), ("SIGNAL_FISHY", "1")]).unwrap();
        assert!(got.is_empty());
    }

    #[test]
    fn errors_name_variable_key_and_accepted_values() {
        let err = run(&[("SIGNAL_FISH_SERVER__PING_TIMEOUT", "soon")]).unwrap_err().to_string();
        assert!(err.contains("SIGNAL_FISH_SERVER__PING_TIMEOUT") && err.contains("\"soon\""), "{err}");
        assert!(err.contains("server.ping_timeout") && err.contains("non-negative integer"), "{err}");
        let err = run(&[("SIGNAL_FISH_SERVER__PING_TIMOUT", "5")]).unwrap_err().to_string();
        assert!(err.contains("server.ping_timout") && err.contains("ping_timeout"), "{err}");
        let err = run(&[("SIGNAL_FISH_WEBSOCKET__ENABLE_BATCHING", "maybe")]).unwrap_err().to_string();
        assert!(err.contains("true or false"), "{err}");
        let err = run(&[("SIGNAL_FISH_PORT", "1"), ("SIGNAL_FISH__PORT", "2")]).unwrap_err().to_string();
        assert!(err.contains("set it once"), "{err}");
    }
}
