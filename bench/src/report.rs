//! What a run prints: human-readable lines, then one JSON summary line.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::join::JoinOutcome;
use crate::traffic::TrafficReport;

/// A finished run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Lines for people.
    pub human: Vec<String>,
    /// The JSON summary (one object).
    pub json: Value,
}

impl Summary {
    /// The human lines, then the JSON summary on one line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.human {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&self.json.to_string());
        out.push('\n');
        out
    }

    /// Adds `key: value` to the JSON object.
    pub fn set(&mut self, key: &str, value: Value) {
        if let Some(object) = self.json.as_object_mut() {
            object.insert(key.to_owned(), value);
        }
    }
}

/// `count / secs`, rounded to one decimal (None without time).
pub fn rate(count: f64, secs: Option<f64>) -> Option<f64> {
    secs.filter(|s| *s > 0.0).map(|s| round1(count / s))
}

/// Rounded to one decimal.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A figure or `n/a` (no server process measured).
pub fn figure(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a (no --server-pid)".to_owned(), |v| format!("{v:.0}"))
}

/// `{"CODE": n, …}`.
pub fn counts(map: &BTreeMap<String, u64>) -> Value {
    Value::Object(map.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>())
}

/// `CODE×n, …` or `none`.
pub fn counts_human(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter().map(|(k, v)| format!("{k}×{v}")).collect::<Vec<_>>().join(", ")
}

/// Adds the join-phase fields every scenario reports.
pub fn join_fields(join: &JoinOutcome, into: &mut Summary) {
    into.set("joined", json!(join.joined));
    into.set("join_failed", json!(join.failed()));
    into.set("join_failures", counts(&join.failures));
}

/// JSON and human lines for a traffic phase (relay and fixed-rate).
pub fn traffic(report: &TrafficReport, into: &mut Summary) {
    let secs = Some(report.measured_secs);
    let cpu = report.usage.server;
    let fields = json!({
        "rooms_active": report.rooms,
        "clients_active": report.clients,
        "measured_secs": (report.measured_secs * 1000.0).round() / 1000.0,
        "messages": report.messages,
        "deliveries": report.deliveries,
        "messages_per_sec": rate(report.messages as f64, secs),
        "deliveries_per_sec": rate(report.deliveries as f64, secs),
        "messages_per_server_cpu_sec": rate(report.messages as f64, cpu),
        "deliveries_per_server_cpu_sec": rate(report.deliveries as f64, cpu),
        "latency": report.latency.to_json(),
        "messages_total": report.messages_total,
        "deliveries_total": report.deliveries_total,
        "deliveries_expected": report.deliveries_expected,
        "lost": report.anomalies.lost,
        "duplicated": report.anomalies.duplicated,
        "reordered": report.anomalies.reordered,
        "senders_with_anomalies": report.anomalous_sender_count,
        "per_sender_anomalies": report.anomalous_senders.iter().map(|s| json!({
            "sender": s.sender,
            "lost": s.anomalies.lost,
            "duplicated": s.anomalies.duplicated,
            "reordered": s.anomalies.reordered,
        })).collect::<Vec<_>>(),
        "events": counts(&report.events),
        "drained": report.drained,
    });
    // The cost model at a glance: per inbound message (its deliveries included) and per
    // delivery.
    let (per_message, message_line) = report.usage.cost_per("message", report.messages);
    let (per_delivery, delivery_line) = report.usage.cost_per("delivery", report.deliveries);
    for fields in [fields, report.usage.to_json(), per_message, per_delivery] {
        if let (Some(target), Value::Object(extra)) = (into.json.as_object_mut(), fields) {
            target.extend(extra);
        }
    }
    let h = &mut into.human;
    h.push(format!(
        "measured {:.2} s on {} clients in {} rooms",
        report.measured_secs, report.clients, report.rooms
    ));
    h.push(format!(
        "messages   {:>12}  {:>12}/s  {:>12} per server CPU-second",
        report.messages,
        figure(rate(report.messages as f64, secs)),
        figure(rate(report.messages as f64, cpu))
    ));
    h.push(format!(
        "deliveries {:>12}  {:>12}/s  {:>12} per server CPU-second",
        report.deliveries,
        figure(rate(report.deliveries as f64, secs)),
        figure(rate(report.deliveries as f64, cpu))
    ));
    h.push(report.usage.human());
    h.extend(message_line);
    h.extend(delivery_line);
    h.extend(report.usage.cautions());
    h.push(format!("latency send→receive: {}", report.latency.human()));
    h.push(format!(
        "deliveries: {} of {} owed; lost {}, duplicated {}, reordered {}{}",
        report.deliveries_total,
        report.deliveries_expected,
        report.anomalies.lost,
        report.anomalies.duplicated,
        report.anomalies.reordered,
        if report.drained { "" } else { " (drain timed out)" }
    ));
    for s in report.anomalous_senders.iter().take(10) {
        h.push(format!(
            "  sender {}: lost {}, duplicated {}, reordered {}",
            s.sender, s.anomalies.lost, s.anomalies.duplicated, s.anomalies.reordered
        ));
    }
    if report.anomalous_sender_count > 10 {
        h.push(format!("  … {} senders with anomalies in all", report.anomalous_sender_count));
    }
    if !report.events.is_empty() {
        h.push(format!("unexpected: {}", counts_human(&report.events)));
    }
}
