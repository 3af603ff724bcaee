//! Dashboard samples for the JSON metrics: rooms per game and players-per-room
//! percentiles, sampled every `metrics.dashboard_cache_refresh_interval_secs`.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::timers::Timer;
use super::Engine;
use crate::config::{DashboardField, MetricsConfig};
use crate::metrics::{DashboardSample, Percentiles};
use crate::Instant;

/// Most history entries kept (OPERATIONS §4).
const MAX_HISTORY: usize = 720;

/// The sample history and its schedule.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Dashboard {
    pub history: VecDeque<DashboardSample>,
    pub capacity: usize,
    pub last_refresh: Option<Instant>,
    /// Every field of the latest sample: the JSON metrics' top-level values. Served from
    /// here, a metrics request costs nothing per room (OPERATIONS §4).
    pub latest: Option<DashboardSample>,
}

impl Dashboard {
    pub(crate) fn new(config: &MetricsConfig) -> Dashboard {
        let interval = config.dashboard_cache_refresh_interval_secs.max(1);
        let window = config.dashboard_cache_history_window_secs.max(interval);
        let capacity = (window.div_ceil(interval) as usize).clamp(1, MAX_HISTORY);
        Dashboard { history: VecDeque::with_capacity(capacity), capacity, last_refresh: None, latest: None }
    }
}

impl Engine {
    /// A full sample of the current state.
    fn live_sample(&self) -> DashboardSample {
        // Grouped by borrowed names: one allocation per game, not two per room (this
        // runs on every metrics render).
        let mut per_game: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        let mut all: Vec<u64> = Vec::with_capacity(self.rooms.len());
        for room in self.rooms.values() {
            let players = room.seats.len() as u64;
            per_game.entry(room.game.as_str()).or_default().push(players);
            all.push(players);
        }
        let rooms_by_game: BTreeMap<String, u64> =
            per_game.iter().map(|(game, counts)| ((*game).to_owned(), counts.len() as u64)).collect();
        DashboardSample {
            fetched_at: self.unix_now(),
            active_rooms: Some(self.rooms.len() as u64),
            rooms_by_game: Some(rooms_by_game),
            player_percentiles: Some(Percentiles::of(all)),
            game_percentiles: Some(
                per_game
                    .into_iter()
                    .filter_map(|(g, counts)| Percentiles::of(counts).map(|p| (g.to_owned(), p)))
                    .collect(),
            ),
        }
    }

    pub(super) fn take_dashboard_sample(&mut self) {
        let fields = &self.config.metrics.dashboard_cache_history_fields;
        let has = |f: DashboardField| fields.contains(&f);
        let mut sample = self.live_sample();
        self.reporting.dashboard.latest = Some(sample.clone());
        let any = [
            DashboardField::ActiveRooms,
            DashboardField::RoomsByGame,
            DashboardField::PlayerPercentiles,
            DashboardField::GamePercentiles,
        ]
        .into_iter()
        .any(has);
        if !has(DashboardField::ActiveRooms) && any {
            sample.active_rooms = None;
        }
        if !has(DashboardField::RoomsByGame) {
            sample.rooms_by_game = None;
        }
        if !has(DashboardField::PlayerPercentiles) {
            sample.player_percentiles = None;
        }
        if !has(DashboardField::GamePercentiles) {
            sample.game_percentiles = None;
        }
        if self.reporting.dashboard.history.len() >= self.reporting.dashboard.capacity {
            self.reporting.dashboard.history.pop_front();
        }
        self.reporting.dashboard.history.push_back(sample);
        self.reporting.dashboard.last_refresh = Some(self.clock.now);
        self.counters.dashboard_refreshes_total += 1;
        let next =
            self.clock.now + Duration::from_secs(self.config.metrics.dashboard_cache_refresh_interval_secs);
        self.timers.schedule(next, Timer::Dashboard);
    }

    pub(super) fn on_dashboard_timer(&mut self, _at: Instant) {
        self.take_dashboard_sample();
    }
}
