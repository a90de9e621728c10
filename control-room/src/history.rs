//! What integrators can ask the control room's store over zenoh:
//! - history: `get` on `qv/{site}/alert/**` (or any narrower key expression) with selector
//!   parameters `since`, `until` (RFC 3339) and `limit`, answered with one reply per alert,
//!   oldest event first, each in its public form (personal fields masked, as on the live
//!   keys; docs/personal-data.md), whoever asks;
//! - CAP: `get` on `qv/{site}/cap/{incident_id}`, answered with the incident's latest state
//!   as an OASIS CAP 1.2 XML document.

use crate::store::Store;
use chrono::{DateTime, Utc};
use crossbeam_channel::Receiver;
use std::path::Path;
use zenoh::Wait;
use zenoh::key_expr::KeyExpr;
use zenoh::query::Query;

/// Replies per query unless `limit` says fewer.
pub const DEFAULT_LIMIT: usize = 1000;
/// Replies per query at most.
pub const MAX_LIMIT: usize = 10_000;

/// A query's time range and size, from its selector parameters.
#[derive(Debug, PartialEq)]
pub struct Range {
    pub since_us: i64,
    pub until_us: i64,
    pub limit: usize,
}

/// Undoes percent-encoding (`%2B` for `+` in a time zone offset), as selector values may be sent.
fn percent_decode(v: &str) -> Option<String> {
    let mut out = Vec::with_capacity(v.len());
    let mut bytes = v.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// Reads `since`, `until` and `limit`; `Err` names the parameter and what is wrong with it.
pub fn parse_range(get: impl Fn(&str) -> Option<String>) -> Result<Range, String> {
    let time = |name: &str, default: i64| -> Result<i64, String> {
        match get(name) {
            None => Ok(default),
            Some(raw) => percent_decode(&raw)
                .ok_or_else(|| format!("parameter {name}={raw:?} has a bad percent-encoding"))
                .and_then(|v| {
                    DateTime::parse_from_rfc3339(&v)
                        .map(|t| t.with_timezone(&Utc).timestamp_micros())
                        .map_err(|e| format!("parameter {name}={v:?} is not an RFC 3339 time: {e}"))
                }),
        }
    };
    let since_us = time("since", i64::MIN)?;
    let until_us = time("until", i64::MAX)?;
    if since_us > until_us {
        return Err("parameter since is after until".into());
    }
    let limit = match get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(format!("parameter limit={v:?} is not a number from 1 to {MAX_LIMIT}")),
        },
    };
    Ok(Range { since_us, until_us, limit })
}

/// Declares the queryables and answers them on a thread of their own (with its own
/// read-only connection, so queries never wait for ingest) until `stop` disconnects.
/// `sender` names this control room in CAP documents.
pub fn serve(
    session: &zenoh::Session,
    store_path: &Path,
    sender: &str,
    stop: Receiver<()>,
) -> Result<std::thread::JoinHandle<()>, String> {
    let (asks_tx, asks) = crossbeam_channel::bounded::<Query>(256);
    let mut queryables = Vec::new();
    for key in [pipeline::keys::alerts_of_every_site(), pipeline::keys::caps_of_every_site()] {
        let tx = asks_tx.clone();
        let q = session
            .declare_queryable(&key)
            .callback(move |q| {
                // Full: the asker gets no reply and times out, rather than stalling zenoh.
                if let Err(crossbeam_channel::TrySendError::Full(q)) = tx.try_send(q) {
                    let _ = q.reply_err("the control room is busy; ask again").wait();
                }
            })
            .wait()
            .map_err(|e| format!("declaring the queryable {key}: {e}"))?;
        queryables.push(q);
    }
    let path = store_path.to_path_buf();
    let sender = sender.to_string();
    std::thread::Builder::new()
        .name("history".into())
        .spawn(move || {
            let store = match Store::open_reader(&path) {
                Ok(s) => s,
                Err(e) => return tracing::error!("history not served: {e}"),
            };
            let _queryables = queryables;
            loop {
                crossbeam_channel::select! {
                    recv(asks) -> q => match q {
                        Ok(q) if pipeline::keys::is_cap(q.key_expr().as_str()) => answer_cap(&store, &q, &sender),
                        Ok(q) => answer(&store, &q),
                        Err(_) => break,
                    },
                    recv(stop) -> _ => break,
                }
            }
        })
        .map_err(|e| format!("spawning history: {e}"))
}

fn answer(store: &Store, query: &Query) {
    let params = query.parameters();
    let range = match parse_range(|name| params.get(name).map(str::to_string)) {
        Ok(r) => r,
        Err(e) => {
            pipeline::metrics::global().metric("qv_history_bad_queries_total", &[]).inc();
            let _ = query.reply_err(e).wait();
            return;
        }
    };
    let asked = query.key_expr();
    let site = pipeline::keys::site_of(asked.as_str());
    let keep = |key: &str| KeyExpr::try_from(key).is_ok_and(|k| asked.intersects(&k));
    match store.alerts_between(site, range.since_us, range.until_us, keep, range.limit) {
        Ok(rows) => {
            for (key, json) in rows {
                let json = public_form(&json);
                if let Err(e) = query.reply(key, json).encoding(zenoh::bytes::Encoding::APPLICATION_JSON).wait() {
                    tracing::warn!("history reply to {asked}: {e}");
                    return;
                }
            }
        }
        Err(e) => {
            tracing::error!("history query {asked}: {e}");
            let _ = query.reply_err(format!("the store could not answer: {e}")).wait();
        }
    }
}

/// A stored alert (whole, as the node sent it on its `pii` key) as the public keys carry it.
/// Fields of a newer contract than this control room's are left out: it cannot tell whether
/// they are personal.
fn public_form(json: &str) -> String {
    match serde_json::from_str::<pipeline::alert::Alert>(json) {
        Ok(a) => pipeline::personal::public(&a).to_json(),
        // Stored alerts parsed when they came; one that no longer does is not sent at all.
        Err(_) => "{}".into(),
    }
}

fn answer_cap(store: &Store, query: &Query, sender: &str) {
    let key = query.key_expr().as_str();
    let id = key.rsplit('/').next().unwrap_or_default();
    let reply = match store.incident(id) {
        Ok(Some(json)) => match serde_json::from_str::<crate::fusion::IncidentUpdate>(&json) {
            Ok(update) => Ok(crate::fusion::cap::to_cap(&update, sender)),
            Err(e) => Err(format!("incident {id}: the stored state does not parse: {e}")),
        },
        Ok(None) => Err(format!("incident {id:?} is not in this control room's store")),
        Err(e) => Err(format!("the store could not answer: {e}")),
    };
    let sent = match reply {
        Ok(xml) => query.reply(key, xml).encoding(zenoh::bytes::Encoding::APPLICATION_XML).wait(),
        Err(e) => query.reply_err(e).wait(),
    };
    if let Err(e) = sent {
        tracing::warn!("CAP reply to {key}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let v: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| v.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn ranges_parse_and_bad_parameters_are_named() {
        let r = parse_range(params(&[("since", "2026-11-22T10:00:00Z"), ("limit", "5")])).unwrap();
        assert_eq!(r.since_us, DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").unwrap().timestamp_micros());
        assert_eq!((r.until_us, r.limit), (i64::MAX, 5));
        assert_eq!(parse_range(params(&[])).unwrap().limit, DEFAULT_LIMIT);
        let e = parse_range(params(&[("until", "yesterday")])).unwrap_err();
        assert!(e.contains("until") && e.contains("yesterday"), "{e}");
        assert!(parse_range(params(&[("limit", "0")])).unwrap_err().contains("limit"));
        let offset = parse_range(params(&[("since", "2026-11-22T15:00:00%2B05:00")])).unwrap();
        assert_eq!(offset.since_us, r.since_us, "a percent-encoded offset is decoded");
        assert!(parse_range(params(&[("since", "2026%2")])).unwrap_err().contains("percent"));
        assert!(parse_range(params(&[("limit", "10001")])).unwrap_err().contains("limit"));
        let e =
            parse_range(params(&[("since", "2026-11-22T11:00:00Z"), ("until", "2026-11-22T10:00:00Z")])).unwrap_err();
        assert!(e.contains("since"), "{e}");
    }
}
