//! The fusion engine: alerts in, incident updates out, on event time only.
//!
//! State is per site (an incident never spans sites: it is published under one site's key).
//! Each site keeps its watermark, its open incidents in creation order, an index from alert
//! id and episode to the correlation incident holding them, and the pending alerts of each
//! `event_count` group. Everything is deterministic: no wall clock, no randomness, no
//! iteration over hash maps, so replaying the same alerts gives the same updates byte for byte.
//!
//! The time an alert is fused at is its stated event time bounded by the time the control room
//! received it ([`FusionConfig::bound`]): the caller passes that received time in
//! ([`Engine::ingest_at`]) and the store keeps it, so a node with a wrong clock cannot move its
//! site's watermark and replay still gives the same updates.
//!
//! An alert never looks at every open incident: [`Indexes`] (a spatial grid for `near`, key
//! values for `same_key`, groups for `event_count`, a retention queue) name the few it may
//! touch, and those are checked in creation order exactly as a scan over all of them would.
//! An alert costs O(log n) in the open incidents, plus the few sharing its cells, keys or group.

use super::config::{FusionConfig, RuleConfig, TimeMark};
use super::index::{Entry, Indexed, Indexes};
use chrono::{DateTime, Utc};
use pipeline::alert::{Alert, GeoPoint, Phase, Severity, SourceKind};
use pipeline::geo::haversine_m;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

/// `MAJOR.MINOR` of the incident message (`pipeline/schemas/incident.schema.json`).
pub const SCHEMA_VERSION: &str = "1.2";

/// Mixed into every incident id, so ids never collide with another use of the same hashing.
const ID_NAMESPACE: &[u8] = b"qorovul/fusion/incident/1";

/// Member `rule` of an alert that joined because its episode was already in the incident.
const EPISODE_RULE: &str = "episode";

/// What an update says happened to the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// First message for this incident id.
    Created,
    /// Members, span, severity, place or keys changed.
    Updated,
    /// Last message for this id: retained long enough, or merged into `merged_into`.
    Closed,
}

/// Distinct correlation key values seen among an incident's members, in first-seen order.
/// Plates and containers are joined on their keyed hashes (`plate_key`, `container_key`, since
/// 1.2) and shown masked (`plate[i]` is the masked plate of `plate_key[i]`): an incident
/// message holds no personal data (docs/personal-data.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentKeys {
    pub plate: Vec<String>,
    pub container: Vec<String>,
    pub call: Vec<String>,
    #[serde(default)]
    pub plate_key: Vec<String>,
    #[serde(default)]
    pub container_key: Vec<String>,
}

/// One alert's membership in an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub alert_id: Uuid,
    pub episode: Uuid,
    pub kind: String,
    pub source_kind: SourceKind,
    pub source_id: String,
    /// The event time fusion used: the alert's own, or the time the control room received it
    /// when the stated one was in the future (`time_mark: "future"`).
    pub event_ts: DateTime<Utc>,
    pub severity: Severity,
    /// The alert's event time was below its site's watermark when it arrived (a backlog).
    pub late: bool,
    /// The rule that joined it: a configured rule's name, `episode` (its episode was already a
    /// member), or `null` for the alert that opened a correlation incident.
    pub rule: Option<String>,
    /// Set when the stated event time was implausible against the control room's clock on
    /// arrival (see [`FusionConfig::bound`]); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_mark: Option<TimeMark>,
    /// The event time the node stated, when fusion used another (`time_mark: "future"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stated_event_ts: Option<DateTime<Utc>>,
}

/// An incident: alerts that belong together. Fusion owns membership and severity; workflow
/// state (acknowledged, assigned, resolved) belongs to the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Deterministic UUIDv8: SHA-256 of a fixed namespace, the raising rule and the first member's alert id.
    pub id: Uuid,
    pub site: String,
    /// The opening alert's kind, or an `event_count` rule's `incident_kind`.
    pub kind: String,
    /// The `event_count` rule that raised it; `null` for a correlation incident.
    pub rule: Option<String>,
    /// Derived: the most severe member (at least the rule's severity for `event_count`),
    /// one level higher when members come from `escalate_at_source_kinds` source kinds.
    pub severity: Severity,
    pub first_event_ts: DateTime<Utc>,
    pub last_event_ts: DateTime<Utc>,
    /// The place of the first member (in arrival order) that has one; the `near` anchor.
    pub place: Option<GeoPoint>,
    pub keys: IncidentKeys,
    /// Distinct source kinds among the members, in contract order.
    pub source_kinds: Vec<SourceKind>,
    /// Sorted by event time; ties keep arrival order.
    pub members: Vec<Member>,
    pub closed: bool,
    /// The incident this one was merged into (then `closed` is true).
    pub merged_into: Option<Uuid>,
}

impl Incident {
    /// The zenoh key expression: `qv/{site}/incident/{id}`.
    pub fn key_expr(&self) -> String {
        incident_key_expr(&self.site, self.id)
    }
}

/// `qv/{site}/incident/{id}`.
pub fn incident_key_expr(site: &str, id: Uuid) -> String {
    pipeline::keys::incident(site, &id.to_string())
}

/// One incident message: the full incident after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentUpdate {
    pub schema_version: String,
    pub change: Change,
    pub incident: Incident,
}

impl IncidentUpdate {
    fn new(change: Change, incident: &Incident) -> Self {
        Self { schema_version: SCHEMA_VERSION.into(), change, incident: incident.clone() }
    }

    /// The zenoh key expression: `qv/{site}/incident/{id}`.
    pub fn key_expr(&self) -> String {
        self.incident.key_expr()
    }

    /// The wire form: one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an IncidentUpdate always serialises")
    }
}

/// An alert's place: `correlation.place`, else the first object's ground point, else the
/// source's location. A point outside WGS 84 ranges (untrusted input) counts as none.
pub fn alert_place(alert: &Alert) -> Option<GeoPoint> {
    let valid = |p: &GeoPoint| (-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.lon);
    alert
        .correlation
        .place
        .filter(valid)
        .or_else(|| alert.objects.first().and_then(|o| o.ground).filter(valid))
        .or_else(|| alert.source.location.filter(valid))
}

/// Correlates alerts into incidents. Single-threaded: the caller owns it and feeds it alerts
/// in arrival order; it does no I/O and reads no clock.
pub struct Engine {
    cfg: FusionConfig,
    lateness_us: i64,
    close_after_us: i64,
    sites: BTreeMap<String, Site>,
    /// Creation order of incidents, engine-wide; the smaller is the older.
    next_seq: u64,
    /// Reused per alert: seqs of open incidents an index says the alert may touch.
    found: Vec<u64>,
    /// Reused per alert: the open incidents an alert links to, oldest first.
    candidates: Vec<(u64, Link)>,
    /// Decide by scanning every open incident, as before there were indexes; set only by
    /// tests, which check that the indexes change nothing.
    scan: bool,
}

/// Why an alert links to a correlation incident.
#[derive(Debug, Clone, Copy)]
enum Link {
    Episode,
    Rule(usize),
}

struct Site {
    /// Newest event time seen, µs since the epoch.
    max_us: Option<i64>,
    /// Open incidents by seq, i.e. in creation order.
    open: BTreeMap<u64, Open>,
    /// Which open incidents an alert may link to or join, and when each expires.
    index: Indexes,
    /// Alert id → seq of the correlation incident holding it (duplicates are dropped).
    by_alert: HashMap<Uuid, u64>,
    /// Episode → seq of the correlation incident holding its latest alert.
    by_episode: HashMap<Uuid, u64>,
    /// Per rule index (empty for non-`event_count` rules): group value → pending alerts by event time.
    pending: Vec<BTreeMap<String, Vec<Pending>>>,
    /// `(earliest event time, rule index, group)` of every pending group: their retention queue.
    pending_expiry: BTreeSet<(i64, usize, String)>,
}

/// An alert counted by an `event_count` rule, not yet part of its incident.
struct Pending {
    ts: i64,
    place: Option<GeoPoint>,
    keys: [Option<String>; 3],
    shown: [Option<String>; 2],
    member: Member,
}

struct Open {
    seq: u64,
    /// `(rule index, group value)` of an `event_count` incident; `None` for correlation.
    count: Option<(usize, String)>,
    /// Correlation rules whose kinds filter at least one member passes.
    rule_mask: u64,
    /// Bits of the members' source kinds.
    kinds_mask: u8,
    /// Severity before escalation.
    base: Severity,
    first_us: i64,
    last_us: i64,
    incident: Incident,
    /// Where the incident is entered in its site's [`Indexes`].
    indexed: Indexed,
}

impl Engine {
    /// Builds the engine; a bad config is refused with the field (see [`FusionConfig::validate`]).
    pub fn new(cfg: FusionConfig) -> Result<Self, String> {
        cfg.validate()?;
        let lateness_us = secs_to_us(cfg.allowed_lateness_secs);
        let close_after_us = secs_to_us(cfg.close_after_secs);
        Ok(Self {
            cfg,
            lateness_us,
            close_after_us,
            sites: BTreeMap::new(),
            next_seq: 0,
            found: Vec::new(),
            candidates: Vec::new(),
            scan: false,
        })
    }

    /// Test only: the same engine deciding by scanning every open incident, as before it had indexes.
    #[cfg(test)]
    pub(super) fn scanning(mut self) -> Self {
        self.scan = true;
        self
    }

    /// The config the engine was built from.
    pub fn config(&self) -> &FusionConfig {
        &self.cfg
    }

    /// The site's watermark: newest event time seen minus the allowed lateness.
    pub fn watermark(&self, site: &str) -> Option<DateTime<Utc>> {
        let max = self.sites.get(site)?.max_us?;
        DateTime::from_timestamp_micros(max.saturating_sub(self.lateness_us))
    }

    /// Open incidents, by site name then creation order.
    pub fn open_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.sites.values().flat_map(|s| s.open.values().map(|o| &o.incident))
    }

    /// [`Engine::ingest_at`] with the alert's stated event time taken as the time it was
    /// received, i.e. trusted as it came: for recorded streams, tools and tests. The control
    /// room passes its own clock instead.
    pub fn ingest(&mut self, alert: &Alert) -> Vec<IncidentUpdate> {
        self.ingest_at(alert, alert.event_ts)
    }

    /// Takes one alert that the control room received at `received` (its own clock, as
    /// stored); returns the incidents it created, changed, merged away or let close, in that
    /// order. An alert id already in an open incident (a redelivery) returns nothing. The
    /// alert is fused at its stated event time bounded by `received` ([`FusionConfig::bound`]).
    pub fn ingest_at(&mut self, alert: &Alert, received: DateTime<Utc>) -> Vec<IncidentUpdate> {
        let mut out = Vec::new();
        if self.cfg.ignore_kinds.contains(&alert.kind) {
            return out;
        }
        if !self.sites.contains_key(alert.site.as_str()) {
            let site = Site {
                max_us: None,
                open: BTreeMap::new(),
                index: Indexes::new(&self.cfg),
                by_alert: HashMap::new(),
                by_episode: HashMap::new(),
                pending: self.cfg.rules.iter().map(|_| BTreeMap::new()).collect(),
                pending_expiry: BTreeSet::new(),
            };
            self.sites.insert(alert.site.clone(), site);
        }
        let Self { cfg, lateness_us, close_after_us, sites, next_seq, found, candidates, scan } = self;
        let site = sites.get_mut(alert.site.as_str()).expect("inserted above");
        if site.by_alert.contains_key(&alert.id) {
            return out;
        }
        let (event_ts, time_mark) = cfg.bound(alert.event_ts, received);
        let stated_event_ts = (time_mark == Some(TimeMark::Future)).then_some(alert.event_ts);
        let ts = event_ts.timestamp_micros();
        let late = site.max_us.is_some_and(|max| ts < max.saturating_sub(*lateness_us));
        site.max_us = Some(site.max_us.map_or(ts, |max| max.max(ts)));
        let place = alert_place(alert);
        let c = &alert.correlation;
        let keys = [c.plate_key.as_deref(), c.container_key.as_deref(), c.call.as_deref()];
        let shown = [c.plate.as_deref(), c.container.as_deref()];
        let member = |rule: Option<String>| Member {
            alert_id: alert.id,
            episode: alert.episode,
            kind: alert.kind.clone(),
            source_kind: alert.source.kind,
            source_id: alert.source.id.clone(),
            event_ts,
            severity: alert.severity,
            late,
            rule,
            time_mark,
            stated_event_ts,
        };
        let escalate_at = cfg.escalate_at_source_kinds;

        // Correlation: every alert ends up in exactly one correlation incident.
        let rule_mask = cfg
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| !matches!(r, RuleConfig::EventCount(_)) && r.accepts(&alert.kind))
            .fold(0u64, |m, (i, _)| m | 1 << i);
        let episode_seq = site.by_episode.get(&alert.episode).copied();
        found.clear();
        if *scan {
            found.extend(site.open.keys());
        } else {
            found.extend(episode_seq);
            site.index.candidates(place, keys, rule_mask, found);
        }
        // Checked in creation order, so the candidates are those a scan of every open incident finds.
        found.sort_unstable();
        found.dedup();
        candidates.clear();
        for &seq in found.iter() {
            let Some(o) = site.open.get(&seq).filter(|o| o.count.is_none()) else { continue };
            if episode_seq == Some(seq) {
                candidates.push((seq, Link::Episode));
            } else if let Some(r) = first_link(&cfg.rules, o, alert, ts, place, rule_mask) {
                candidates.push((seq, Link::Rule(r)));
            }
        }
        let seq = match candidates.first().copied() {
            None => {
                let seq = *next_seq;
                *next_seq += 1;
                let mut o = Open::new(seq, incident_id("", alert.id), alert, alert.kind.clone(), None, ts);
                o.add(member(None), ts, place, keys, shown, rule_mask, escalate_at);
                out.push(IncidentUpdate::new(Change::Created, &o.incident));
                o.reindex(&mut site.index);
                site.open.insert(seq, o);
                seq
            }
            Some((survivor, link)) => {
                // Candidates are in creation order, so the first is the oldest: it keeps its id.
                let rule = match link {
                    Link::Episode => EPISODE_RULE.to_string(),
                    Link::Rule(r) => cfg.rules[r].name().to_string(),
                };
                let merged: Vec<Open> = candidates[1..]
                    .iter()
                    .map(|(seq, _)| site.open.remove(seq).expect("candidates are open"))
                    .collect();
                let mut closed = Vec::with_capacity(merged.len());
                let o = site.open.get_mut(&survivor).expect("candidates are open");
                for mut other in merged {
                    other.unindex(&mut site.index);
                    other.incident.closed = true;
                    other.incident.merged_into = Some(o.incident.id);
                    closed.push(IncidentUpdate::new(Change::Closed, &other.incident));
                    for m in &other.incident.members {
                        site.by_alert.insert(m.alert_id, o.seq);
                        if site.by_episode.get(&m.episode) == Some(&other.seq) {
                            site.by_episode.insert(m.episode, o.seq);
                        }
                    }
                    o.absorb(other, escalate_at);
                }
                o.add(member(Some(rule)), ts, place, keys, shown, rule_mask, escalate_at);
                o.reindex(&mut site.index);
                out.push(IncidentUpdate::new(Change::Updated, &o.incident));
                out.append(&mut closed);
                o.seq
            }
        };
        site.by_alert.insert(alert.id, seq);
        site.by_episode.insert(alert.episode, seq);

        // event_count: only `begin` alerts count, so one episode counts once.
        if alert.phase == Phase::Begin {
            for (r, rule) in cfg.rules.iter().enumerate() {
                let RuleConfig::EventCount(ec) = rule else { continue };
                if !rule.accepts(&alert.kind) {
                    continue;
                }
                let Some(group) = ec.group_by.value(alert) else { continue };
                let span = secs_to_us(ec.timespan_secs);
                // The oldest incident of the group within the span joins it.
                let fits =
                    |o: &Open| o.count.as_ref().is_some_and(|(cr, g)| *cr == r && g == group) && o.gap(ts) <= span;
                let joined = if *scan {
                    site.open.values().find(|o| fits(o)).map(|o| o.seq)
                } else {
                    site.index.count_incidents(r, group).find(|seq| fits(&site.open[seq]))
                };
                if let Some(seq) = joined {
                    let o = site.open.get_mut(&seq).expect("indexed incidents are open");
                    o.add(member(Some(ec.name.clone())), ts, place, keys, shown, 0, escalate_at);
                    o.reindex(&mut site.index);
                    out.push(IncidentUpdate::new(Change::Updated, &o.incident));
                    continue;
                }
                let groups = &mut site.pending[r];
                if !groups.contains_key(group) {
                    groups.insert(group.to_string(), Vec::new());
                }
                let buf = groups.get_mut(group).expect("inserted above");
                let front = buf.first().map(|p| p.ts);
                let pos = buf.partition_point(|p| p.ts <= ts);
                let (keys, shown) = (keys.map(|k| k.map(str::to_string)), shown.map(|k| k.map(str::to_string)));
                buf.insert(pos, Pending { ts, place, keys, shown, member: member(Some(ec.name.clone())) });
                let need = ec.count as usize;
                // A window of `need` consecutive pending alerts that holds the new one and fits the span.
                let start = (pos.saturating_sub(need - 1)..=pos)
                    .find(|&i| i + need - 1 < buf.len() && buf[i + need - 1].ts - buf[i].ts <= span);
                let batch: Option<Vec<Pending>> = start.map(|start| {
                    let t0 = buf[start].ts;
                    let end = buf.partition_point(|p| p.ts <= t0.saturating_add(span));
                    buf.drain(start..end).collect()
                });
                requeue(&mut site.pending_expiry, r, group, front, buf.first().map(|p| p.ts));
                if buf.is_empty() {
                    groups.remove(group);
                }
                let Some(batch) = batch else { continue };
                let t0 = batch[0].ts;
                let seq = *next_seq;
                *next_seq += 1;
                let id = incident_id(&ec.name, batch[0].member.alert_id);
                let mut o = Open::new(seq, id, alert, ec.incident_kind.clone(), Some(ec.name.clone()), t0);
                o.count = Some((r, group.to_string()));
                o.base = ec.severity;
                for p in batch {
                    let k = [p.keys[0].as_deref(), p.keys[1].as_deref(), p.keys[2].as_deref()];
                    let shown = [p.shown[0].as_deref(), p.shown[1].as_deref()];
                    o.add(p.member, p.ts, p.place, k, shown, 0, escalate_at);
                }
                out.push(IncidentUpdate::new(Change::Created, &o.incident));
                site.index.add_count(r, group, seq);
                o.reindex(&mut site.index);
                site.open.insert(seq, o);
            }
        }

        // Retention: close what the watermark has left `close_after_secs` behind.
        let horizon = site.max_us.unwrap_or(ts).saturating_sub(*lateness_us).saturating_sub(*close_after_us);
        found.clear();
        if *scan {
            found.extend(site.open.values().filter(|o| o.last_us < horizon).map(|o| o.seq));
        } else {
            site.index.pop_expired(horizon, found);
        }
        // Closed in creation order, not in the order they expired.
        found.sort_unstable();
        for seq in found.iter() {
            let mut o = site.open.remove(seq).expect("indexed incidents are open");
            o.unindex(&mut site.index);
            for m in &o.incident.members {
                if site.by_alert.get(&m.alert_id) == Some(&o.seq) {
                    site.by_alert.remove(&m.alert_id);
                }
                if site.by_episode.get(&m.episode) == Some(&o.seq) {
                    site.by_episode.remove(&m.episode);
                }
            }
            o.incident.closed = true;
            out.push(IncidentUpdate::new(Change::Closed, &o.incident));
        }
        if *scan {
            for groups in &mut site.pending {
                groups.retain(|_, buf| {
                    let stale = buf.partition_point(|p| p.ts < horizon);
                    buf.drain(..stale);
                    !buf.is_empty()
                });
            }
            return out;
        }
        while let Some((t, _, _)) = site.pending_expiry.first()
            && *t < horizon
        {
            let (_, r, group) = site.pending_expiry.pop_first().expect("seen above");
            let buf = site.pending[r].get_mut(&group).expect("queued groups are pending");
            let stale = buf.partition_point(|p| p.ts < horizon);
            buf.drain(..stale);
            match buf.first() {
                Some(p) => {
                    site.pending_expiry.insert((p.ts, r, group));
                }
                None => {
                    site.pending[r].remove(&group);
                }
            }
        }
        out
    }
}

/// Keeps a pending group's entry in the retention queue at the group's earliest event time.
fn requeue(queue: &mut BTreeSet<(i64, usize, String)>, r: usize, group: &str, before: Option<i64>, after: Option<i64>) {
    if before != after {
        if let Some(t) = before {
            queue.remove(&(t, r, group.to_string()));
        }
        if let Some(t) = after {
            queue.insert((t, r, group.to_string()));
        }
    }
}

/// The first correlation rule (config order) that links `alert` to incident `o`.
fn first_link(
    rules: &[RuleConfig],
    o: &Open,
    alert: &Alert,
    ts: i64,
    place: Option<GeoPoint>,
    alert_mask: u64,
) -> Option<usize> {
    let gap = o.gap(ts);
    rules.iter().enumerate().position(|(i, rule)| {
        let bit = 1u64 << i;
        if alert_mask & bit == 0 || o.rule_mask & bit == 0 {
            return false;
        }
        match rule {
            RuleConfig::Near(n) => {
                gap <= secs_to_us(n.window_secs)
                    && matches!((place, o.incident.place), (Some(a), Some(b)) if haversine_m(a, b) <= n.radius_m)
            }
            RuleConfig::SameKey(s) => {
                gap <= secs_to_us(s.window_secs)
                    && s.key.value(alert).is_some_and(|v| o.incident.keys.values(s.key as usize).iter().any(|k| k == v))
            }
            RuleConfig::EventCount(_) => false,
        }
    })
}

impl IncidentKeys {
    /// The values joined on, by index: 0 plate keys, 1 container keys, 2 calls (the order of
    /// [`super::CorrelationKey`]).
    pub(super) fn values(&self, i: usize) -> &Vec<String> {
        match i {
            0 => &self.plate_key,
            1 => &self.container_key,
            _ => &self.call,
        }
    }

    /// Adds join value `v` of index `i`, with the plate or container it stands for (`shown`,
    /// masked here; absent for a call, which is its own value).
    fn add(&mut self, i: usize, v: &str, shown: Option<&str>) {
        if v.is_empty() || self.values(i).iter().any(|k| k == v) {
            return;
        }
        let (vals, shown_vals) = match i {
            0 => (&mut self.plate_key, Some(&mut self.plate)),
            1 => (&mut self.container_key, Some(&mut self.container)),
            _ => (&mut self.call, None),
        };
        vals.push(v.to_string());
        if let Some(list) = shown_vals {
            list.push(shown.map(pipeline::personal::mask).unwrap_or_default());
        }
    }
}

impl Open {
    fn new(seq: u64, id: Uuid, alert: &Alert, kind: String, rule: Option<String>, ts: i64) -> Self {
        Self {
            seq,
            count: None,
            rule_mask: 0,
            kinds_mask: 0,
            base: Severity::Info,
            first_us: ts,
            last_us: ts,
            indexed: Indexed::default(),
            incident: Incident {
                id,
                site: alert.site.clone(),
                kind,
                rule,
                severity: Severity::Info,
                // Set from the first member by `add`.
                first_event_ts: DateTime::from_timestamp_micros(ts).unwrap_or_default(),
                last_event_ts: DateTime::from_timestamp_micros(ts).unwrap_or_default(),
                place: None,
                keys: IncidentKeys::default(),
                source_kinds: Vec::new(),
                members: Vec::new(),
                closed: false,
                merged_into: None,
            },
        }
    }

    /// Brings the incident's index entries up to date after it was created or changed.
    fn reindex(&mut self, index: &mut Indexes) {
        let entry = Entry {
            correlation: self.count.is_none(),
            rule_mask: self.rule_mask,
            place: self.incident.place,
            keys: &self.incident.keys,
            last_us: self.last_us,
        };
        index.sync(self.seq, &mut self.indexed, entry);
    }

    /// Takes the incident out of every index: it closed or was merged away.
    fn unindex(&self, index: &mut Indexes) {
        index.remove(self.seq, &self.indexed, &self.incident.keys, self.count.as_ref());
    }

    /// Event-time distance from `ts` to the incident's span; 0 inside it.
    fn gap(&self, ts: i64) -> i64 {
        if ts < self.first_us { self.first_us - ts } else { ts.saturating_sub(self.last_us).max(0) }
    }

    // The alert's parts, taken apart once by the caller: an alert or a pending one.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        m: Member,
        ts: i64,
        place: Option<GeoPoint>,
        keys: [Option<&str>; 3],
        shown: [Option<&str>; 2],
        rule_mask: u64,
        escalate_at: usize,
    ) {
        let inc = &mut self.incident;
        if inc.members.is_empty() || ts < self.first_us {
            self.first_us = ts;
            inc.first_event_ts = m.event_ts;
        }
        if inc.members.is_empty() || ts > self.last_us {
            self.last_us = ts;
            inc.last_event_ts = m.event_ts;
        }
        if inc.place.is_none() {
            inc.place = place;
        }
        for (i, k) in keys.iter().enumerate() {
            if let Some(v) = k {
                inc.keys.add(i, v, shown.get(i).copied().flatten());
            }
        }
        self.rule_mask |= rule_mask;
        self.kinds_mask |= kind_bit(m.source_kind);
        self.base = self.base.max(m.severity);
        let pos = inc.members.partition_point(|x| x.event_ts <= m.event_ts);
        inc.members.insert(pos, m);
        self.derive(escalate_at);
    }

    /// Takes `other`'s members and summary into `self` (the survivor of a merge).
    fn absorb(&mut self, other: Open, escalate_at: usize) {
        let inc = &mut self.incident;
        let o = other.incident;
        if o.members.is_empty() {
            return;
        }
        if other.first_us < self.first_us {
            self.first_us = other.first_us;
            inc.first_event_ts = o.first_event_ts;
        }
        if other.last_us > self.last_us {
            self.last_us = other.last_us;
            inc.last_event_ts = o.last_event_ts;
        }
        if inc.place.is_none() {
            inc.place = o.place;
        }
        for (i, (vals, shown)) in [
            (&o.keys.plate_key, &o.keys.plate),
            (&o.keys.container_key, &o.keys.container),
            (&o.keys.call, &o.keys.call),
        ]
        .into_iter()
        .enumerate()
        {
            for (v, s) in vals.iter().zip(shown) {
                inc.keys.add(i, v, Some(s));
            }
        }
        self.rule_mask |= other.rule_mask;
        self.kinds_mask |= other.kinds_mask;
        self.base = self.base.max(other.base);
        inc.members.extend(o.members);
        // Stable: equal event times keep the survivor's members first.
        inc.members.sort_by_key(|m| m.event_ts);
        self.derive(escalate_at);
    }

    fn derive(&mut self, escalate_at: usize) {
        let n = self.kinds_mask.count_ones() as usize;
        self.incident.severity = if escalate_at > 0 && n >= escalate_at { raise(self.base) } else { self.base };
        if self.incident.source_kinds.len() != n {
            self.incident.source_kinds =
                [SourceKind::Camera, SourceKind::Xray, SourceKind::Call, SourceKind::Sensor, SourceKind::Lane]
                    .into_iter()
                    .filter(|k| self.kinds_mask & kind_bit(*k) != 0)
                    .collect();
        }
    }
}

fn kind_bit(k: SourceKind) -> u8 {
    match k {
        SourceKind::Camera => 1,
        SourceKind::Xray => 2,
        SourceKind::Call => 4,
        SourceKind::Sensor => 8,
        SourceKind::Lane => 16,
    }
}

/// One level up, capped at critical.
fn raise(s: Severity) -> Severity {
    match s {
        Severity::Info => Severity::Low,
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    }
}

fn secs_to_us(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1_000_000)
}

/// Deterministic UUIDv8 from the raising rule (`""` for correlation) and the first member's alert id.
fn incident_id(rule: &str, first_alert: Uuid) -> Uuid {
    let mut h = Sha256::new();
    h.update(ID_NAMESPACE);
    h.update(rule.as_bytes());
    h.update([0u8]);
    h.update(first_alert.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}
