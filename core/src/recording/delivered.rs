//! What a replay sent each connection, as its client received it: the frames in order
//! and the close. Frames the transport handed back as never written (`Backlogged`)
//! are taken off the end again, since they never reached the socket.

use std::collections::BTreeMap;

use crate::{Action, ConnId, Event, Outbound};

/// One connection's output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionOutput {
    /// Every frame written to it, in order.
    pub frames: Vec<Outbound>,
    /// The close code the engine closed it with, if it did.
    pub close: Option<u16>,
}

impl ConnectionOutput {
    /// Whether this (a replay's output) is what a client that `received` these frames
    /// was sent: exactly, when the server closed it (it read up to the close); else as
    /// a prefix (it stopped reading when it left, or the run ended first).
    pub fn accounts_for(&self, received: &ConnectionOutput) -> bool {
        match received.close {
            Some(_) => self == received,
            None => self.frames.starts_with(&received.frames),
        }
    }
}

/// Collects [`ConnectionOutput`]s from replayed steps ([`Delivered::observe`]).
#[derive(Clone, Debug, Default)]
pub struct Delivered {
    opened: Vec<ConnId>,
    conns: BTreeMap<ConnId, ConnectionOutput>,
}

impl Delivered {
    /// Takes in one replayed step: its event and its actions.
    pub fn observe(&mut self, event: &Event, actions: &[Action]) {
        match event {
            Event::Opened { conn, .. } => self.opened.push(*conn),
            Event::Backlogged { conn, unsent } => {
                let frames = &mut self.conns.entry(*conn).or_default().frames;
                frames.truncate(frames.len().saturating_sub(unsent.len()));
            }
            _ => {}
        }
        for action in actions {
            match action {
                Action::Send { conn, message } => {
                    self.conns.entry(*conn).or_default().frames.push(message.clone())
                }
                Action::Close { conn, code, .. } => self.conns.entry(*conn).or_default().close = Some(*code),
                Action::Http(_) | Action::Query { .. } | Action::Publish(_) | Action::ToNode { .. } => {}
            }
        }
    }

    /// The connections opened during the replay, in order.
    pub fn opened(&self) -> &[ConnId] {
        &self.opened
    }

    /// What `conn` was sent (connections opened before the replay began included).
    pub fn output(&self, conn: ConnId) -> Option<&ConnectionOutput> {
        self.conns.get(&conn)
    }

    /// Every connection with output, by id.
    pub fn outputs(&self) -> &BTreeMap<ConnId, ConnectionOutput> {
        &self.conns
    }

    /// The output of each connection opened during the replay, in the order they opened.
    pub fn in_open_order(&self) -> Vec<ConnectionOutput> {
        self.opened.iter().map(|conn| self.conns.get(conn).cloned().unwrap_or_default()).collect()
    }
}
