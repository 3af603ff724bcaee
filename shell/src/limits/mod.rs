//! What one client may cost the server before the engine hears of it: the transport
//! limits (`transport.rs`), and the bookkeeping that enforces them across connections:
//! each connection's share of the driver's inbox (`credit.rs`), the connections waiting
//! for a request head (`pending.rs`), and the server-wide budget for unfinished messages
//! (`unfinished.rs`).

pub(crate) mod credit;
pub(crate) mod pending;
mod transport;
pub(crate) mod unfinished;

pub use transport::TransportLimits;
