//! The one generator of [`Op`]s, with the weights every randomised harness uses. It draws
//! from any source of choices: the swarm's seeded generator, or the fuzzer's and
//! proptest's bytes ([`ops_from_bytes`]).

use arbitrary::Unstructured;

use super::op::{Op, FIXED_CODES, GAMES, HTTP_REQUESTS, IPS};

/// Characters of free-form text frames (no line breaks, so a scenario file holds one
/// frame per line; braces and quotes so some of it looks like JSON).
const TEXT_ALPHABET: &[u8] = br#"{}[]":,. typeJoinRomdat0123456789\"#;
/// Longest free-form text frame drawn.
const MAX_FREE_TEXT: u64 = 40;

/// A source of choices: `below(n)` is some value in `0..n` (`n > 0`).
pub trait Choices {
    /// A value in `0..n`.
    fn below(&mut self, n: u64) -> u64;

    /// True `percent` times in 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items` (not empty).
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Choices read from fuzzer or proptest bytes; zeros once they run out.
pub struct ByteChoices<'a>(pub Unstructured<'a>);

impl Choices for ByteChoices<'_> {
    fn below(&mut self, n: u64) -> u64 {
        self.0.int_in_range(0..=n.saturating_sub(1)).unwrap_or(0)
    }
}

/// One operation, weighted so that rooms fill, game data flows and clients come and go.
pub fn weighted_op(c: &mut impl Choices) -> Op {
    let who = c.below(64) as usize;
    let other = c.below(64) as usize;
    match c.below(100) {
        0..=6 => connect_op(c),
        7..=9 => Op::Authenticate { who, msgpack: c.chance(50), bad_app: c.chance(15) },
        10..=17 => Op::Create {
            who,
            game: c.below(GAMES.len() as u64) as u8,
            max_players: c.pick(&[0u8, 1, 2, 2, 3, 4, 200]),
            authority: c.chance(80),
        },
        18..=27 => Op::JoinOther { who, other },
        28..=30 => Op::JoinFixed {
            who,
            code: c.below(FIXED_CODES.len() as u64) as u8,
            game: c.below(GAMES.len() as u64) as u8,
        },
        31..=35 => Op::Leave { who },
        36..=42 => Op::Ready { who },
        43..=46 => Op::Authority { who, claim: c.chance(60) },
        47..=55 => Op::GameData { who },
        56..=58 => Op::Binary { who, garbage: c.chance(30) },
        59..=60 => Op::ConnectionInfo { who },
        61 => Op::Ping { who },
        62 => Op::AnyText { who, text: free_text(c) },
        63 => Op::Pong { who },
        64..=67 => Op::Spectate { who, other },
        68..=69 => Op::StopSpectating { who },
        70..=75 => Op::Reconnect { who, target: other, tamper: c.chance(20) },
        76..=78 => Op::Close { who },
        79..=81 => Op::Drop { who },
        82 => Op::Backlog { who },
        83 => Op::Stall { who },
        84..=85 => Op::Malformed { who, kind: c.below(6) as u8 },
        86..=87 => Op::Http { kind: c.below(HTTP_REQUESTS.len() as u64) as u8, host: 0 },
        88..=95 => Op::Advance { ms: c.pick(&[0u16, 10, 100, 700, 1500, 4000]) + c.below(50) as u16 },
        _ => Op::AdvanceNext,
    }
}

/// A connection from one of [`IPS`]: a quarter of them speak protocol v3.
pub fn connect_op(c: &mut impl Choices) -> Op {
    Op::Connect { ip: c.below(IPS.len() as u64) as u8, opt_in: c.chance(60), v3: c.chance(25) }
}

fn free_text(c: &mut impl Choices) -> String {
    let len = c.below(MAX_FREE_TEXT + 1);
    (0..len).map(|_| char::from(c.pick(TEXT_ALPHABET))).collect()
}

/// Up to `max` weighted operations drawn from `data`, starting with three connections
/// so that early operations have someone to act.
pub fn ops_from_bytes(data: &[u8], max: usize) -> Vec<Op> {
    let mut choices = ByteChoices(Unstructured::new(data));
    let mut ops = Vec::with_capacity(max);
    for _ in 0..3.min(max) {
        ops.push(connect_op(&mut choices));
    }
    while ops.len() < max && !choices.0.is_empty() {
        ops.push(weighted_op(&mut choices));
    }
    ops
}
