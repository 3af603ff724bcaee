//! Dashboard samples for the JSON metrics: rooms per game and players-per-room
//! percentiles, sampled every `metrics.dashboard_cache_refresh_interval_secs`.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::timers::Timer;
use super::Engine;
use crate::config::{DashboardField, MetricsConfig};
use crate::metrics::{DashboardSample, Percentiles};
use crate::Instant;

/// Most history entries kept (OPERATIONS §4).
const MAX_HISTORY: usize = 720;

/// The sample history and its schedule.
pub(crate) struct Dashboard {
    pub history: VecDeque<DashboardSample>,
    pub capacity: usize,
    pub last_refresh: Option<Instant>,
}

impl Dashboard {
    pub(crate) fn new(config: &MetricsConfig) -> Dashboard {
        let interval = config.dashboard_cache_refresh_interval_secs.max(1);
        let window = config.dashboard_cache_history_window_secs.max(interval);
        let capacity = (window.div_ceil(interval) as usize).clamp(1, MAX_HISTORY);
        Dashboard { history: VecDeque::with_capacity(capacity), capacity, last_refresh: None }
    }
}

impl Engine {
    /// A full sample of the current state.
    pub(super) fn live_sample(&self) -> DashboardSample {
        let mut rooms_by_game: BTreeMap<String, u64> = BTreeMap::new();
        let mut per_game: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let mut all: Vec<u64> = Vec::with_capacity(self.rooms.len());
        for room in self.rooms.values() {
            *rooms_by_game.entry(room.game.clone()).or_default() += 1;
            let players = room.seats.len() as u64;
            per_game.entry(room.game.clone()).or_default().push(players);
            all.push(players);
        }
        DashboardSample {
            fetched_at: self.unix_now(),
            active_rooms: Some(self.rooms.len() as u64),
            rooms_by_game: Some(rooms_by_game),
            player_percentiles: Some(Percentiles::of(all)),
            game_percentiles: Some(
                per_game
                    .into_iter()
                    .filter_map(|(g, counts)| Percentiles::of(counts).map(|p| (g, p)))
                    .collect(),
            ),
        }
    }

    pub(super) fn take_dashboard_sample(&mut self) {
        let fields = &self.config.metrics.dashboard_cache_history_fields;
        let has = |f: DashboardField| fields.contains(&f);
        let mut sample = self.live_sample();
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
        if self.dashboard.history.len() >= self.dashboard.capacity {
            self.dashboard.history.pop_front();
        }
        self.dashboard.history.push_back(sample);
        self.dashboard.last_refresh = Some(self.now);
        self.counters.dashboard_refreshes_total += 1;
        let next = self.now + Duration::from_secs(self.config.metrics.dashboard_cache_refresh_interval_secs);
        self.timers.schedule(next, Timer::Dashboard);
    }

    pub(super) fn on_dashboard_timer(&mut self, _at: Instant) {
        self.take_dashboard_sample();
    }
}
