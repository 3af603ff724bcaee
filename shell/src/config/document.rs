//! The configuration as a JSON document while it is being assembled: defaults, then
//! each source merged in, remembering which source set which key.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The merged document and the origin of every key a source set.
#[derive(Clone, Debug)]
pub(crate) struct Document {
    pub root: Value,
    /// Dotted key → label of the source that set it last.
    origins: BTreeMap<String, String>,
}

impl Document {
    pub(crate) fn new(defaults: Value) -> Document {
        Document { root: defaults, origins: BTreeMap::new() }
    }

    /// Merges an object into the document: objects key by key, anything else (numbers,
    /// strings, arrays, null) replaces the earlier value.
    pub(crate) fn merge(&mut self, source: &Map<String, Value>, label: &str) {
        let Value::Object(root) = &mut self.root else { unreachable!("the root is always an object") };
        merge_object(root, source, "", label, &mut self.origins);
    }

    /// Sets one key (creating missing objects on the way). An object value is merged
    /// into an existing object unless `replace` is set.
    pub(crate) fn set(&mut self, path: &[String], value: Value, label: &str, replace: bool) {
        let mut current = &mut self.root;
        for segment in &path[..path.len() - 1] {
            if !current.get(segment).is_some_and(Value::is_object) {
                current[segment.as_str()] = Value::Object(Map::new());
            }
            current = current.get_mut(segment.as_str()).expect("inserted above");
        }
        let last = path.last().expect("paths are never empty");
        match (current.get_mut(last.as_str()), value) {
            (Some(Value::Object(existing)), Value::Object(new)) if !replace => {
                let prefix = path.join(".");
                merge_object(existing, &new, &prefix, label, &mut self.origins);
            }
            (_, value) => {
                current[last.as_str()] = value;
                self.origins.insert(path.join("."), label.to_owned());
            }
        }
    }

    /// The source that set `key` or the nearest enclosing key, if any did.
    pub(crate) fn origin_of(&self, key: &str) -> Option<&str> {
        let mut key = key;
        loop {
            if let Some(label) = self.origins.get(key) {
                return Some(label);
            }
            let cut = key.rfind(['.', '['])?;
            key = &key[..cut];
        }
    }

    /// The value at a dotted key with `[i]` indexes (`security.authorized_apps[0].app_id`).
    pub(crate) fn value_at(&self, key: &str) -> Option<&Value> {
        let mut current = &self.root;
        for part in key.split('.') {
            let (name, indexes) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                current = current.get(name)?;
            }
            for index in indexes.split('[').filter(|s| !s.is_empty()) {
                let index: usize = index.trim_end_matches(']').parse().ok()?;
                current = current.get(index)?;
            }
        }
        Some(current)
    }
}

fn merge_object(
    target: &mut Map<String, Value>,
    source: &Map<String, Value>,
    prefix: &str,
    label: &str,
    origins: &mut BTreeMap<String, String>,
) {
    for (key, value) in source {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match (target.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                merge_object(existing, incoming, &path, label, origins);
            }
            _ => {
                target.insert(key.clone(), value.clone());
                origins.insert(path, label.to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merges_objects_and_replaces_everything_else() {
        let mut doc = Document::new(json!({"a": {"b": 1, "c": [1, 2]}, "d": "x"}));
        let source = json!({"a": {"c": [3]}, "d": null});
        doc.merge(source.as_object().unwrap(), "file f");
        assert_eq!(doc.root, json!({"a": {"b": 1, "c": [3]}, "d": null}));
        assert_eq!(doc.origin_of("a.c"), Some("file f"));
        assert_eq!(doc.origin_of("a.c[0]"), Some("file f"));
        assert_eq!(doc.origin_of("a.b"), None);
    }

    #[test]
    fn set_creates_and_tracks() {
        let mut doc = Document::new(json!({"m": {}}));
        doc.set(&["m".into(), "k".into()], json!("v"), "env X", false);
        assert_eq!(doc.value_at("m.k"), Some(&json!("v")));
        doc.set(&["m".into()], json!({"j": 1}), "env Y", false);
        assert_eq!(doc.root, json!({"m": {"k": "v", "j": 1}}));
        doc.set(&["m".into()], json!({"i": 2}), "env Z", true);
        assert_eq!(doc.root, json!({"m": {"i": 2}}));
        doc.set(&["m".into(), "k".into()], json!("v"), "env X", false);
        assert_eq!(doc.value_at("m.k"), Some(&json!("v")));
        assert_eq!(doc.origin_of("m.k"), Some("env X"));
        let doc = Document::new(json!({"list": [{"id": 7}]}));
        assert_eq!(doc.value_at("list[0].id"), Some(&json!(7)));
        assert_eq!(doc.value_at("list[3].id"), None);
    }
}
