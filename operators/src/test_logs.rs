//! Test support: the log lines a piece of code writes, as text, so a test can check what
//! they carry (no plate, no personal field). A plain `tracing` subscriber for the calling
//! thread only: no thread, no global state.

use std::fmt::Write;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

/// One event's fields, `name=value` each (the message as `message=…`).
struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = event.metadata().level().to_string();
        event.record(&mut Line(&mut line));
        let mut all = self.0.lock().unwrap();
        all.push_str(&line);
        all.push('\n');
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// What `f` returns, and every event it logged on this thread, one line each.
pub fn logs_of<R>(f: impl FnOnce() -> R) -> (R, String) {
    let capture = Capture::default();
    let r = tracing::subscriber::with_default(capture.clone(), f);
    let text = capture.0.lock().unwrap().clone();
    (r, text)
}
