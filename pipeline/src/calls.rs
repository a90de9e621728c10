//! The 102 call feed's records: parsed, checked against `schemas/call.schema.json`, and
//! merged by call id into [`Call`]s (a redelivered record changes nothing; an update adds
//! to its call).
//!
//! Records come by HTTP POST, on zenoh, or replayed from a JSON-lines file; every route
//! hands the raw bytes to [`parse_record`], so a bad record gets the same clear reason
//! (the field, the limit) wherever it came from, and is counted under that reason.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The JSON Schema records are validated against, as shipped to call-centre integrators.
pub const JSON_SCHEMA: &str = include_str!("../schemas/call.schema.json");

/// A record larger than this is refused before it is parsed.
pub const MAX_RECORD_BYTES: usize = 8 << 20;
/// Narrative text kept per call; the rest is cut (and the cut is said), never the call.
pub const MAX_NARRATIVE_BYTES: usize = 16 << 10;
/// How far a record's times may run ahead of this node's clock: call-handling servers keep
/// NTP time, so more is a wrong clock or a forged record, not skew. (Within it, the desk
/// dates the call's alert no later than its receipt.)
pub const MAX_FUTURE_SECS: i64 = 30;
/// A record whose own time (`update_ts`, else `start_ts`) is further back than this is
/// marked ([`Notes::dated_past`]) and queued at its receipt: records reach the desk within
/// seconds of the call-taker, and an old date would put the call ahead of every genuine
/// call of its priority in the alarm queue (ordered by first event time).
pub const MAX_PAST_SECS: i64 = 900;

/// Where the caller is, as the call-handling system knows it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CallLocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertainty_m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Caller {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The call-taker's own classification; it wins over triage when given.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CallTaker {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    #[default]
    Open,
    Closed,
}

/// One record off the feed: a new call, or an update to one (same `call_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub call_id: String,
    pub start_ts: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_ts: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CallStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Caller>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<CallLocation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narrative: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_taker: Option<CallTaker>,
}

/// Why a record was refused. `reason()` is the metrics label; `Display` names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error("record is {0} bytes, over the {MAX_RECORD_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("{path}: {message}")]
    Schema { path: String, message: String },
    #[error("{field}: {message}")]
    Field { field: &'static str, message: String },
    #[error("{field}: {ts} is {ahead_secs} s ahead of this node's clock (at most {MAX_FUTURE_SECS} s allowed)")]
    Future { field: &'static str, ts: DateTime<Utc>, ahead_secs: i64 },
}

impl RecordError {
    pub fn reason(&self) -> &'static str {
        match self {
            RecordError::TooLarge(_) => "too_large",
            RecordError::NotJson(_) => "not_json",
            RecordError::Schema { .. } => "schema",
            RecordError::Field { .. } => "field",
            RecordError::Future { .. } => "future",
        }
    }

    /// What a log may say of the refusal: the field, never its value. `Display`, which the
    /// sender is answered with, may quote a value back (a caller's number, name, address or
    /// narrative, in a schema or serde message).
    pub fn logged(&self) -> String {
        match self {
            RecordError::Schema { path, .. } => format!("{path}: does not match the call schema"),
            RecordError::Field { field, .. } => format!("{field}: not a call record"),
            // Sizes, JSON syntax (line and column) and times: no value of the record.
            RecordError::TooLarge(_) | RecordError::NotJson(_) | RecordError::Future { .. } => self.to_string(),
        }
    }
}

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema: serde_json::Value = serde_json::from_str(JSON_SCHEMA).expect("call.schema.json is JSON");
        jsonschema::validator_for(&schema).expect("call.schema.json compiles")
    })
}

/// What [`parse_record`] noticed but let through (each is counted by the caller).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Notes {
    /// The narrative was longer than [`MAX_NARRATIVE_BYTES`] and was cut to it.
    pub narrative_cut_from: Option<usize>,
    /// The record's own time is more than [`MAX_PAST_SECS`] before the node's clock: what
    /// to tell the sender, naming the field.
    pub dated_past: Option<String>,
}

/// Parses and checks one record: size, JSON, the schema (the first error, with its JSON
/// path), then what a schema cannot say (times not in the future, at `now`; a record dated
/// far back is noted).
pub fn parse_record(bytes: &[u8], now: DateTime<Utc>) -> Result<(CallRecord, Notes), RecordError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge(bytes.len()));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| RecordError::NotJson(e.to_string()))?;
    if let Some(e) = validator().iter_errors(&value).next() {
        let path = e.instance_path().to_string();
        let path = if path.is_empty() { "record".to_string() } else { path.trim_start_matches('/').replace('/', ".") };
        return Err(RecordError::Schema { path, message: e.to_string() });
    }
    let mut record: CallRecord =
        serde_json::from_value(value).map_err(|e| RecordError::Field { field: "record", message: e.to_string() })?;
    for (field, ts) in [("start_ts", Some(record.start_ts)), ("update_ts", record.update_ts)] {
        if let Some(ts) = ts.filter(|ts| (*ts - now).num_seconds() > MAX_FUTURE_SECS) {
            return Err(RecordError::Future { field, ts, ahead_secs: (ts - now).num_seconds() });
        }
    }
    let mut notes = Notes::default();
    // An update's `start_ts` is as old as its call; only the record's own time says when
    // it was written.
    let (field, ts) = match record.update_ts {
        Some(ts) => ("update_ts", ts),
        None => ("start_ts", record.start_ts),
    };
    let age = (now - ts).num_seconds();
    if age > MAX_PAST_SECS {
        let age = if age >= 86_400 { format!("{} days", age / 86_400) } else { format!("{age} s") };
        notes.dated_past = Some(format!(
            "{field}: {ts} is {age} before this node's clock (over {MAX_PAST_SECS} s); queued at its receipt"
        ));
    }
    if let Some(text) = record.narrative.as_mut().filter(|t| t.len() > MAX_NARRATIVE_BYTES) {
        notes.narrative_cut_from = Some(text.len());
        let mut cut = MAX_NARRATIVE_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Ok((record, notes))
}

/// A call as merged from its records so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    pub call_id: String,
    pub start_ts: DateTime<Utc>,
    /// Event time of the latest record merged in.
    pub last_ts: DateTime<Utc>,
    pub status: CallStatus,
    pub caller: Caller,
    pub location: CallLocation,
    pub language: Option<String>,
    /// The narratives of every record, in arrival order, joined by newlines.
    pub narrative: String,
    pub call_taker: CallTaker,
    /// Records merged in, the first included.
    pub records: u32,
}

/// What merging one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// The first record of a call.
    New,
    /// A later record with something new.
    Updated,
    /// The same record again (a redelivery): nothing changed.
    Duplicate,
}

/// The calls seen recently, by id: merges updates and ignores redeliveries. Calls whose
/// last record is older than `keep_secs` of event time are forgotten.
pub struct CallBook {
    calls: HashMap<String, (Call, Vec<[u8; 32]>)>,
    keep_secs: i64,
}

impl CallBook {
    pub fn new(keep_secs: u64) -> Self {
        Self { calls: HashMap::new(), keep_secs: keep_secs as i64 }
    }

    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn get(&self, call_id: &str) -> Option<&Call> {
        self.calls.get(call_id).map(|(c, _)| c)
    }

    /// Merges `r` into its call. Redelivery is recognised by the record's content hash, so
    /// idempotence does not depend on the sender numbering its updates.
    pub fn merge(&mut self, r: CallRecord) -> (Merge, &Call) {
        let hash: [u8; 32] = Sha256::digest(serde_json::to_vec(&r).unwrap_or_default()).into();
        let ts = r.update_ts.unwrap_or(r.start_ts);
        let merge = match self.calls.get_mut(&r.call_id) {
            Some((_, seen)) if seen.contains(&hash) => Merge::Duplicate,
            Some((call, seen)) => {
                seen.push(hash);
                call.records += 1;
                call.last_ts = call.last_ts.max(ts);
                if let Some(s) = r.status {
                    call.status = s;
                }
                if let Some(c) = r.caller {
                    call.caller.number = c.number.or(call.caller.number.take());
                    call.caller.name = c.name.or(call.caller.name.take());
                }
                if let Some(l) = r.location {
                    call.location = l;
                }
                if r.language.is_some() {
                    call.language = r.language;
                }
                if let Some(t) = r.narrative.filter(|t| !t.trim().is_empty()) {
                    if !call.narrative.is_empty() {
                        call.narrative.push('\n');
                    }
                    call.narrative.push_str(&t);
                }
                if let Some(ct) = r.call_taker {
                    call.call_taker.incident_type = ct.incident_type.or(call.call_taker.incident_type.take());
                    call.call_taker.priority = ct.priority.or(call.call_taker.priority);
                }
                Merge::Updated
            }
            None => {
                let call = Call {
                    call_id: r.call_id.clone(),
                    start_ts: r.start_ts,
                    last_ts: ts,
                    status: r.status.unwrap_or_default(),
                    caller: r.caller.unwrap_or_default(),
                    location: r.location.unwrap_or_default(),
                    language: r.language,
                    narrative: r.narrative.unwrap_or_default(),
                    call_taker: r.call_taker.unwrap_or_default(),
                    records: 1,
                };
                self.calls.insert(r.call_id.clone(), (call, vec![hash]));
                Merge::New
            }
        };
        (merge, &self.calls[&r.call_id].0)
    }

    /// Forgets calls whose last record is older than `keep_secs` before `now`.
    pub fn expire(&mut self, now: DateTime<Utc>) {
        let keep = self.keep_secs;
        self.calls.retain(|_, (c, _)| (now - c.last_ts).num_seconds() <= keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-22T10:05:00Z".parse().unwrap()
    }

    fn parse(s: &str) -> Result<CallRecord, RecordError> {
        parse_record(s.as_bytes(), now()).map(|(r, _)| r)
    }

    const GOOD: &str = r#"{"call_id":"102-7","start_ts":"2026-11-22T10:00:00Z",
        "caller":{"number":"+998901234567"},"location":{"lat":41.31,"lon":69.28,"uncertainty_m":50},
        "language":"uz","narrative":"Chilonzorda yong'in"}"#;

    #[test]
    fn a_good_record_parses() {
        let r = parse(GOOD).unwrap();
        assert_eq!(r.call_id, "102-7");
        assert_eq!(r.location.unwrap().lat, Some(41.31));
    }

    #[test]
    fn bad_records_name_what_is_wrong() {
        let e = parse("{not json").unwrap_err();
        assert_eq!(e.reason(), "not_json");
        let e = parse(r#"{"start_ts":"2026-11-22T10:00:00Z"}"#).unwrap_err();
        assert!(e.to_string().contains("call_id"), "{e}");
        let e = parse(&GOOD.replace("41.31", "95")).unwrap_err();
        assert_eq!(e.reason(), "schema");
        assert!(e.to_string().starts_with("location.lat:"), "{e}");
        assert!(e.to_string().contains("95"), "{e}");
        let e = parse(&GOOD.replace("2026-11-22T10:00:00Z", "2026-11-22T12:00:00Z")).unwrap_err();
        assert!(e.to_string().starts_with("start_ts:") && e.to_string().contains("ahead"), "{e}");
        assert_eq!(e.reason(), "future");
        let e = parse(&GOOD.replace("2026-11-22T10:00:00Z", "yesterday")).unwrap_err();
        assert!(e.to_string().contains("start_ts") || e.to_string().contains("record"), "{e}");
        let e = parse(&GOOD.replace(r#""lat":41.31,"#, "")).unwrap_err();
        assert!(e.to_string().contains("location"), "{e}");
    }

    #[test]
    fn a_refusal_as_logged_names_the_field_and_never_the_value() {
        let long = "+998 90 123 45 67 ext 1234567890123";
        let name = format!("Ali Valiyev {}", "x".repeat(200));
        let address = format!("Amir Temur 15 {}", "y".repeat(1000));
        for (record, field) in [
            (GOOD.replace("+998901234567", long), "caller.number"),
            (GOOD.replace(r#""language""#, &format!(r#""caller":{{"name":"{name}"}},"language""#)), "caller.name"),
            (
                GOOD.replace(r#""lat":41.31,"lon":69.28,"#, &format!(r#""address":{address:?},"lat":[1],"lon":2,"#)),
                "location",
            ),
            (GOOD.replace(r#""Chilonzorda yong'in""#, r#"["Chilonzorda yong'in"]"#), "narrative"),
        ] {
            let e = parse(&record).unwrap_err();
            let logged = e.logged();
            assert!(logged.starts_with(field), "{logged} ({e})");
            for value in [long, "Ali Valiyev", "Amir Temur", "Chilonzorda"] {
                assert!(!logged.contains(value), "{value} in {logged}");
            }
        }
        let e = parse(&GOOD.replace("2026-11-22T10:00:00Z", "2026-11-22T12:00:00Z")).unwrap_err();
        assert_eq!(e.logged(), e.to_string(), "a time is no personal value");
    }

    /// Times are bounded by the node's clock: a record more than [`MAX_FUTURE_SECS`] ahead
    /// is refused naming the field; within it, or a little behind, it is taken as is; one
    /// dated far back is taken and noted, naming the field its time came from.
    #[test]
    fn record_times_are_bounded_by_the_node_clock() {
        let at = |ts: &str, update: Option<&str>| {
            let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
            v["start_ts"] = ts.into();
            if let Some(u) = update {
                v["update_ts"] = u.into();
            }
            parse_record(v.to_string().as_bytes(), now())
        };
        // now() is 10:05:00.
        let e = at("2026-11-22T10:05:31Z", None).unwrap_err();
        assert_eq!(
            (e.reason(), e.to_string().as_str()),
            ("future", "start_ts: 2026-11-22 10:05:31 UTC is 31 s ahead of this node's clock (at most 30 s allowed)")
        );
        let e = at("2026-11-22T10:00:00Z", Some("2026-11-23T10:00:00Z")).unwrap_err();
        assert!(e.to_string().starts_with("update_ts: ") && e.reason() == "future", "{e}");
        for (start, update) in [("2026-11-22T10:05:30Z", None), ("2026-11-22T09:50:00Z", None)] {
            let (_, notes) = at(start, update).unwrap();
            assert_eq!(notes.dated_past, None, "{start}");
        }
        let (r, notes) = at("2019-01-01T00:00:00Z", None).unwrap();
        assert_eq!(r.start_ts.to_rfc3339(), "2019-01-01T00:00:00+00:00", "the stated time is kept");
        let note = notes.dated_past.unwrap();
        assert!(note.starts_with("start_ts: 2019-01-01 00:00:00 UTC is 2882 days before this node's clock"), "{note}");
        // A long call's update carries its old start; only its own time counts.
        let (_, notes) = at("2026-11-22T08:00:00Z", Some("2026-11-22T10:04:00Z")).unwrap();
        assert_eq!(notes.dated_past, None);
        let (_, notes) = at("2026-11-22T08:00:00Z", Some("2026-11-22T08:30:00Z")).unwrap();
        let note = notes.dated_past.unwrap();
        assert!(note.starts_with("update_ts: 2026-11-22 08:30:00 UTC is 5700 s before"), "{note}");
    }

    #[test]
    fn a_long_narrative_is_cut_and_said() {
        let big = "yordam ".repeat(5 << 20 >> 3);
        let rec = GOOD.replace("Chilonzorda yong'in", &big);
        let (r, notes) = parse_record(rec.as_bytes(), now()).unwrap();
        assert_eq!(notes.narrative_cut_from, Some(big.len()));
        assert!(r.narrative.unwrap().len() <= MAX_NARRATIVE_BYTES);
        let huge = vec![b' '; MAX_RECORD_BYTES + 1];
        assert_eq!(parse_record(&huge, now()).unwrap_err().reason(), "too_large");
    }

    #[test]
    fn records_merge_by_call_id_and_redelivery_changes_nothing() {
        let mut book = CallBook::new(3600);
        let first = parse(GOOD).unwrap();
        assert_eq!(book.merge(first.clone()).0, Merge::New);
        assert_eq!(book.merge(first).0, Merge::Duplicate);
        let update = parse(
            r#"{"call_id":"102-7","start_ts":"2026-11-22T10:00:00Z","update_ts":"2026-11-22T10:02:00Z",
            "narrative":"ikki kishi yaralangan","call_taker":{"priority":1}}"#,
        )
        .unwrap();
        let (m, call) = book.merge(update);
        assert_eq!(m, Merge::Updated);
        assert_eq!(call.narrative, "Chilonzorda yong'in\nikki kishi yaralangan");
        assert_eq!(call.call_taker.priority, Some(1));
        assert_eq!(call.caller.number.as_deref(), Some("+998901234567"), "kept from the first record");
        assert_eq!(call.records, 2);
        book.expire("2026-11-22T12:00:00Z".parse().unwrap());
        assert!(book.is_empty());
    }
}
