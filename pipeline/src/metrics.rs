//! Counters and gauges every stage exports (queue depths, drops, errors by cause).
//!
//! A tiny registry of atomics rendered in the Prometheus text format: no stage formats
//! strings on the hot path, it only bumps an `Arc<AtomicU64>` it looked up once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// A named counter or gauge; clone the handle once, bump it per event.
#[derive(Debug, Clone, Default)]
pub struct Metric(Arc<AtomicU64>);

impl Metric {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Metrics by name and labels, e.g. `qv_frames_dropped_total{source="cam1"}`.
#[derive(Debug, Default)]
pub struct Registry {
    metrics: Mutex<BTreeMap<String, Metric>>,
}

impl Registry {
    /// The handle for `name{labels}`, created at zero on first use.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Metric {
        let mut key = name.to_string();
        if !labels.is_empty() {
            let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", v.replace('"', "'"))).collect();
            key = format!("{name}{{{}}}", parts.join(","));
        }
        self.metrics.lock().unwrap().entry(key).or_default().clone()
    }

    /// Current value of `name{labels}` (0 if never touched).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.metric(name, labels).get()
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let metrics = self.metrics.lock().unwrap();
        let mut out = String::new();
        for (key, m) in metrics.iter() {
            out.push_str(&format!("{key} {}\n", m.get()));
        }
        out
    }
}

/// The process-wide registry.
pub fn global() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}
