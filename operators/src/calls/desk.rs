//! The 102 desk: each call record off the feed is checked and merged into its call
//! (`pipeline::calls`), triaged ([`super::triage`], with e5 embeddings when the model is
//! fetched), placed (the cameras that see it, with their recent alerts), and given the
//! nearest available patrol units; the call then goes out as a `call_received` episode
//! (begin, an update per new record, end when closed) that fusion joins with camera and
//! sensor alerts on `correlation.call` and `correlation.place`.
//!
//! [`CallDesk`] is plain state driven by its caller (the edge's feed thread, or a test), on
//! the node clock passed in: nothing here sleeps, spawns or opens a socket.

use super::CallsConfig;
use super::embed::Embedder;
use super::fleet::{Fleet, UnitReport};
use super::place::{CameraView, Places};
use super::triage::{Triage, TriageResult};
use crate::detect::Manifest;
use crate::rules::{AlertContext, AlertParts};
use chrono::{DateTime, Utc};
use pipeline::alert::{self, Alert, AlertSource, ClockState, Phase, Severity, SourceKind};
use pipeline::calls::{CallBook, CallStatus, Merge, parse_record};
use pipeline::feed::Outcome;
use pipeline::metrics;
use serde_json::{Value, json};
use uuid::Uuid;

/// Calls, their triage and place, and the patrol fleet.
pub struct CallDesk {
    cfg: CallsConfig,
    site: String,
    book: CallBook,
    triage: Triage,
    embedder: Option<Embedder>,
    places: Places,
    fleet: Fleet,
    /// Episode per open call.
    episodes: std::collections::HashMap<String, Uuid>,
    provenance: serde_json::Map<String, Value>,
}

impl CallDesk {
    /// Builds the desk for the cameras that see the site (`views`); loads the embedding model
    /// when `cfg.embeddings` (an error names what is missing: run `qorovul models fetch`).
    pub fn new(cfg: &CallsConfig, site: &str, views: Vec<CameraView>) -> Result<Self, String> {
        let triage_cfg = cfg.triage_config()?;
        let mut provenance = serde_json::Map::new();
        let cfg_hash = pipeline::hash::sha256_hex(toml::to_string(&triage_cfg).unwrap_or_default());
        provenance.insert("triage_config".into(), format!("sha256:{cfg_hash}").into());
        let (triage, embedder) = if cfg.embeddings {
            let manifest = Manifest::builtin();
            let mut embedder = Embedder::load(&manifest, 1).map_err(|e| format!("calls.embeddings: {e}"))?;
            let examples: Vec<&str> = triage_cfg.examples().into_iter().map(|(_, _, t)| t).collect();
            let vectors = embedder.embed(&examples, "query: ")?;
            if let Ok(m) = manifest.entry("e5_small") {
                provenance.insert("model".into(), format!("e5_small sha256:{}", m.sha256).into());
            }
            (Triage::new(triage_cfg, Some(vectors))?, Some(embedder))
        } else {
            (Triage::new(triage_cfg, None)?, None)
        };
        Ok(Self {
            cfg: cfg.clone(),
            site: site.into(),
            book: CallBook::new(cfg.keep_secs),
            triage,
            embedder,
            places: Places::new(cfg.place.clone(), views),
            fleet: Fleet::new(cfg.fleet.clone()),
            episodes: Default::default(),
            provenance,
        })
    }

    /// A camera alert, kept for verifying calls near that camera.
    pub fn observe(&mut self, a: &Alert) {
        self.places.observe(a);
    }

    /// One patrol unit report (JSON) at node time `now`. A fix already older than
    /// `stale_secs` is kept (it is the unit's latest) but said: it is never suggested.
    pub fn unit_report(&mut self, bytes: &[u8], now: DateTime<Utc>) -> Outcome {
        let stale_secs = self.cfg.fleet.stale_secs as i64;
        let report = UnitReport::parse(bytes).and_then(|r| {
            let (unit, ts) = (r.unit.clone(), r.ts);
            self.fleet.report(r, now).map(|()| (unit, ts))
        });
        match report {
            Ok((unit, ts)) => {
                let age = (now - ts).num_seconds();
                let mut notes = vec![];
                if age > stale_secs {
                    metrics::global().metric("qv_feed_noted_total", &[("feed", "units"), ("note", "stale")]).inc();
                    notes.push(format!(
                        "ts: fix time {ts} is {age} s before this node's clock (over stale_secs {stale_secs}); kept, not suggested"
                    ));
                }
                Outcome { result: "accepted", id: Some(unit), notes }
            }
            Err(e) => {
                metrics::global().metric("qv_feed_rejected_total", &[("feed", "units"), ("reason", e.reason())]).inc();
                tracing::warn!("unit report refused: {e}");
                Outcome::refused(e.to_string())
            }
        }
    }

    /// One call record (JSON) at node time `now`; the alert it causes goes to `out`.
    pub fn call_record(&mut self, bytes: &[u8], now: DateTime<Utc>, out: &mut Vec<Alert>) -> Outcome {
        let m = metrics::global();
        let (record, notes) = match parse_record(bytes, now) {
            Ok(r) => r,
            Err(e) => {
                m.metric("qv_feed_rejected_total", &[("feed", "calls"), ("reason", e.reason())]).inc();
                // The sender is told `e`; the log only the field: `e` may quote a caller's data.
                tracing::warn!(reason = e.reason(), "call record refused: {}", e.logged());
                return Outcome::refused(e.to_string());
            }
        };
        let mut said = Vec::new();
        if let Some(n) = notes.narrative_cut_from {
            m.metric("qv_feed_noted_total", &[("feed", "calls"), ("note", "narrative_cut")]).inc();
            said.push(format!("narrative: {n} bytes, cut to the first {}", pipeline::calls::MAX_NARRATIVE_BYTES));
        }
        if let Some(note) = &notes.dated_past {
            m.metric("qv_feed_noted_total", &[("feed", "calls"), ("note", "dated_past")]).inc();
            tracing::warn!("call record dated far back: {note}");
            said.push(note.clone());
        }
        self.book.expire(now);
        // A call forgotten without a closing record ends its episode silently here: the
        // call centre never closed it, and an `end` now would claim it did.
        let book = &self.book;
        self.episodes.retain(|id, _| book.get(id).is_some());
        let (merge, call) = self.book.merge(record);
        let call = call.clone();
        let result = match merge {
            Merge::Duplicate => {
                m.metric("qv_feed_duplicates_total", &[("feed", "calls")]).inc();
                return Outcome { result: "duplicate", id: Some(call.call_id), notes: said };
            }
            Merge::New => "accepted",
            Merge::Updated => "updated",
        };
        m.metric("qv_calls_total", &[("result", result)]).inc();

        let embedding = match (&mut self.embedder, call.narrative.trim().is_empty()) {
            (Some(e), false) => {
                match e.embed(&[&self.triage.embedding_text(&call.narrative)], super::triage::EMBED_PREFIX) {
                    Ok(mut v) => v.pop(),
                    Err(err) => {
                        tracing::warn!("call {}: embedding failed, lexicon only: {err}", call.call_id);
                        None
                    }
                }
            }
            _ => None,
        };
        let taker = super::triage::CallTaker {
            incident_type: call.call_taker.incident_type.clone(),
            priority: call.call_taker.priority,
        };
        let triage = self.triage.classify(&call.narrative, embedding.as_deref(), Some(&taker));
        if triage.needs_review {
            m.metric("qv_calls_needs_review_total", &[]).inc();
        }
        let located = self.places.locate(
            call.location.lat,
            call.location.lon,
            call.location.uncertainty_m,
            call.location.address.as_deref(),
        );
        if located.is_none() {
            m.metric("qv_feed_noted_total", &[("feed", "calls"), ("note", "unplaced")]).inc();
            said.push("location: no coordinates and the address is not in the gazetteer; place unknown".into());
        }
        let verification =
            located.map(|l| self.places.verify(l, call.start_ts, now.max(call.last_ts))).unwrap_or_default();
        let units = located.map(|l| self.fleet.nearest(l.point, now)).unwrap_or_default();

        let (phase, episode) = match (self.episodes.get(&call.call_id).copied(), call.status) {
            (None, _) => {
                let id = alert::new_id();
                if call.status == CallStatus::Open {
                    self.episodes.insert(call.call_id.clone(), id);
                }
                (Phase::Begin, id)
            }
            (Some(id), CallStatus::Open) => (Phase::Update, id),
            (Some(id), CallStatus::Closed) => {
                self.episodes.remove(&call.call_id);
                (Phase::End, id)
            }
        };
        let excerpt: String = call.narrative.chars().take(self.cfg.narrative_excerpt_chars).collect();
        let mut attributes = serde_json::Map::new();
        attributes.insert("call_id".into(), call.call_id.clone().into());
        attributes.insert("incident_type".into(), triage.incident_type.clone().into());
        attributes.insert("call_type".into(), triage.label.clone().into());
        attributes.insert("priority".into(), triage.priority.into());
        attributes.insert("triage".into(), triage_json(&triage));
        attributes.insert("narrative".into(), excerpt.into());
        // Whole: the alert travels whole only on its pii key, and masked everywhere else
        // (`pipeline::personal`), so the operator who reveals it can call back.
        if let Some(n) = &call.caller.number {
            attributes.insert("caller_number".into(), n.clone().into());
        }
        if let Some(n) = &call.caller.name {
            attributes.insert("caller_name".into(), n.clone().into());
        }
        if let Some(l) = &call.language {
            attributes.insert("language".into(), l.clone().into());
        }
        if let Some(a) = &call.location.address {
            attributes.insert("address".into(), a.clone().into());
        }
        if let Some(l) = located {
            attributes.insert("uncertainty_m".into(), l.uncertainty_m.into());
        }
        attributes.insert("records".into(), call.records.into());
        attributes.insert("verification".into(), serde_json::to_value(&verification).unwrap_or_default());
        attributes.insert("units".into(), serde_json::to_value(&units).unwrap_or_default());
        if !said.is_empty() {
            attributes.insert("notes".into(), json!(said));
        }
        let point = located.map(|l| l.point);
        let source = AlertSource {
            kind: SourceKind::Call,
            id: self.cfg.source_id.clone(),
            name: self.cfg.source_name.clone(),
            location: point,
        };
        // The context puts the source's location (the call's place) in `correlation.place`.
        let ctx = AlertContext { site: self.site.clone(), source, provenance: self.provenance.clone() };
        // Dated by the call's time, bounded by the node's clock: never after its receipt (a
        // sender's clock ahead moves no watermark), and a record dated far back is dated at
        // its receipt, so it cannot jump ahead of genuine calls in the alarm queue.
        let event_ts = if notes.dated_past.is_some() { now } else { call.last_ts.min(now) };
        let mut alert = ctx.alert(AlertParts {
            episode,
            kind: "call_received",
            rule: "call_triage",
            phase,
            severity: severity_of(triage.priority),
            confidence: triage.confidence,
            event_ts,
            ingest_ts: now,
            clock: ClockState::Unsynced,
            objects: vec![],
            attributes,
        });
        alert.correlation.call = Some(call.call_id.clone());
        out.push(alert);
        Outcome { result, id: Some(call.call_id), notes: said }
    }
}

/// Priority 1 (immediate) is critical … 4 (routine) is low.
pub fn severity_of(priority: u8) -> Severity {
    match priority {
        1 => Severity::Critical,
        2 => Severity::High,
        3 => Severity::Medium,
        _ => Severity::Low,
    }
}

fn triage_json(t: &TriageResult) -> Value {
    json!({
        "source": t.source,
        "confidence": t.confidence,
        "needs_review": t.needs_review,
        "life_threatening": t.life_threatening,
        "script": t.script,
        "language": t.language,
        "form": t.form,
        "reasons": t.reasons,
        "keywords": t.matched.iter().map(|k| k.keyword.clone()).collect::<Vec<_>>(),
        "urgency_cues": t.urgency_cues,
        "top": t.top,
    })
}
