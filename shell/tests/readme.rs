//! The README's configuration table lists every key with its real default and its
//! environment variable (so the documentation cannot drift from the code).

use serde_json::Value;
use signal_fish_server::config::var_name;
use signal_fish_server::Config;

fn leaves(value: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    let is_map =
        prefix.starts_with("protocol.sdk_compatibility.") || prefix == "relay_types.game_relay_mappings";
    match value {
        Value::Object(map) if !map.is_empty() && !is_map => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaves(v, &key, out);
            }
        }
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

#[test]
fn the_config_table_covers_every_key_with_its_default_and_env_name() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let mut keys = Vec::new();
    leaves(&serde_json::to_value(Config::default()).unwrap(), "", &mut keys);
    for (key, default) in &keys {
        let row = format!("| `{key}` | `{default}` | `{}` |", var_name(key));
        assert!(readme.contains(&row), "README lacks the row starting {row}");
    }
    assert!(readme.contains(&format!("Every key ({} of them)", keys.len())));
}

#[test]
fn the_quick_start_and_test_command_are_there() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    for needle in ["cargo run --release", "cargo test --workspace", "ws://localhost:3536/v2/ws", "/v2/health"]
    {
        assert!(readme.contains(needle), "README lacks {needle}");
    }
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci/run")).unwrap();
    assert!(ci.contains("cargo test --workspace"), "CI must run the README's test command");
}

#[test]
fn the_proxy_snippets_are_the_configurations_the_tests_run() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    assert!(readme.contains("## Deploying behind a proxy"));
    for snippet in [include_str!("proxies/nginx.conf"), include_str!("proxies/haproxy.cfg")] {
        assert!(readme.contains(&format!("\n{snippet}```\n")), "README lacks the snippet:\n{snippet}");
    }
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci/run")).unwrap();
    assert!(ci.contains("apt-get install -y nginx haproxy"), "CI must install the proxies the tests run");
}
