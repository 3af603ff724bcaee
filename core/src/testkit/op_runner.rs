//! Runs [`Op`]s straight against a [`VirtualHost`]: what the fuzz target and the core
//! property and determinism tests use. (The swarm resolves the same ops with the same
//! [`Clients`] but runs them as scenario command lines in the simulator, so a failing
//! seed can be written as a `.scn` file.)

use std::time::Duration;

use bytes::Bytes;

use super::clients::Clients;
use super::input::{connect_target, Input};
use super::op::Op;
use super::virtual_host::VirtualHost;
use crate::http::HttpRequest;
use crate::metrics::HostReport;
use crate::{Action, CloseCause, ConnId, Endpoint, Engine, Event, Instant};

/// Clients and an engine on a virtual clock, driven by [`Op`]s.
pub struct OpRunner {
    host: VirtualHost,
    clients: Clients,
    next_http: u64,
}

impl OpRunner {
    /// Runs ops against `engine`, whose clock starts at `start`.
    pub fn new(engine: Engine, start: Instant) -> OpRunner {
        let clients = Clients::new(engine.config());
        OpRunner { host: VirtualHost::new(engine, start), clients, next_http: 1 }
    }

    /// A runner in this one's state (host and clients) running `engine` instead: see
    /// [`VirtualHost::fork`].
    pub fn fork(&self, engine: Engine) -> OpRunner {
        OpRunner { host: self.host.fork(engine), clients: self.clients.clone(), next_http: self.next_http }
    }

    /// The host (engine, clock, broken rules).
    pub fn host(&self) -> &VirtualHost {
        &self.host
    }

    /// The host, to set an observer on it ([`VirtualHost::observe`]).
    pub fn host_mut(&mut self) -> &mut VirtualHost {
        &mut self.host
    }

    /// The connection of client `index` (clients connect in index order).
    pub fn conn_of(index: usize) -> ConnId {
        ConnId(index as u64 + 1)
    }

    /// Resolves and runs `op`; returns every action clients saw (ticks' included), in
    /// order. An op that cannot apply now does nothing.
    pub fn apply(&mut self, op: &Op) -> Vec<Action> {
        let Some(input) = self.clients.resolve(op) else { return Vec::new() };
        let mut seen = Vec::new();
        let host = &mut self.host;
        match input {
            Input::Connect { client, ip, opt_in, v3 } => {
                let target = connect_target(opt_in, v3);
                let peer_ip = ip.parse().expect("workload addresses are valid");
                seen = host.step(Event::Opened {
                    conn: Self::conn_of(client),
                    peer_ip,
                    target: target.to_owned(),
                    endpoint: Endpoint::V2,
                });
            }
            Input::Text { client, text } => {
                seen = host.step(Event::Text { conn: Self::conn_of(client), text })
            }
            Input::MsgPackSeq { client, seq } => {
                let data = rmp_serde::to_vec_named(&serde_json::json!({ "seq": seq })).expect("encodes");
                seen = host.step(Event::Binary { conn: Self::conn_of(client), data: Bytes::from(data) });
            }
            Input::Binary { client, data } => {
                seen = host.step(Event::Binary { conn: Self::conn_of(client), data: Bytes::from(data) })
            }
            Input::Pong { client } => seen = host.step(Event::PongFrame { conn: Self::conn_of(client) }),
            Input::Close { client } => {
                seen = host.client_gone(Self::conn_of(client), CloseCause::ClientClosed)
            }
            Input::Drop { client } => {
                seen = host.client_gone(Self::conn_of(client), CloseCause::TransportError)
            }
            Input::Stall { client } => host.stall(Self::conn_of(client)),
            Input::Backlog { client } => seen = host.backlog(Self::conn_of(client)),
            Input::Http { method, target, host: figures } => {
                let mut request = HttpRequest::get(self.next_http, target);
                self.next_http += 1;
                method.clone_into(&mut request.method);
                if figures != 0 {
                    request.host = Box::new(host_report(figures));
                }
                seen = host.step(Event::Http(request));
            }
            Input::Advance(by) => host.advance_by(by, &mut |_, actions| seen.extend(actions)),
            Input::AdvanceNext => host.advance_to_next_deadline(&mut |_, actions| seen.extend(actions)),
        }
        for action in &seen {
            match action {
                Action::Send { conn, message: frame } => {
                    self.clients.observe_message(client_of(*conn), frame)
                }
                Action::Close { conn, .. } => self.clients.observe_close(client_of(*conn)),
                Action::Http(_) | Action::Query { .. } | Action::Publish(_) | Action::ToNode { .. } => {}
            }
        }
        seen
    }

    /// The first problem so far: a broken host rule, a client's finding, or clients and
    /// engine disagreeing on membership.
    pub fn check(&mut self) -> Result<(), String> {
        if let Some(rule_break) = self.host.rule_breaks().first() {
            return Err(rule_break.to_string());
        }
        if let Some(problem) = self.clients.take_problems().into_iter().next() {
            return Err(problem);
        }
        self.clients.check_membership(self.host.engine(), &|i| Some(Self::conn_of(i)))
    }
}

fn client_of(conn: ConnId) -> usize {
    usize::try_from(conn.0 - 1).expect("client connections are numbered from 1")
}

/// Host figures derived from `seed`: a few step latencies and transport byte counts.
pub fn host_report(seed: u16) -> HostReport {
    let mut report = HostReport::default();
    for i in 0..u64::from(seed % 7) {
        report.step_latency.record(Duration::from_micros(u64::from(seed) * (i + 1)));
    }
    report.transport.bytes_read_total = u64::from(seed) * 3;
    report.transport.bytes_written_total = u64::from(seed) * 5;
    report.transport.outbound_queue_bytes = u64::from(seed % 100);
    report
}
