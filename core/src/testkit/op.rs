//! The one operation vocabulary of every randomised harness: what a client, the network
//! or the clock can do. Operations are symbolic ("open client #3 joins the room of client
//! #1") and are resolved against what the clients have seen only when they run
//! ([`super::Clients::resolve`]), so removing some of them while shrinking leaves the
//! rest meaningful.
//!
//! Every harness draws them with the one weighted generator, [`super::weighted_op`]: the
//! fuzz target and the property tests from their bytes, the swarm from its seed.

/// Game names used by workloads.
pub const GAMES: [&str; 2] = ["alpha", "beta"];
/// Fixed room codes used by workloads (the last one is not valid).
pub const FIXED_CODES: [&str; 4] = ["ROOM01", "room02", "QQQQQQ", "bad!"];
/// Client IPs used by workloads.
pub const IPS: [&str; 3] = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
/// Requests an [`Op::Http`] makes, by `kind` modulo their number.
pub const HTTP_REQUESTS: [(&str, &str); 8] = [
    ("GET", "/v2/health"),
    ("GET", "/metrics"),
    ("GET", "/metrics/prom"),
    ("GET", "/v1/metrics?includeSnapshot=true"),
    ("HEAD", "/v2/health"),
    ("POST", "/metrics"),
    ("GET", "/metrics?includeSnapshot=maybe"),
    ("OPTIONS", "/v2/health"),
];

/// One thing a client, the network or the clock does. `who`, `other` and `target` pick
/// among the clients that qualify when the operation runs (modulo their number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Open a connection from one of [`IPS`], opting in to tokens or not, on `/v2/ws` or
    /// `/v3/ws` (protocol v3 for a client whose `Authenticate` names no version).
    Connect {
        /// Index into [`IPS`].
        ip: u8,
        /// Connect with `?reconnection_token=true`.
        opt_in: bool,
        /// Connect on `/v3/ws`.
        v3: bool,
    },
    /// `Authenticate` (JSON or MessagePack game data; a known or unknown app).
    Authenticate {
        /// Which open client.
        who: usize,
        /// Ask for MessagePack game data.
        msgpack: bool,
        /// Use an app id that is not configured.
        bad_app: bool,
    },
    /// `JoinRoom` without a code (create).
    Create {
        /// Which open client.
        who: usize,
        /// Index into [`GAMES`].
        game: u8,
        /// `max_players`.
        max_players: u8,
        /// `supports_authority`.
        authority: bool,
    },
    /// `JoinRoom` with the code of the room another client is (or was) in.
    JoinOther {
        /// Which open client.
        who: usize,
        /// Which client's room.
        other: usize,
    },
    /// `JoinRoom` with one of [`FIXED_CODES`] (joins or creates).
    JoinFixed {
        /// Which open client.
        who: usize,
        /// Index into [`FIXED_CODES`].
        code: u8,
        /// Index into [`GAMES`].
        game: u8,
    },
    /// `LeaveRoom`.
    Leave {
        /// Which open client.
        who: usize,
    },
    /// `PlayerReady`.
    Ready {
        /// Which open client.
        who: usize,
    },
    /// `AuthorityRequest`.
    Authority {
        /// Which open client.
        who: usize,
        /// Claim (true) or release.
        claim: bool,
    },
    /// `GameData` carrying the next sequence number.
    GameData {
        /// Which open client.
        who: usize,
    },
    /// A binary frame: MessagePack with the next sequence number, or bytes with no JSON
    /// form.
    Binary {
        /// Which open client.
        who: usize,
        /// Bytes that cannot be translated to JSON.
        garbage: bool,
    },
    /// `ProvideConnectionInfo`.
    ConnectionInfo {
        /// Which open client.
        who: usize,
    },
    /// `Ping`.
    Ping {
        /// Which open client.
        who: usize,
    },
    /// A WebSocket Pong frame.
    Pong {
        /// Which open client.
        who: usize,
    },
    /// `JoinAsSpectator` the room of another client.
    Spectate {
        /// Which open client.
        who: usize,
        /// Which client's room.
        other: usize,
    },
    /// `LeaveSpectator`.
    StopSpectating {
        /// Which open client.
        who: usize,
    },
    /// `Reconnect` as a client that is gone.
    Reconnect {
        /// Which open client sends it.
        who: usize,
        /// Which gone client to resume.
        target: usize,
        /// Use a wrong token.
        tamper: bool,
    },
    /// The client closes cleanly.
    Close {
        /// Which open client.
        who: usize,
    },
    /// The connection drops.
    Drop {
        /// Which open client.
        who: usize,
    },
    /// The client stops reading; frames for it are held until a backlog.
    Stall {
        /// Which open client.
        who: usize,
    },
    /// The connection's writer backs up.
    Backlog {
        /// Which open client.
        who: usize,
    },
    /// A frame that is not a valid client message.
    Malformed {
        /// Which open client.
        who: usize,
        /// Which kind of garbage.
        kind: u8,
    },
    /// Any text at all as a frame: free-form input for the fuzzer and the property tests
    /// (the swarm does not draw it; its scenario files hold one line per frame).
    AnyText {
        /// Which open client.
        who: usize,
        /// The frame's text.
        text: String,
    },
    /// An HTTP request from [`HTTP_REQUESTS`].
    Http {
        /// Which request.
        kind: u8,
        /// Seeds the host figures the request carries (step latencies, transport bytes;
        /// see [`super::host_report`]); 0 carries none, as scenario files do.
        host: u16,
    },
    /// Time passes.
    Advance {
        /// Milliseconds (bounded so one operation cannot fire years of timers).
        ms: u16,
    },
    /// Jump to the next deadline.
    AdvanceNext,
}
