//! Which close code answers which client fault at the WebSocket layer (RFC 6455 §7.4.1).
//! The engine never sees these frames; the shell closes the connection itself and tells
//! the engine why it ended.

use async_tungstenite::tungstenite::error::ProtocolError;
use async_tungstenite::tungstenite::Error as WsError;
use signal_fish_core::CloseCause;

/// A read error the client caused, and how to answer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    /// The close code sent to the client.
    pub code: u16,
    /// The close reason sent to the client.
    pub reason: &'static str,
    /// What the engine is told.
    pub cause: CloseCause,
}

/// The answer to a read error, or `None` when the error is not the client breaking the
/// protocol (the socket failed or was closed; there is nobody to send a close frame to).
pub(crate) fn classify(error: &WsError) -> Option<Violation> {
    let violation = |code, reason, cause| Some(Violation { code, reason, cause });
    match error {
        // Above the transport's hard cap (DESIGN: transport limits).
        WsError::Capacity(_) => violation(1009, "message too big", CloseCause::FrameTooLarge),
        // Text that is not UTF-8 (in a text message or a close reason).
        WsError::Utf8(_) => violation(1007, "invalid UTF-8", CloseCause::TransportError),
        WsError::Protocol(
            ProtocolError::NonZeroReservedBits
            | ProtocolError::UnmaskedFrameFromClient
            | ProtocolError::FragmentedControlFrame
            | ProtocolError::ControlFrameTooBig
            | ProtocolError::UnknownControlFrameType(_)
            | ProtocolError::UnknownDataFrameType(_)
            | ProtocolError::UnexpectedContinueFrame
            | ProtocolError::ExpectedFragment(_)
            | ProtocolError::InvalidOpcode(_)
            | ProtocolError::InvalidCloseSequence,
        ) => violation(1002, "protocol error", CloseCause::TransportError),
        // Anything else (a reset without a close, data after the peer's close, I/O
        // errors): the peer is gone and there is nobody to send a close frame to.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use async_tungstenite::tungstenite::error::CapacityError;
    use async_tungstenite::tungstenite::protocol::frame::coding::Data;

    use super::*;

    #[test]
    fn each_fault_gets_its_code() {
        let code = |e: WsError| classify(&e).map(|v| v.code);
        let too_long = CapacityError::MessageTooLong { size: 2, max_size: 1 };
        assert_eq!(code(WsError::Capacity(too_long)), Some(1009));
        assert_eq!(code(WsError::Utf8("bad".into())), Some(1007));
        assert_eq!(code(WsError::Protocol(ProtocolError::UnmaskedFrameFromClient)), Some(1002));
        assert_eq!(code(WsError::Protocol(ProtocolError::ExpectedFragment(Data::Text))), Some(1002));
        assert_eq!(code(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)), None);
        assert_eq!(code(WsError::Io(io::Error::other("reset"))), None);
        assert_eq!(code(WsError::ConnectionClosed), None);
    }
}
