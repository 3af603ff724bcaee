//! What type each configuration key has, read off the defaults document, so an
//! environment value can be parsed as the type its key expects (DECISIONS D2).

use serde_json::Value;

/// The type of a configuration key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `true` / `false`.
    Bool,
    /// A non-negative integer (the exact range is checked when the document is typed).
    Integer,
    /// A string (enum names included).
    String,
    /// A string or null.
    OptionalString,
    /// An integer or null (`mesh.port`).
    OptionalInteger,
    /// A list of strings.
    StringList,
    /// A section (JSON object with fixed keys).
    Section,
    /// A map from free names to values of one kind.
    Map(MapValue),
    /// A value only written as JSON (`security.authorized_apps`).
    Json,
}

/// The value type of a map-valued key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MapValue {
    /// Name → string.
    String,
    /// Name → list of strings.
    StringList,
}

impl MapValue {
    fn kind(self) -> Kind {
        match self {
            MapValue::String => Kind::String,
            MapValue::StringList => Kind::StringList,
        }
    }
}

/// Keys whose children are free names rather than fixed keys.
const MAPS: &[(&str, MapValue)] = &[
    ("protocol.sdk_compatibility.minimum_versions", MapValue::String),
    ("protocol.sdk_compatibility.recommended_versions", MapValue::String),
    ("protocol.sdk_compatibility.capabilities", MapValue::StringList),
    ("protocol.sdk_compatibility.notes", MapValue::String),
    ("relay_types.game_relay_mappings", MapValue::String),
];

/// Keys whose default is null but whose value is an integer: the defaults document
/// cannot tell them from optional strings.
const OPTIONAL_INTEGERS: &[&str] = &["mesh.port"];

/// Lists of objects: only settable as a JSON array.
const JSON_ONLY: &[&str] = &["security.authorized_apps"];

fn map_value(key: &str) -> Option<MapValue> {
    MAPS.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A path that names no key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnknownKey {
    /// The dotted path asked for.
    pub key: String,
    /// The enclosing key (empty for the top level).
    pub parent: String,
    /// The keys the parent has (empty if it is not a section).
    pub accepted: Vec<String>,
}

/// The kind of the key at `path`, or why there is none.
pub(crate) fn resolve(defaults: &Value, path: &[String]) -> Result<Kind, UnknownKey> {
    let mut current = defaults;
    let mut dotted = String::new();
    for (i, segment) in path.iter().enumerate() {
        if let Some(value) = map_value(&dotted) {
            // A map entry is a leaf: `relay_types.game_relay_mappings.<game>`.
            if i + 1 == path.len() {
                return Ok(value.kind());
            }
            return Err(unknown(path, &dotted, current));
        }
        match current.get(segment.as_str()) {
            Some(next) => current = next,
            None => return Err(unknown(path, &dotted, current)),
        }
        if !dotted.is_empty() {
            dotted.push('.');
        }
        dotted.push_str(segment);
    }
    if JSON_ONLY.contains(&dotted.as_str()) {
        return Ok(Kind::Json);
    }
    if let Some(value) = map_value(&dotted) {
        return Ok(Kind::Map(value));
    }
    Ok(match current {
        Value::Bool(_) => Kind::Bool,
        Value::Number(_) => Kind::Integer,
        Value::String(_) => Kind::String,
        Value::Null if OPTIONAL_INTEGERS.contains(&dotted.as_str()) => Kind::OptionalInteger,
        Value::Null => Kind::OptionalString,
        Value::Array(_) => Kind::StringList,
        Value::Object(_) => Kind::Section,
    })
}

fn unknown(path: &[String], parent: &str, at: &Value) -> UnknownKey {
    let accepted = match at {
        Value::Object(map) if map_value(parent).is_none() => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    UnknownKey { key: path.join("."), parent: parent.to_owned(), accepted }
}

#[cfg(test)]
mod tests {
    use signal_fish_core::Config;

    use super::*;

    fn kind(key: &str) -> Result<Kind, UnknownKey> {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        resolve(&defaults, &path)
    }

    #[test]
    fn kinds_of_keys() {
        assert_eq!(kind("port"), Ok(Kind::Integer));
        assert_eq!(kind("server.enable_reconnection"), Ok(Kind::Bool));
        assert_eq!(kind("security.cors_origins"), Ok(Kind::String));
        assert_eq!(kind("security.metrics_auth_token"), Ok(Kind::OptionalString));
        assert_eq!(kind("mesh.port"), Ok(Kind::OptionalInteger));
        assert_eq!(kind("mesh.enabled"), Ok(Kind::Bool));
        assert_eq!(kind("logging.format"), Ok(Kind::String));
        assert_eq!(kind("protocol.player_name_validation.allowed_symbols"), Ok(Kind::StringList));
        assert_eq!(kind("security.authorized_apps"), Ok(Kind::Json));
        assert_eq!(kind("server"), Ok(Kind::Section));
        assert_eq!(kind("relay_types.game_relay_mappings"), Ok(Kind::Map(MapValue::String)));
        assert_eq!(kind("relay_types.game_relay_mappings.chess"), Ok(Kind::String));
        assert_eq!(kind("protocol.sdk_compatibility.capabilities._default"), Ok(Kind::StringList));
    }

    #[test]
    fn unknown_keys_list_their_siblings() {
        let err = kind("server.ping_timout").unwrap_err();
        assert_eq!(err.parent, "server");
        assert!(err.accepted.contains(&"ping_timeout".to_owned()));
        let err = kind("port.x").unwrap_err();
        assert!(err.accepted.is_empty());
        assert!(kind("relay_types.game_relay_mappings.a.b").is_err());
    }
}
