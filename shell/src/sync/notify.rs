//! Wake-ups between the tasks of one connection, where exactly one task ever waits: the
//! writer for its outbox, the reader for its inbox credit or to be stopped, the writer
//! for the reader's end, a connection for eviction while it waits for a request head.
//!
//! Each is a flag and the waiting task's waker, 24 bytes with no allocation. A channel
//! used as a doorbell (a [`Latch`](super::latch::Latch)) costs about 950 bytes, and a
//! connection needed five of them. A second concurrent waiter would not be woken: each
//! type is used by one task only (its owner documents which).

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

/// A one-shot signal for one waiting task: once set, stays set.
#[derive(Debug, Default)]
pub(crate) struct Flag {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Flag {
    /// Sets the flag and wakes the waiting task, if any. Idempotent.
    pub(crate) fn set(&self) {
        self.set.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Whether [`Flag::set`] was called.
    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Ready once the flag is set (registering the task's waker until then).
    pub(crate) fn poll_set(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_set() {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // Set between the check and the registration: the wake may have been missed.
        if self.is_set() {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Resolves once the flag is set.
    pub(crate) async fn wait(&self) {
        poll_fn(|cx| self.poll_set(cx)).await
    }
}

/// A resettable signal for one waiting task: rings are not counted, one pending ring
/// means "look again".
#[derive(Debug, Default)]
pub(crate) struct Doorbell {
    rung: AtomicBool,
    waker: AtomicWaker,
}

impl Doorbell {
    /// Rings: the waiting task (or the next wait) wakes up.
    pub(crate) fn ring(&self) {
        self.rung.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Resolves at the next ring, or at once if it rang since the last wait ended.
    pub(crate) async fn wait(&self) {
        poll_fn(|cx| {
            if self.rung.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.rung.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use smol::future::{poll_once, FutureExt as _};

    use super::*;

    /// Whether `future` completes within 20 ms.
    fn completes<F: std::future::Future>(future: F) -> bool {
        smol::block_on(async { Some(future.await) }.or(async {
            smol::Timer::after(Duration::from_millis(20)).await;
            None
        }))
        .is_some()
    }

    #[test]
    fn a_flag_releases_its_waiter_before_and_after_it_is_set() {
        let flag = Arc::new(Flag::default());
        assert!(!flag.is_set());
        assert!(!completes(flag.wait()));
        let setter = flag.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            setter.set();
        });
        smol::block_on(flag.wait());
        thread.join().unwrap();
        assert!(flag.is_set());
        assert!(completes(flag.wait()));
    }

    #[test]
    fn a_doorbell_wakes_once_per_round_of_rings() {
        let bell = Arc::new(Doorbell::default());
        assert!(!completes(bell.wait()));
        // Rings before a wait are not lost; several count as one.
        bell.ring();
        bell.ring();
        assert!(completes(bell.wait()));
        assert!(!completes(bell.wait()));
        // A ring from another thread wakes a waiting task.
        let ringer = bell.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            ringer.ring();
        });
        smol::block_on(bell.wait());
        thread.join().unwrap();
        assert_eq!(smol::block_on(poll_once(bell.wait())), None);
    }
}
