//! The history queryable: `get` on `qv/{site}/alert/**` (or any narrower key expression)
//! with selector parameters `since`, `until` (RFC 3339) and `limit`, answered from the
//! control-room store with one reply per alert, oldest event first.

use crate::store::Store;
use chrono::{DateTime, Utc};
use crossbeam_channel::Receiver;
use std::path::Path;
use std::time::Duration;
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
                .and_then(|v| DateTime::parse_from_rfc3339(&v)
                    .map(|t| t.with_timezone(&Utc).timestamp_micros())
                    .map_err(|e| format!("parameter {name}={v:?} is not an RFC 3339 time: {e}"))),
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

/// Declares the queryable and answers it on a thread of its own (with its own read-only
/// connection, so history never waits for ingest) until `stop` disconnects.
pub fn serve(session: &zenoh::Session, store_path: &Path, stop: Receiver<()>) -> Result<std::thread::JoinHandle<()>, String> {
    let queryable =
        session.declare_queryable("qv/*/alert/**").wait().map_err(|e| format!("declaring the history queryable: {e}"))?;
    let path = store_path.to_path_buf();
    std::thread::Builder::new()
        .name("history".into())
        .spawn(move || {
            let store = match Store::open_reader(&path) {
                Ok(s) => s,
                Err(e) => return tracing::error!("history not served: {e}"),
            };
            loop {
                if let Ok(Some(query)) = queryable.recv_timeout(Duration::from_millis(200)) {
                    answer(&store, &query);
                }
                if stop.try_recv() == Err(crossbeam_channel::TryRecvError::Disconnected) {
                    break;
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
    let site = asked.as_str().split('/').nth(1).filter(|s| pipeline::keys::is_chunk(s));
    let keep = |key: &str| KeyExpr::try_from(key).is_ok_and(|k| asked.intersects(&k));
    match store.alerts_between(site, range.since_us, range.until_us, keep, range.limit) {
        Ok(rows) => {
            for (key, json) in rows {
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
        let e = parse_range(params(&[("since", "2026-11-22T11:00:00Z"), ("until", "2026-11-22T10:00:00Z")])).unwrap_err();
        assert!(e.contains("since"), "{e}");
    }
}
