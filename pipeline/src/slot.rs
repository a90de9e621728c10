//! The bounded hand-off between a stream's source and the inference executor.
//!
//! Live video must not lag: when inference falls behind, a live stream's slot drops its
//! *oldest* frame and counts it. A file analysed offline blocks its decoder instead, so
//! no frame is lost. One [`Wakeup`] is shared by all slots so the executor can sleep
//! until any stream has a frame.

use crate::metrics::Metric;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// What a full slot does with a new frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FullPolicy {
    /// Drop the oldest queued frame (live video).
    DropOldest,
    /// Wait for room (offline analysis of a file).
    Block,
}

/// A counter the executor sleeps on; every push bumps it.
#[derive(Debug, Default)]
pub struct Wakeup {
    generation: Mutex<u64>,
    cv: Condvar,
}

impl Wakeup {
    pub fn notify(&self) {
        *self.generation.lock().unwrap() += 1;
        self.cv.notify_all();
    }
    /// The current generation, to pass to [`Wakeup::wait_past`].
    pub fn generation(&self) -> u64 {
        *self.generation.lock().unwrap()
    }
    /// Waits until a notify after `seen`, or the timeout.
    pub fn wait_past(&self, seen: u64, timeout: Duration) {
        let g = self.generation.lock().unwrap();
        let _ = self.cv.wait_timeout_while(g, timeout, |g| *g == seen).unwrap();
    }
}

struct SlotState<T> {
    queue: VecDeque<T>,
    closed: bool,
}

/// A bounded queue for one stream.
pub struct Slot<T> {
    state: Mutex<SlotState<T>>,
    room: Condvar,
    capacity: usize,
    policy: FullPolicy,
    wakeup: Arc<Wakeup>,
    /// Frames dropped because the slot was full.
    pub dropped: Metric,
    /// Frames waiting (gauge).
    pub depth: Metric,
}

/// Why a push did not queue the item.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    Closed,
}

impl<T> Slot<T> {
    pub fn new(capacity: usize, policy: FullPolicy, wakeup: Arc<Wakeup>, dropped: Metric, depth: Metric) -> Self {
        assert!(capacity > 0, "a slot holds at least one item");
        Self {
            state: Mutex::new(SlotState { queue: VecDeque::with_capacity(capacity), closed: false }),
            room: Condvar::new(),
            capacity,
            policy,
            wakeup,
            dropped,
            depth,
        }
    }

    /// Queues `item`; when full, drops the oldest or waits for room, per the policy.
    pub fn push(&self, item: T) -> Result<(), PushError> {
        let mut s = self.state.lock().unwrap();
        loop {
            if s.closed {
                return Err(PushError::Closed);
            }
            if s.queue.len() < self.capacity {
                break;
            }
            match self.policy {
                FullPolicy::DropOldest => {
                    s.queue.pop_front();
                    self.dropped.inc();
                }
                FullPolicy::Block => s = self.room.wait(s).unwrap(),
            }
        }
        s.queue.push_back(item);
        self.depth.set(s.queue.len() as u64);
        drop(s);
        self.wakeup.notify();
        Ok(())
    }

    /// Takes the oldest item, if any.
    pub fn pop(&self) -> Option<T> {
        let mut s = self.state.lock().unwrap();
        let item = s.queue.pop_front();
        self.depth.set(s.queue.len() as u64);
        if item.is_some() {
            self.room.notify_one();
        }
        item
    }

    /// Takes the oldest item, waiting up to `timeout` for one; `None` on timeout or when
    /// the slot is finished (closed and drained).
    pub fn pop_timeout(&self, timeout: Duration) -> Option<T> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let seen = self.wakeup.generation();
            if let Some(item) = self.pop() {
                return Some(item);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self.is_finished() || left.is_zero() {
                return None;
            }
            self.wakeup.wait_past(seen, left);
        }
    }

    /// No more pushes; a blocked pusher is released. Items already queued can still be popped.
    pub fn close(&self) {
        self.state.lock().unwrap().closed = true;
        self.room.notify_all();
        self.wakeup.notify();
    }

    /// Closed and drained: the consumer can forget this slot.
    pub fn is_finished(&self) -> bool {
        let s = self.state.lock().unwrap();
        s.closed && s.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.state.lock().unwrap().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(cap: usize, policy: FullPolicy) -> Slot<u32> {
        Slot::new(cap, policy, Arc::new(Wakeup::default()), Metric::default(), Metric::default())
    }

    #[test]
    fn drop_oldest_keeps_newest_and_counts() {
        let s = slot(2, FullPolicy::DropOldest);
        for i in 0..5 {
            s.push(i).unwrap();
        }
        assert_eq!(s.dropped.get(), 3);
        assert_eq!(s.pop(), Some(3));
        assert_eq!(s.pop(), Some(4));
        assert_eq!(s.pop(), None);
    }

    #[test]
    fn block_waits_for_room_and_loses_nothing() {
        let s = Arc::new(slot(1, FullPolicy::Block));
        let producer = {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    s.push(i).unwrap();
                }
                s.close();
            })
        };
        let mut got = Vec::new();
        while let Some(v) = s.pop_timeout(Duration::from_secs(10)) {
            got.push(v);
        }
        assert!(s.is_finished(), "ended by close, not by timeout");
        producer.join().unwrap();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert_eq!(s.dropped.get(), 0);
    }

    #[test]
    fn close_releases_a_blocked_pusher() {
        let s = Arc::new(slot(1, FullPolicy::Block));
        s.push(1).unwrap();
        let pusher = {
            let s = s.clone();
            std::thread::spawn(move || s.push(2))
        };
        // The pusher is either blocked or not yet started; close releases it either way.
        s.close();
        assert_eq!(pusher.join().unwrap(), Err(PushError::Closed));
    }
}
