//! A connection's outbound queue: bounded in bytes, drained by the connection's writer
//! (DECISIONS D19–D20).
//!
//! The driver pushes frames; the writer takes everything queued (up to a batch) and
//! writes it with one flush. A push that would exceed the bound is refused — nothing
//! already queued is dropped — and the driver tells the engine the client is backlogged.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use signal_fish_core::Frame;
use smol::channel::{bounded, Receiver, Sender};

use crate::latch::Latch;
use crate::stats::TransportCounters;

/// The outcome of [`Outbox::push`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Push {
    /// The frame is queued.
    Queued,
    /// The queue is at its byte bound; the frame was not queued and is given back.
    Full(Frame),
    /// The connection is closing or gone; the frame was discarded.
    Gone,
}

/// What the writer should do next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Frames were moved into the caller's buffer; their total size.
    Frames(usize),
    /// Everything queued is written: send a close frame with this code and reason.
    Close(u16, String),
    /// The transport is gone; stop without writing.
    Stopped,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Frame>,
    bytes: usize,
    close: Option<(u16, String)>,
    close_taken: bool,
    stopped: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    limit: usize,
    counters: Arc<TransportCounters>,
    doorbell_tx: Sender<()>,
    doorbell_rx: Receiver<()>,
    /// Set when a close was requested or the transport is gone.
    closing: Latch,
}

impl Outbox {
    /// An empty queue holding at most `limit` bytes.
    pub(crate) fn new(limit: usize, counters: Arc<TransportCounters>) -> Outbox {
        let (doorbell_tx, doorbell_rx) = bounded(1);
        Outbox {
            state: Mutex::new(State::default()),
            limit,
            counters,
            doorbell_tx,
            doorbell_rx,
            closing: Latch::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ring(&self) {
        // A full doorbell already means "look again"; one pending ring is enough.
        let _ = self.doorbell_tx.try_send(());
    }

    /// Queues a frame unless the connection is closing or the byte bound is reached.
    /// A single frame larger than the bound is accepted into an empty queue, so that
    /// every frame the engine may produce can be delivered to a reading client.
    pub(crate) fn push(&self, frame: Frame) -> Push {
        let len = frame.len();
        let mut state = self.lock();
        if state.stopped || state.close.is_some() {
            return Push::Gone;
        }
        if state.bytes > 0 && state.bytes + len > self.limit {
            return Push::Full(frame);
        }
        state.bytes += len;
        state.frames.push_back(frame);
        drop(state);
        self.counters.queued(len);
        self.ring();
        Push::Queued
    }

    /// Asks the writer to write what is queued, then a close frame. The first request
    /// wins; later ones are ignored.
    pub(crate) fn close(&self, code: u16, reason: &str) {
        let mut state = self.lock();
        if state.stopped || state.close.is_some() {
            return;
        }
        state.close = Some((code, reason.to_owned()));
        drop(state);
        self.closing.set();
        self.ring();
    }

    /// The transport is gone: discard what is queued and stop the writer.
    pub(crate) fn stop(&self) {
        let mut state = self.lock();
        if state.stopped {
            return;
        }
        state.stopped = true;
        let discarded = std::mem::take(&mut state.bytes);
        state.frames.clear();
        drop(state);
        self.counters.dequeued(discarded, false);
        self.closing.set();
        self.ring();
    }

    /// Whether a close was requested or the transport stopped.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.is_set()
    }

    /// Resolves once a close was requested or the transport stopped.
    pub(crate) async fn closing(&self) {
        self.closing.wait().await
    }

    /// Waits for work: moves up to `max` queued frames into `out`, or reports a close or
    /// a stop once the queue is empty.
    pub(crate) async fn next(&self, max: usize, out: &mut Vec<Frame>) -> Next {
        loop {
            {
                let mut state = self.lock();
                if state.stopped {
                    return Next::Stopped;
                }
                if !state.frames.is_empty() {
                    let take = state.frames.len().min(max.max(1));
                    let mut bytes = 0;
                    for frame in state.frames.drain(..take) {
                        bytes += frame.len();
                        out.push(frame);
                    }
                    state.bytes -= bytes;
                    return Next::Frames(bytes);
                }
                if let Some((code, reason)) = state.close.clone() {
                    if !state.close_taken {
                        state.close_taken = true;
                        return Next::Close(code, reason);
                    }
                    return Next::Stopped;
                }
            }
            // `recv` only fails if the sender is dropped, which `self` prevents.
            let _ = self.doorbell_rx.recv().await;
        }
    }

    /// Takes every frame still queued (not yet handed to the writer), oldest first: the
    /// driver gives them back to the engine when the client is backlogged, so a player
    /// who reconnects gets them replayed (DECISIONS D19).
    pub(crate) fn take_queued(&self) -> Vec<Frame> {
        let mut state = self.lock();
        let bytes = std::mem::take(&mut state.bytes);
        let frames: Vec<Frame> = state.frames.drain(..).collect();
        drop(state);
        self.counters.dequeued(bytes, false);
        frames
    }

    /// Frames taken by [`Outbox::next`] are written (or, with `written = false`,
    /// abandoned because the socket failed).
    pub(crate) fn taken_done(&self, bytes: usize, written: bool) {
        self.counters.dequeued(bytes, written);
    }

    /// Bytes currently queued.
    #[cfg(test)]
    pub(crate) fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn frame(len: usize) -> Frame {
        Frame::Text(Bytes::from(vec![b'x'; len]))
    }

    #[test]
    fn refuses_past_the_byte_bound_without_dropping_queued_frames() {
        let counters = Arc::new(TransportCounters::default());
        let outbox = Outbox::new(100, counters.clone());
        assert_eq!(outbox.push(frame(60)), Push::Queued);
        assert_eq!(outbox.push(frame(40)), Push::Queued);
        assert!(matches!(outbox.push(frame(1)), Push::Full(_)));
        assert_eq!(outbox.queued_bytes(), 100);
        let mut out = Vec::new();
        assert_eq!(smol::block_on(outbox.next(10, &mut out)), Next::Frames(100));
        assert_eq!(out.len(), 2);
        assert_eq!(counters.snapshot().outbound_queue_bytes, 100);
        outbox.taken_done(100, true);
        assert_eq!(counters.snapshot().outbound_queue_bytes, 0);
        assert_eq!(counters.snapshot().bytes_written_total, 100);
    }

    #[test]
    fn queued_frames_can_be_taken_back_in_order() {
        let counters = Arc::new(TransportCounters::default());
        let outbox = Outbox::new(100, counters.clone());
        outbox.push(frame(10));
        outbox.push(frame(20));
        let taken = outbox.take_queued();
        assert_eq!(taken.iter().map(Frame::len).collect::<Vec<_>>(), [10, 20]);
        assert_eq!(outbox.queued_bytes(), 0);
        assert_eq!(counters.snapshot().outbound_queue_bytes, 0);
        assert_eq!(counters.snapshot().bytes_written_total, 0);
    }

    #[test]
    fn an_oversized_frame_fits_an_empty_queue() {
        let outbox = Outbox::new(10, Arc::default());
        assert_eq!(outbox.push(frame(50)), Push::Queued);
        assert!(matches!(outbox.push(frame(1)), Push::Full(_)));
    }

    #[test]
    fn batches_are_capped_and_close_comes_after_the_frames() {
        let outbox = Outbox::new(1000, Arc::default());
        for _ in 0..5 {
            outbox.push(frame(1));
        }
        outbox.close(1001, "bye");
        assert_eq!(outbox.push(frame(1)), Push::Gone);
        let mut out = Vec::new();
        assert_eq!(smol::block_on(outbox.next(3, &mut out)), Next::Frames(3));
        assert_eq!(smol::block_on(outbox.next(3, &mut out)), Next::Frames(2));
        assert_eq!(smol::block_on(outbox.next(3, &mut out)), Next::Close(1001, "bye".into()));
        assert_eq!(smol::block_on(outbox.next(3, &mut out)), Next::Stopped);
        assert_eq!(out.len(), 5);
    }

    #[test]
    fn stop_discards_and_releases_the_writer() {
        let counters = Arc::new(TransportCounters::default());
        let outbox = Outbox::new(1000, counters.clone());
        outbox.push(frame(7));
        outbox.stop();
        assert_eq!(counters.snapshot().outbound_queue_bytes, 0);
        assert_eq!(counters.snapshot().bytes_written_total, 0);
        let mut out = Vec::new();
        assert_eq!(smol::block_on(outbox.next(3, &mut out)), Next::Stopped);
        smol::block_on(outbox.closing());
    }
}
