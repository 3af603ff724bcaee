//! What a scenario runs against. The simulator implements everything; a real-socket
//! backend implements what a client on the network can do (no time travel, no state
//! peeking), so the same transcript checks both.

use std::net::IpAddr;
use std::time::Duration;

use signal_fish_core::Endpoint;

use crate::observe::Observation;
use crate::sim::{RuleBreak, Sim, Trace};

/// A server to run scenario commands against.
pub trait Backend {
    /// Opens a WebSocket connection on `endpoint` (`/v2/ws`, or the mesh port).
    fn connect(&mut self, name: &str, ip: IpAddr, target: &str, endpoint: Endpoint) -> Result<(), String>;
    /// Sends a text frame.
    fn text(&mut self, name: &str, text: &str) -> Result<(), String>;
    /// Sends a binary frame.
    fn binary(&mut self, name: &str, data: Vec<u8>) -> Result<(), String>;
    /// Sends a WebSocket Pong frame.
    fn pong(&mut self, name: &str) -> Result<(), String>;
    /// Closes cleanly from the client side.
    fn close(&mut self, name: &str) -> Result<(), String>;
    /// Drops the connection abruptly.
    fn drop_conn(&mut self, name: &str) -> Result<(), String>;
    /// The client stops reading: frames for it are held by its writer.
    fn stall(&mut self, name: &str) -> Result<(), String>;
    /// Reports the connection's writer as backed up.
    fn backlog(&mut self, name: &str) -> Result<(), String>;
    /// Sends an HTTP request.
    fn http(&mut self, method: &str, target: &str, headers: Vec<(String, String)>) -> Result<(), String>;
    /// Moves virtual time forward.
    fn advance(&mut self, by: Duration) -> Result<(), String>;
    /// Jumps to the next deadline.
    fn advance_next(&mut self) -> Result<(), String>;
    /// Lets time run until everything pending has played out.
    fn stabilize(&mut self) -> Result<(), String>;
    /// Shuts the server down.
    fn shutdown(&mut self) -> Result<(), String>;
    /// Reports a summary of the server's state.
    fn state(&mut self) -> Result<(), String>;
    /// Everything observed since the last call, once all effects of the inputs so far
    /// have arrived.
    fn settle(&mut self) -> Vec<Observation>;
    /// Rules the server broke so far (the simulator's checks).
    fn violations(&self) -> Vec<RuleBreak>;
}

/// The simulator as a scenario backend.
pub struct SimBackend {
    /// The simulator.
    pub sim: Sim,
}

impl SimBackend {
    /// The trace of the run so far.
    pub fn trace(&self) -> &Trace {
        self.sim.trace()
    }
}

impl Backend for SimBackend {
    fn connect(&mut self, name: &str, ip: IpAddr, target: &str, endpoint: Endpoint) -> Result<(), String> {
        self.sim.connect_on(name, ip, target, endpoint).map_err(|e| e.0)
    }
    fn text(&mut self, name: &str, text: &str) -> Result<(), String> {
        self.sim.text(name, text).map_err(|e| e.0)
    }
    fn binary(&mut self, name: &str, data: Vec<u8>) -> Result<(), String> {
        self.sim.binary(name, data).map_err(|e| e.0)
    }
    fn pong(&mut self, name: &str) -> Result<(), String> {
        self.sim.pong(name).map_err(|e| e.0)
    }
    fn close(&mut self, name: &str) -> Result<(), String> {
        self.sim.close(name).map_err(|e| e.0)
    }
    fn drop_conn(&mut self, name: &str) -> Result<(), String> {
        self.sim.drop_conn(name).map_err(|e| e.0)
    }
    fn stall(&mut self, name: &str) -> Result<(), String> {
        self.sim.stall(name).map_err(|e| e.0)
    }
    fn backlog(&mut self, name: &str) -> Result<(), String> {
        self.sim.backlog(name).map_err(|e| e.0)
    }
    fn http(&mut self, method: &str, target: &str, headers: Vec<(String, String)>) -> Result<(), String> {
        self.sim.http(method, target, headers);
        Ok(())
    }
    fn advance(&mut self, by: Duration) -> Result<(), String> {
        self.sim.advance(by);
        Ok(())
    }
    fn advance_next(&mut self) -> Result<(), String> {
        self.sim.advance_to_next_deadline();
        Ok(())
    }
    fn stabilize(&mut self) -> Result<(), String> {
        self.sim.stabilize();
        Ok(())
    }
    fn shutdown(&mut self) -> Result<(), String> {
        self.sim.shutdown();
        Ok(())
    }
    fn state(&mut self) -> Result<(), String> {
        self.sim.observe_state();
        Ok(())
    }
    fn settle(&mut self) -> Vec<Observation> {
        self.sim.take_observations()
    }
    fn violations(&self) -> Vec<RuleBreak> {
        self.sim.violations().to_vec()
    }
}
