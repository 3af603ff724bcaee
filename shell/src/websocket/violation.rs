//! Which close code answers which client fault at the WebSocket layer (RFC 6455 §7.4.1).
//! The engine never sees these frames; the shell closes the connection itself and tells
//! the engine why it ended.

use signal_fish_core::CloseCause;

use crate::codec::DecodeError;

/// A fault in what the client sent, and how to answer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    /// The close code sent to the client.
    pub code: u16,
    /// The close reason sent to the client: what was wrong.
    pub reason: &'static str,
    /// What the engine is told.
    pub cause: CloseCause,
}

/// The answer to a frame the decoder refused.
pub(crate) fn classify(error: DecodeError) -> Violation {
    match error {
        // Above the transport's hard cap (ARCHITECTURE §6, DECISIONS D30).
        DecodeError::TooLarge => {
            Violation { code: 1009, reason: "message too big", cause: CloseCause::FrameTooLarge }
        }
        // Text that is not UTF-8 (in a text message or a close reason).
        DecodeError::InvalidUtf8 => {
            Violation { code: 1007, reason: "invalid UTF-8", cause: CloseCause::TransportError }
        }
        DecodeError::Protocol(fault) => {
            Violation { code: 1002, reason: fault.describe(), cause: CloseCause::TransportError }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Fault;

    #[test]
    fn each_fault_gets_its_code() {
        let code = |e| classify(e).code;
        assert_eq!(code(DecodeError::TooLarge), 1009);
        assert_eq!(classify(DecodeError::TooLarge).cause, CloseCause::FrameTooLarge);
        assert_eq!(code(DecodeError::InvalidUtf8), 1007);
        for fault in [
            Fault::Unmasked,
            Fault::ReservedBits,
            Fault::ReservedOpcode(3),
            Fault::FragmentedControl,
            Fault::ControlTooLong,
            Fault::UnexpectedContinuation,
            Fault::ExpectedContinuation,
            Fault::LengthOverflow,
            Fault::CloseLength,
            Fault::CloseCode(1005),
        ] {
            let violation = classify(DecodeError::Protocol(fault));
            assert_eq!(violation.code, 1002, "{fault:?}");
            // The reason names the fault and fits a close frame.
            assert!(violation.reason.starts_with("protocol error: ") && violation.reason.len() <= 123);
        }
    }
}
