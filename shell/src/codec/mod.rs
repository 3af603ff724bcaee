//! WebSocket framing after the upgrade (RFC 6455 §5, server side): decoding masked
//! client frames into messages and encoding the server's frames.
//!
//! The handshake is done by hand in `websocket`; the framing is done here, on the TCP
//! stream directly, so that a connection keeps no read buffer of its own (reads go
//! through one scratch buffer per thread), payloads are unmasked straight into the
//! event's string, and a batch of frames is encoded into one buffer for one write.

mod decode;
mod encode;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod mask;

#[cfg(test)]
pub(crate) use decode::Fault;
pub(crate) use decode::{DecodeError, Decoder, Message};
pub(crate) use encode::{close, data_frame, pong};
