//! Engine checkpoints: the whole state of an [`Engine`] as one serde value, from which a
//! restored engine continues exactly as the original would have. The flight recorder
//! (issue 13) starts every file with one, so each file replays on its own.
//!
//! Not to be confused with `snapshot.rs`, the room snapshots clients are sent: a
//! checkpoint is the engine's, never on the wire.
//!
//! A checkpoint is taken between steps. It holds the configuration and everything steps
//! change: the generator's position in its stream, the clock, connections, per-source
//! limits, rooms and their indexes, reservations, mesh rooms, timers, counters and the
//! dashboard. What follows from the configuration alone (the CORS policy) is rebuilt on
//! restore rather than stored, so it cannot disagree with the configuration.
//!
//! Restoring trusts nothing: the format version, the configuration
//! ([`Config::validate`]) and every invariant ([`Engine::check_invariants`], plus what
//! holds between steps) are checked, so a damaged or forged checkpoint is refused with
//! the problem named instead of making a later step panic.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Engine, InvariantViolation};
use crate::config::{Config, ConfigErrors};
use crate::http::CorsPolicy;
use crate::Instant;

/// The checkpoint format this engine writes and restores. Bumped whenever the engine's
/// state changes shape, since an old checkpoint would not continue the same way.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// The whole state of an [`Engine`] between two steps ([`Engine::checkpoint`]), restored
/// by [`Engine::restore`]. Serialise it with any serde format (the recorder uses
/// rmp-serde; serde_json works too, for reading one).
///
/// Its content is opaque: it holds secrets (the generator's seed and position, hence
/// every future id and token; the reconnection tokens; buffered game data), so store it
/// as such.
#[derive(Clone, Serialize, Deserialize)]
pub struct EngineCheckpoint {
    /// [`CHECKPOINT_FORMAT`] of the engine that wrote it. First, so that a reader can
    /// see it before anything else.
    format: u32,
    /// The engine itself: everything a step may change is a field of [`Engine`], so the
    /// checkpoint cannot leave one out.
    engine: Engine,
}

impl EngineCheckpoint {
    /// The checkpoint format it was written in.
    pub fn format(&self) -> u32 {
        self.format
    }

    /// The configuration the engine ran (and a restored one runs).
    pub fn config(&self) -> &Config {
        &self.engine.config
    }

    /// The latest instant the engine had stepped: a restored engine's steps continue
    /// from here.
    pub fn now(&self) -> Instant {
        self.engine.clock.now
    }
}

/// Why [`Engine::restore`] refused a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// Written in another checkpoint format.
    Format {
        /// The checkpoint's format.
        found: u32,
        /// The one this engine restores ([`CHECKPOINT_FORMAT`]).
        supported: u32,
    },
    /// Its configuration does not validate.
    Config(ConfigErrors),
    /// Its state is inconsistent: damaged, forged, or written by a buggy engine.
    Inconsistent(InvariantViolation),
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::Format { found, supported } => write!(
                f,
                "engine checkpoint format {found} is not supported (this engine restores format {supported})"
            ),
            RestoreError::Config(errors) => {
                write!(f, "engine checkpoint has an invalid configuration:\n{errors}")
            }
            RestoreError::Inconsistent(violation) => {
                write!(f, "engine checkpoint is inconsistent: {}", violation.0)
            }
        }
    }
}

impl std::error::Error for RestoreError {}

impl Engine {
    /// The whole engine state, from which [`Engine::restore`] makes an engine that
    /// continues exactly as this one: the same events at the same instants give the same
    /// actions. Take it between steps (as `&self` ensures).
    pub fn checkpoint(&self) -> EngineCheckpoint {
        EngineCheckpoint { format: CHECKPOINT_FORMAT, engine: self.clone() }
    }

    /// The engine `checkpoint` was taken of. Its host steps it on from
    /// [`EngineCheckpoint::now`] and asks [`Engine::poll_timeout`] first, as after
    /// creating an engine.
    ///
    /// # Errors
    /// A checkpoint of another format, with an invalid configuration, or whose state
    /// breaks an invariant is refused (never a panic, whatever the bytes it came from).
    pub fn restore(checkpoint: EngineCheckpoint) -> Result<Engine, RestoreError> {
        if checkpoint.format != CHECKPOINT_FORMAT {
            return Err(RestoreError::Format { found: checkpoint.format, supported: CHECKPOINT_FORMAT });
        }
        let mut engine = checkpoint.engine;
        engine.config.validate().map_err(RestoreError::Config)?;
        engine.cors = CorsPolicy::parse(&engine.config.security.cors_origins)
            .expect("validate() accepted the CORS policy");
        engine.check_between_steps().map_err(RestoreError::Inconsistent)?;
        engine.check_invariants().map_err(RestoreError::Inconsistent)?;
        Ok(engine)
    }

    /// What holds between any two steps beyond [`Engine::check_invariants`] (which also
    /// runs inside steps' checks, where these need not hold).
    fn check_between_steps(&self) -> Result<(), InvariantViolation> {
        let fail = |what: String| Err(InvariantViolation(what));
        let clock = &self.clock;
        if clock.now < clock.origin {
            return fail(format!("clock at {} before its origin {}", clock.now, clock.origin));
        }
        // Every timer due by `now` fired in the step that reached it.
        if let Some(at) = self.timers.next_deadline().filter(|at| *at <= clock.now) {
            return fail(format!("a timer due at {at} has not fired by {}", clock.now));
        }
        let dashboard = &self.reporting.dashboard;
        if dashboard.capacity == 0 || dashboard.history.len() > dashboard.capacity {
            return fail(format!(
                "dashboard holds {} samples for a capacity of {}",
                dashboard.history.len(),
                dashboard.capacity
            ));
        }
        Ok(())
    }
}

/// Serialises a map as a sequence of `(key, value)` pairs, for maps whose keys are not
/// strings or numbers (JSON objects only take those).
pub(super) mod as_pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<K, V, S>(map: &BTreeMap<K, V>, serializer: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize,
        V: Serialize,
        S: Serializer,
    {
        serializer.collect_seq(map.iter())
    }

    pub(crate) fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        // A repeated key would be lost silently here; the index checks of a restore
        // count entries against what they index, so it is refused there.
        Vec::<(K, V)>::deserialize(deserializer).map(|pairs| pairs.into_iter().collect())
    }
}
