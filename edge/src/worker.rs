//! A bounded worker: one plain thread that does slow work off a hot thread (a plate read, a
//! snapshot), items in order, with a stated policy for when too many are waiting.
//!
//! The one idea: the thread that submits must never wait for the worker. So the backlog is
//! bounded by a count, and what happens to an item beyond it is the submitter's choice,
//! said in the call ([`WhenFull`]) the way a camera's slot says it in its config
//! (`pipeline::slot::FullPolicy`): optional work is refused and counted, work that must not
//! be lost is queued all the same.

use crossbeam_channel::Sender;
use pipeline::metrics::Metric;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

/// What [`Worker::submit`] does with an item when `capacity` refusable items are waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// The item is optional work: refused, handed back, and counted in the worker's
    /// skipped metric (a plate is read a little later; an alert goes on without its
    /// snapshot). Items taken this way count towards the backlog.
    Refuse,
    /// The item must not be lost (an alert passing through): queued whatever the backlog,
    /// and not counted towards it.
    Queue,
}

/// A running worker; dropping it finishes what is queued and joins the thread.
pub struct Worker<T: Send + 'static> {
    tx: Option<Sender<(T, bool)>>,
    pending: Arc<AtomicUsize>,
    capacity: usize,
    skipped: Metric,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> Worker<T> {
    /// Starts thread `name` running `work` on each item, in the order submitted, until the
    /// worker is finished (or `work` returns false: its output is gone). `capacity` (at
    /// least 1) bounds the refusable backlog; `skipped` counts the refusals.
    pub fn start<F>(name: &str, capacity: usize, skipped: Metric, mut work: F) -> Result<Self, String>
    where
        F: FnMut(T) -> bool + Send + 'static,
    {
        let (tx, rx) = crossbeam_channel::unbounded::<(T, bool)>();
        let pending = Arc::new(AtomicUsize::new(0));
        let left = pending.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for (item, counted) in rx.iter() {
                    let go_on = work(item);
                    if counted {
                        left.fetch_sub(1, Ordering::Relaxed);
                    }
                    if !go_on {
                        return;
                    }
                }
            })
            .map_err(|e| format!("spawning the {name} thread: {e}"))?;
        Ok(Self { tx: Some(tx), pending, capacity: capacity.max(1), skipped, thread: Some(thread) })
    }

    /// Queues `item` under `when_full`; `Err(item)` when it was refused (and counted).
    pub fn submit(&self, item: T, when_full: WhenFull) -> Result<(), T> {
        let counted = when_full == WhenFull::Refuse;
        if counted {
            if self.pending.load(Ordering::Relaxed) >= self.capacity {
                self.skipped.inc();
                return Err(item);
            }
            self.pending.fetch_add(1, Ordering::Relaxed);
        }
        match &self.tx {
            Some(tx) => tx.send((item, counted)).map_err(|e| {
                if counted {
                    self.pending.fetch_sub(1, Ordering::Relaxed);
                }
                e.into_inner().0
            }),
            None => Err(item),
        }
    }

    /// Refusable items waiting or under way.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Finishes what is queued, then stops.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl<T: Send + 'static> Drop for Worker<T> {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_worker_refuses_optional_items_counts_them_and_queues_the_rest() {
        let skipped = pipeline::metrics::global().metric("qv_worker_test_skipped_total", &[]);
        let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        // The worker holds each item until the test lets it go.
        let w = Worker::start("worker-test", 2, skipped.clone(), move |i: u32| {
            let _ = gate_rx.recv();
            done_tx.send(i).is_ok()
        })
        .unwrap();
        assert_eq!(w.submit(1, WhenFull::Refuse), Ok(()));
        assert_eq!(w.submit(2, WhenFull::Refuse), Ok(()));
        assert_eq!(w.submit(3, WhenFull::Refuse), Err(3), "two are waiting: the third is refused");
        assert_eq!(skipped.get(), 1);
        assert_eq!(w.submit(4, WhenFull::Queue), Ok(()), "what must not be lost is queued all the same");
        assert_eq!(w.pending(), 2, "queued items do not count towards the backlog");
        for _ in 0..3 {
            gate_tx.send(()).unwrap();
        }
        assert_eq!(done_rx.iter().take(3).collect::<Vec<_>>(), [1, 2, 4], "in the order submitted");
        assert_eq!(w.pending(), 0);
        assert_eq!(w.submit(5, WhenFull::Refuse), Ok(()), "room again");
        drop(gate_tx);
        w.finish();
        assert_eq!(done_rx.try_iter().collect::<Vec<_>>(), [5], "finishing does what was queued");
    }
}
