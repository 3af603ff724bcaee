//! The six scenarios. Each validates its options, joins its clients, measures, and
//! returns a [`Summary`](crate::report::Summary).

pub mod fixed_rate;
pub mod idle;
pub mod join_storm;
pub mod mesh;
pub mod phases;
pub mod relay;
pub mod soak;

use std::time::Duration;

use crate::context::{RunContext, MAX_ROOMS};
use crate::error::BenchError;
use crate::net::check_fd_limit;

/// Most clients one run may open.
pub const MAX_CLIENTS: usize = 100_000;
/// Longest phase accepted (every loop of the tool is bounded by these).
pub const MAX_PHASE: Duration = Duration::from_secs(3600);
/// WebSocket read buffer of clients that receive a stream of game data. tungstenite
/// zero-fills the whole buffer before every read, so bigger costs the generator more.
pub const TRAFFIC_READ_BUFFER: usize = 8 * 1024;
/// WebSocket read buffer of clients that only join.
pub const QUIET_READ_BUFFER: usize = 4 * 1024;

/// Fails unless `min <= value <= max`, naming the option.
pub fn check_range<T: PartialOrd + std::fmt::Display>(
    option: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), BenchError> {
    if value < min || value > max {
        return Err(BenchError::new(format!("{option} {value}: must be between {min} and {max}")));
    }
    Ok(())
}

/// Fails unless `value` is at most [`MAX_PHASE`] (and, if `nonzero`, above zero).
pub fn check_phase(option: &str, value: Duration, nonzero: bool) -> Result<(), BenchError> {
    if value > MAX_PHASE || (nonzero && value.is_zero()) {
        let lower = if nonzero { "above 0" } else { "at least 0" };
        return Err(BenchError::new(format!(
            "{option} {}: must be {lower} and at most {} seconds",
            value.as_secs_f64(),
            MAX_PHASE.as_secs()
        )));
    }
    Ok(())
}

/// Checks what every scenario with `clients` clients in rooms of `room_size` needs.
pub fn check_population(ctx: &RunContext, clients: usize, room_size: u8) -> Result<(), BenchError> {
    check_range("--clients", clients, 1, MAX_CLIENTS)?;
    let rooms = clients.div_ceil(usize::from(room_size.max(1)));
    if rooms > MAX_ROOMS {
        return Err(BenchError::new(format!("{rooms} rooms: at most {MAX_ROOMS} rooms per run")));
    }
    ctx.sources.check_capacity(clients)?;
    check_fd_limit(clients)
}

/// The first human line of every run.
pub fn banner(ctx: &RunContext, scenario: &str, what: &str) -> String {
    format!(
        "{scenario}: {what} → {}://{}/v2/ws (sources 127.{}.0.0/16, {} per address, tag {})",
        crate::net::scheme(),
        ctx.server,
        ctx.sources.net(),
        ctx.sources.per_ip(),
        ctx.tag
    )
}
