//! The game-data check of one connection: every room-mate's messages once and in order
//! for a player (replays after a reconnect included), no gaps, duplicates or reordering
//! from the first message seen for a spectator.

use std::rc::Rc;

use super::session::Session;
use super::shared::Shared;
use crate::clock;
use crate::seq::SeqTracker;
use crate::wire::Probe;

/// Who a connection is for the game-data check.
#[derive(Default)]
pub(super) struct Recv {
    session: Option<Rc<Session>>,
    /// The player's position, or `None` for a spectator.
    me: Option<usize>,
    trackers: Vec<Option<SeqTracker>>,
}

impl Recv {
    pub(super) fn player(session: &Rc<Session>, me: usize) -> Recv {
        Recv {
            trackers: (0..session.k).map(|_| None).collect(),
            session: Some(session.clone()),
            me: Some(me),
        }
    }

    pub(super) fn spectator(session: &Rc<Session>) -> Recv {
        Recv { trackers: (0..session.k).map(|_| None).collect(), session: Some(session.clone()), me: None }
    }

    /// Whether everything counted in `targets` arrived from each room-mate.
    pub(super) fn caught_up(&self, targets: &[u64]) -> bool {
        targets.iter().enumerate().all(|(p, &t)| {
            Some(p) == self.me || self.trackers[p].as_ref().map_or(0, SeqTracker::next_expected) >= t
        })
    }

    pub(super) fn observe(&mut self, sh: &Shared<'_>, probe: Probe, replayed: bool) {
        let Some(session) = &self.session else {
            sh.event("GAME_DATA_OUTSIDE_A_ROOM".to_owned());
            return;
        };
        let pos = probe.sender.wrapping_sub(session.base) as usize;
        if pos >= session.k || Some(pos) == self.me {
            sh.event("GAME_DATA_FROM_ANOTHER_ROOM".to_owned());
            return;
        }
        let spectator = self.me.is_none();
        let tracker = self.trackers[pos].get_or_insert_with(|| {
            if spectator {
                SeqTracker::starting_at(probe.seq)
            } else {
                SeqTracker::default()
            }
        });
        tracker.observe(probe.seq);
        sh.count("deliveries");
        if replayed {
            sh.count("deliveries_replayed");
        } else {
            let us = clock::now_us().saturating_sub(probe.sent_us);
            sh.latency.borrow_mut().record(us);
            sh.window_latency.borrow_mut().record(us);
        }
    }

    /// Checks a player's streams: every room-mate's messages below `owed[p]`, each once
    /// and in order.
    pub(super) fn finish_player(&mut self, sh: &Shared<'_>, owed: &[u64]) {
        let Some(session) = self.session.clone() else { return };
        for (p, &owed) in owed.iter().enumerate() {
            if Some(p) != self.me {
                let tracker = self.trackers[p].take().unwrap_or_default();
                sh.checked(session.base + p as u32, tracker.finish(owed));
            }
        }
        self.session = None;
    }

    /// Checks a spectator's streams from the first message seen on.
    pub(super) fn finish_spectator(&mut self, sh: &Shared<'_>) {
        let Some(session) = self.session.take() else { return };
        for (p, tracker) in self.trackers.iter_mut().enumerate() {
            if let Some(t) = tracker.take() {
                sh.checked(session.base + p as u32, t.finish(t.next_expected()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::context::RunContext;
    use crate::scenario::soak::SoakOptions;
    use crate::seq::Anomalies;

    #[test]
    fn a_player_is_owed_every_message_of_its_room_mates() {
        let ctx = RunContext::new("127.0.0.1:1".parse().unwrap(), None, Some(9), 4).unwrap();
        let opts = SoakOptions {
            clients: 4,
            spectators: 0,
            room_size: 2,
            hz: 1.0,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            sample: Duration::from_secs(1),
            game: Duration::from_secs(1),
            max_away: Duration::from_secs(1),
            idle_wait: Duration::ZERO,
            app_id: None,
        };
        let sh = Shared::new(&ctx, &opts, 4, Instant::now());
        let session = Rc::new(Session::new(&sh, 0, 2));
        let mut me = Recv::player(&session, 0);
        let probe = |seq| Probe { sender: session.base + 1, seq, sent_us: 0 };
        // 0, 2, 2 (a duplicate), then a late 1: then 3 and 4 never come.
        for seq in [0, 2, 2, 1] {
            me.observe(&sh, probe(seq), false);
        }
        assert!(!me.caught_up(&[0, 5]));
        assert!(me.caught_up(&[0, 3]));
        me.finish_player(&sh, &[0, 5]);
        assert_eq!(*sh.anomalies.borrow(), Anomalies { lost: 2, duplicated: 1, reordered: 1 });
        // A spectator owes nothing before the first message it sees.
        let mut watcher = Recv::spectator(&session);
        watcher.observe(&sh, probe(7), false);
        watcher.observe(&sh, probe(8), true);
        watcher.finish_spectator(&sh);
        assert_eq!(sh.anomalies.borrow().lost, 2);
        assert_eq!(sh.counts.borrow()["deliveries_replayed"], 1);
    }
}
