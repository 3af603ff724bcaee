//! A one-shot signal many tasks can wait for.

use smol::channel::{bounded, Receiver, Sender};

/// Once set, stays set; every waiter (now or later) is released.
#[derive(Clone, Debug)]
pub(crate) struct Latch {
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl Latch {
    pub(crate) fn new() -> Latch {
        let (tx, rx) = bounded(1);
        Latch { tx, rx }
    }

    /// Releases every waiter. Idempotent.
    pub(crate) fn set(&self) {
        // Closing the channel is the broadcast: `recv` fails for everyone from now on.
        self.tx.close();
    }

    pub(crate) fn is_set(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves once [`Latch::set`] has been called.
    pub(crate) async fn wait(&self) {
        // Nothing is ever sent, so this only returns when the channel closes.
        let _ = self.rx.recv().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_waiters_before_and_after_set() {
        let latch = Latch::new();
        assert!(!latch.is_set());
        let waiter = latch.clone();
        let task = std::thread::spawn(move || smol::block_on(waiter.wait()));
        latch.set();
        task.join().unwrap();
        assert!(latch.is_set());
        smol::block_on(latch.wait());
    }
}
