//! A connection's allowance in the driver's inbox: how many of its messages, and how
//! many bytes, may wait for the engine at once.
//!
//! Without it, one connection with a backlog of input could fill the whole inbox (its
//! reader never yields while it has input and room to send), and every other client
//! would wait behind thousands of its messages. With it, a reader that used up its
//! allowance waits until the driver has processed some of its messages, so the inbox
//! holds a fair mix, and inbound memory is bounded per connection.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::sync::notify::Doorbell;

/// Messages one connection may have waiting for the engine.
pub(crate) const MAX_MESSAGES_IN_FLIGHT: usize = 8;

/// See the module documentation. One per connection; only its reader acquires.
#[derive(Debug)]
pub(crate) struct InboundCredit {
    usage: Mutex<Usage>,
    max_bytes: usize,
    /// Rung at every release, for the reader (the only task that waits).
    doorbell: Doorbell,
}

#[derive(Debug, Default)]
struct Usage {
    messages: usize,
    bytes: usize,
}

impl InboundCredit {
    /// At most [`MAX_MESSAGES_IN_FLIGHT`] messages and `max_bytes` bytes; a message
    /// larger than `max_bytes` is let through alone.
    pub(crate) fn new(max_bytes: usize) -> Arc<InboundCredit> {
        Arc::new(InboundCredit { usage: Mutex::default(), max_bytes, doorbell: Doorbell::default() })
    }

    fn lock(&self) -> MutexGuard<'_, Usage> {
        // Two counters behind this lock; a panic elsewhere cannot leave them torn.
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a message of `bytes` fits, and takes its place; the place is given
    /// back when the returned [`Credit`] is dropped (after the engine processed it).
    pub(crate) async fn acquire(self: &Arc<Self>, bytes: usize) -> Credit {
        loop {
            {
                let mut usage = self.lock();
                let fits = usage.bytes == 0 || usage.bytes + bytes <= self.max_bytes;
                if usage.messages < MAX_MESSAGES_IN_FLIGHT && fits {
                    usage.messages += 1;
                    usage.bytes += bytes;
                    return Credit { owner: self.clone(), bytes };
                }
            }
            // A release rings the doorbell; one pending ring is enough to look again.
            self.doorbell.wait().await;
        }
    }

    /// Waits until every message acquired so far has been processed (its [`Credit`]
    /// dropped): what the engine answered to them is then in the outbox.
    pub(crate) async fn drained(&self) {
        while self.lock().messages > 0 {
            self.doorbell.wait().await;
        }
    }
}

/// One message's place in the inbox; see [`InboundCredit::acquire`].
#[derive(Debug)]
pub(crate) struct Credit {
    owner: Arc<InboundCredit>,
    bytes: usize,
}

impl Drop for Credit {
    fn drop(&mut self) {
        let mut usage = self.owner.lock();
        usage.messages -= 1;
        usage.bytes -= self.bytes;
        drop(usage);
        self.owner.doorbell.ring();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use smol::future::FutureExt as _;

    use super::*;

    /// Whether `acquire` completes at once.
    fn ready(credit: &Arc<InboundCredit>, bytes: usize) -> Option<Credit> {
        smol::block_on(async { Some(credit.acquire(bytes).await) }.or(async {
            smol::Timer::after(Duration::from_millis(20)).await;
            None
        }))
    }

    #[test]
    fn messages_and_bytes_are_bounded_and_released_on_drop() {
        let credit = InboundCredit::new(100);
        let held: Vec<Credit> = (0..MAX_MESSAGES_IN_FLIGHT).map(|_| ready(&credit, 0).unwrap()).collect();
        assert!(ready(&credit, 0).is_none());
        drop(held);
        let sixty = ready(&credit, 60).unwrap();
        assert!(ready(&credit, 50).is_none());
        let forty = ready(&credit, 40).unwrap();
        drop((sixty, forty));
        // Alone, a message above the byte bound still goes through.
        let big = ready(&credit, 500).unwrap();
        assert!(ready(&credit, 1).is_none());
        drop(big);
        assert!(ready(&credit, 1).is_some());
    }

    #[test]
    fn drained_waits_for_every_message_in_flight() {
        let credit = InboundCredit::new(100);
        smol::block_on(credit.drained());
        let held: Vec<Credit> = (0..3).map(|_| ready(&credit, 1).unwrap()).collect();
        let waiter = credit.clone();
        let thread = std::thread::spawn(move || smol::block_on(waiter.drained()));
        let mut held = held.into_iter();
        for credit in held.by_ref().take(2) {
            drop(credit);
            std::thread::sleep(Duration::from_millis(20));
            assert!(!thread.is_finished());
        }
        drop(held);
        thread.join().unwrap();
    }

    #[test]
    fn a_waiting_reader_is_woken_by_a_release() {
        let credit = InboundCredit::new(10);
        let first = ready(&credit, 10).unwrap();
        let waiter = credit.clone();
        let thread = std::thread::spawn(move || smol::block_on(waiter.acquire(10)).bytes);
        std::thread::sleep(Duration::from_millis(20));
        drop(first);
        assert_eq!(thread.join().unwrap(), 10);
    }
}
