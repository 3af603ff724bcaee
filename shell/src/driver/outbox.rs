//! A connection's outbound queue: bounded in bytes, drained by the connection's writer
//! (DECISIONS D19–D20).
//!
//! The driver pushes frames; the writer takes everything queued (up to a batch) and
//! writes it with one write. A push that would exceed the bound is refused — nothing
//! already queued is dropped — and the driver tells the engine the client is backlogged.
//! The reader uses it too, for what the protocol answers by itself: a pong for each ping,
//! and the close frame answering the client's.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use signal_fish_core::Outbound;

use super::stats::TransportCounters;
use crate::sync::notify::{Doorbell, Flag};

/// Pongs a connection may have waiting for the writer. Every ping is answered, in order,
/// while the writer keeps up; beyond this the oldest unanswered pings go unanswered
/// (RFC 6455 §5.5.3 lets a pong answer only the latest), so what a ping flood holds is
/// bounded: at most this many payloads of at most 125 bytes.
pub(crate) const MAX_PENDING_PONGS: usize = 16;

/// The outcome of [`Outbox::push`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Push {
    /// The frame is queued.
    Queued,
    /// The queue is at its byte bound; the frame was not queued and is given back.
    Full(Outbound),
    /// The connection is closing or gone; the frame was discarded.
    Gone,
}

/// A close frame's code and reason; `None` for an empty close frame.
pub(crate) type CloseStatus = Option<(u16, String)>;

/// What the writer should do next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Frames were handed to the caller (their total payload size), and the pongs to
    /// send after them if pings came.
    Frames {
        /// Payload bytes of the frames handed over.
        bytes: usize,
        /// The payloads of the pings not answered yet, oldest first (usually none).
        pongs: VecDeque<Vec<u8>>,
        /// Whether more frames are queued behind these (the next batch is ready).
        more: bool,
    },
    /// Everything queued is written (or discarded, for an answer): send this close frame.
    Close {
        /// The close frame's code and reason.
        status: CloseStatus,
        /// Whether it answers the client's close frame (then no reply is awaited).
        answer: bool,
    },
    /// The transport is gone, or the close frame went out; stop.
    Stopped,
}

#[derive(Debug)]
enum CloseRequest {
    /// Ours (the engine's or the transport's): after the queued frames.
    Ours(u16, String),
    /// The client closed first: answer at once, with what it sent (RFC 6455 §5.5.1).
    Answer(CloseStatus),
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Outbound>,
    bytes: usize,
    /// Payloads of pings to answer, oldest first; at most [`MAX_PENDING_PONGS`].
    pongs: VecDeque<Vec<u8>>,
    close: Option<CloseRequest>,
    close_taken: bool,
    stopped: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    limit: usize,
    counters: Arc<TransportCounters>,
    /// Rung for the writer (the only task that waits for it) when there is work.
    doorbell: Doorbell,
    /// Set when a close was requested or the transport is gone (awaited by the writer).
    closing: Flag,
}

impl Outbox {
    /// An empty queue holding at most `limit` bytes.
    pub(crate) fn new(limit: usize, counters: Arc<TransportCounters>) -> Outbox {
        Outbox {
            state: Mutex::new(State::default()),
            limit,
            counters,
            doorbell: Doorbell::default(),
            closing: Flag::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ring(&self) {
        self.doorbell.ring();
    }

    /// Queues a frame unless the connection is closing or the byte bound is reached.
    /// A single frame larger than the bound is accepted into an empty queue, so that
    /// every frame the engine may produce can be delivered to a reading client.
    pub(crate) fn push(&self, frame: Outbound) -> Push {
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

    /// Asks the writer to answer a ping with a pong carrying `payload` (at most 125
    /// bytes). With [`MAX_PENDING_PONGS`] already waiting, the oldest is dropped: the
    /// latest ping is always answered (RFC 6455 §5.5.3).
    pub(crate) fn pong(&self, payload: Vec<u8>) {
        let mut state = self.lock();
        if state.stopped || state.close.is_some() {
            return;
        }
        if state.pongs.len() == MAX_PENDING_PONGS {
            state.pongs.pop_front();
        }
        state.pongs.push_back(payload);
        drop(state);
        self.ring();
    }

    /// Asks the writer to write what is queued, then a close frame. The first request
    /// wins; later ones are ignored.
    pub(crate) fn close(&self, code: u16, reason: &str) {
        let mut state = self.lock();
        if state.stopped || state.close.is_some() {
            return;
        }
        state.close = Some(CloseRequest::Ours(code, reason.to_owned()));
        drop(state);
        self.closing.set();
        self.ring();
    }

    /// The client sent a close frame: discard what is queued and answer it with the same
    /// status, unless our own close frame already went out (then the client's is the
    /// reply, and the writer is done).
    pub(crate) fn answer_close(&self, status: CloseStatus) {
        let mut state = self.lock();
        if state.stopped || state.close_taken {
            return;
        }
        state.close = Some(CloseRequest::Answer(status));
        state.pongs = VecDeque::new();
        let discarded = std::mem::take(&mut state.bytes);
        state.frames.clear();
        drop(state);
        self.counters.dequeued(discarded, false);
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
        state.pongs = VecDeque::new();
        drop(state);
        self.counters.dequeued(discarded, false);
        self.closing.set();
        self.ring();
    }

    /// Whether a close was requested or the transport stopped.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.is_set()
    }

    /// Resolves once a close was requested or the transport stopped. Only the writer
    /// waits for this.
    pub(crate) async fn closing(&self) {
        self.closing.wait().await
    }

    /// Waits for work: hands up to `max` queued frames to `take`, oldest first (they
    /// leave the queue), or reports a close or a stop once the queue is empty. Only the
    /// connection's writer calls this.
    pub(crate) async fn next(&self, max: usize, take: &mut impl FnMut(&Outbound)) -> Next {
        loop {
            {
                let mut state = self.lock();
                if state.stopped {
                    return Next::Stopped;
                }
                if !state.frames.is_empty() || !state.pongs.is_empty() {
                    let count = state.frames.len().min(max.max(1));
                    let mut bytes = 0;
                    for frame in state.frames.drain(..count) {
                        bytes += frame.len();
                        take(&frame);
                    }
                    state.bytes -= bytes;
                    let more = !state.frames.is_empty();
                    // Taken, not drained: an idle connection keeps no pong buffer.
                    return Next::Frames { bytes, pongs: std::mem::take(&mut state.pongs), more };
                }
                if state.close_taken {
                    return Next::Stopped;
                }
                if let Some(request) = &state.close {
                    let next = match request {
                        CloseRequest::Ours(code, reason) => {
                            Next::Close { status: Some((*code, reason.clone())), answer: false }
                        }
                        CloseRequest::Answer(status) => Next::Close { status: status.clone(), answer: true },
                    };
                    state.close_taken = true;
                    return next;
                }
            }
            self.doorbell.wait().await;
        }
    }

    /// Takes every frame still queued (not yet handed to the writer), oldest first: the
    /// driver gives them back to the engine when the client is backlogged, so a player
    /// who reconnects gets them replayed (DECISIONS D19).
    pub(crate) fn take_queued(&self) -> Vec<Outbound> {
        let mut state = self.lock();
        let bytes = std::mem::take(&mut state.bytes);
        let frames: Vec<Outbound> = state.frames.drain(..).collect();
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

    fn frame(len: usize) -> Outbound {
        Outbound::Text(Bytes::from(vec![b'x'; len]))
    }

    /// `Outbox::next`, collecting the frames handed over into `out`.
    fn next(outbox: &Outbox, max: usize, out: &mut Vec<Outbound>) -> Next {
        smol::block_on(outbox.next(max, &mut |f: &Outbound| out.push(f.clone())))
    }

    fn frames(bytes: usize, more: bool) -> Next {
        Next::Frames { bytes, pongs: VecDeque::new(), more }
    }

    fn pongs(payloads: &[&[u8]]) -> VecDeque<Vec<u8>> {
        payloads.iter().map(|p| p.to_vec()).collect()
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
        assert_eq!(next(&outbox, 10, &mut out), frames(100, false));
        assert_eq!(out.len(), 2);
        assert_eq!(counters.snapshot(0).outbound_queue_bytes, 100);
        outbox.taken_done(100, true);
        assert_eq!(counters.snapshot(0).outbound_queue_bytes, 0);
        assert_eq!(counters.snapshot(0).bytes_written_total, 100);
    }

    #[test]
    fn queued_frames_can_be_taken_back_in_order() {
        let counters = Arc::new(TransportCounters::default());
        let outbox = Outbox::new(100, counters.clone());
        outbox.push(frame(10));
        outbox.push(frame(20));
        let taken = outbox.take_queued();
        assert_eq!(taken.iter().map(Outbound::len).collect::<Vec<_>>(), [10, 20]);
        assert_eq!(outbox.queued_bytes(), 0);
        assert_eq!(counters.snapshot(0).outbound_queue_bytes, 0);
        assert_eq!(counters.snapshot(0).bytes_written_total, 0);
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
        for len in 1..=5 {
            outbox.push(frame(len));
        }
        outbox.close(1001, "bye");
        assert_eq!(outbox.push(frame(1)), Push::Gone);
        let mut out = Vec::new();
        assert_eq!(next(&outbox, 3, &mut out), frames(6, true));
        assert_eq!(next(&outbox, 3, &mut out), frames(9, false));
        assert_eq!(
            next(&outbox, 3, &mut out),
            Next::Close { status: Some((1001, "bye".into())), answer: false }
        );
        assert_eq!(next(&outbox, 3, &mut out), Next::Stopped);
        assert_eq!(out.iter().map(Outbound::len).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn stop_discards_and_releases_the_writer() {
        let counters = Arc::new(TransportCounters::default());
        let outbox = Outbox::new(1000, counters.clone());
        outbox.push(frame(7));
        outbox.stop();
        assert_eq!(counters.snapshot(0).outbound_queue_bytes, 0);
        assert_eq!(counters.snapshot(0).bytes_written_total, 0);
        let mut out = Vec::new();
        assert_eq!(next(&outbox, 3, &mut out), Next::Stopped);
        smol::block_on(outbox.closing());
    }

    #[test]
    fn every_ping_is_answered_in_order() {
        // Autobahn case 2.10: ten pings sent at once get ten pongs, not only the last.
        let outbox = Outbox::new(1000, Arc::default());
        let payloads: Vec<Vec<u8>> = (0..10).map(|i| format!("payload-{i}").into_bytes()).collect();
        for payload in &payloads {
            outbox.pong(payload.clone());
        }
        let mut out = Vec::new();
        assert_eq!(
            next(&outbox, 3, &mut out),
            Next::Frames { bytes: 0, pongs: payloads.into_iter().collect(), more: false }
        );
        // After the frames of their batch.
        outbox.push(frame(4));
        outbox.pong(Vec::new());
        assert_eq!(next(&outbox, 3, &mut out), Next::Frames { bytes: 4, pongs: pongs(&[b""]), more: false });
        // No pong once a close was asked for.
        outbox.close(1000, "");
        outbox.pong(b"late".to_vec());
        assert!(matches!(next(&outbox, 3, &mut out), Next::Close { answer: false, .. }));
    }

    #[test]
    fn a_ping_flood_holds_a_bounded_number_of_pongs_and_the_latest_is_answered() {
        let outbox = Outbox::new(1000, Arc::default());
        for i in 0..1000u32 {
            outbox.pong(i.to_be_bytes().to_vec());
        }
        let mut out = Vec::new();
        let Next::Frames { pongs, .. } = next(&outbox, 3, &mut out) else { panic!("no pongs") };
        let expected: VecDeque<Vec<u8>> =
            (1000 - MAX_PENDING_PONGS as u32..1000).map(|i| i.to_be_bytes().to_vec()).collect();
        assert_eq!(pongs, expected);
    }

    #[test]
    fn a_client_close_is_answered_at_once_with_its_status() {
        let counters = Arc::new(TransportCounters::default());
        let outbox = Outbox::new(1000, counters.clone());
        outbox.push(frame(7));
        // Even our own close, not yet taken, gives way to the answer.
        outbox.close(1008, "policy");
        outbox.answer_close(Some((1000, "bye".into())));
        assert!(outbox.is_closing());
        assert_eq!(counters.snapshot(0).outbound_queue_bytes, 0);
        let mut out = Vec::new();
        assert_eq!(
            next(&outbox, 3, &mut out),
            Next::Close { status: Some((1000, "bye".into())), answer: true }
        );
        assert_eq!(next(&outbox, 3, &mut out), Next::Stopped);
        assert!(out.is_empty());
        // Once our close went out, the client's close is its reply: nothing to answer.
        let outbox = Outbox::new(1000, Arc::default());
        outbox.close(1001, "bye");
        assert!(matches!(next(&outbox, 3, &mut out), Next::Close { answer: false, .. }));
        outbox.answer_close(None);
        assert_eq!(next(&outbox, 3, &mut out), Next::Stopped);
    }
}
