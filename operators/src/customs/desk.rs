//! The customs lane desk; see [the module docs](super).

use super::config::CustomsConfig;
use super::open::{Open, OpenDeclarations, SharedDeclarations, container_key, plate_key};
use crate::risk::RiskConfig;
use crate::risk::decision::{self, DecisionRecord};
use crate::risk::declaration;
use crate::risk::history::{History, InspectionResult};
use crate::risk::selectivity::{
    Action, Corridor, Identity, Inputs, LaneRates, RadiationResult, RadiationSummary, XrayFinding, XraySummary,
};
use crate::rules::{AlertContext, AlertParts};
use chrono::{DateTime, Utc};
use pipeline::alert::{self, Alert, AlertSource, ClockState, Correlation, Phase, Severity, SourceKind};
use pipeline::feed::Outcome;
use pipeline::metrics;
use pipeline::personal::mask;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// One vehicle at a lane, as far as it is known.
#[derive(Debug, Clone)]
struct Passage {
    lane: String,
    opened: DateTime<Utc>,
    plates: BTreeSet<String>,
    containers: BTreeSet<String>,
    declaration: Option<String>,
    manual: bool,
    /// Reads that match several declarations (an officer's entry settles them).
    ambiguous: Vec<String>,
    issues: Vec<String>,
    xray: Option<XraySummary>,
    /// The authenticated officer who entered the vehicle's identity, if one did.
    officer: Option<String>,
    /// The versions behind the scan's findings (config, calibration, HS table, model).
    models: BTreeMap<String, String>,
    radiation: Option<RadiationSummary>,
}

impl Passage {
    fn new(lane: &str, now: DateTime<Utc>) -> Self {
        Passage {
            lane: lane.to_string(),
            opened: now,
            plates: BTreeSet::new(),
            containers: BTreeSet::new(),
            declaration: None,
            manual: false,
            ambiguous: vec![],
            issues: vec![],
            xray: None,
            officer: None,
            models: BTreeMap::new(),
            radiation: None,
        }
    }

    fn anonymous(&self) -> bool {
        self.plates.is_empty() && self.containers.is_empty() && self.declaration.is_none()
    }
}

/// What the desk produced: records to publish on the lane's decision key, alerts for the
/// outbox.
#[derive(Debug, Default)]
pub struct DeskOutput {
    pub decisions: Vec<DecisionRecord>,
    pub alerts: Vec<Alert>,
}

/// An officer's entry at the lane: who the vehicle is, when the cameras could not say.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualIdentity {
    pub lane: String,
    #[serde(default)]
    pub plates: Vec<String>,
    #[serde(default)]
    pub containers: Vec<String>,
    #[serde(default)]
    pub declaration_id: Option<String>,
    /// If given, it must be the authenticated officer sending the entry: nobody writes in
    /// another's name. The record names the authenticated officer either way.
    #[serde(default)]
    pub officer: Option<String>,
}

/// The lane desk; see the module docs.
pub struct CustomsDesk {
    site: String,
    cfg: CustomsConfig,
    policy: RiskConfig,
    history: History,
    open: SharedDeclarations,
    passages: Vec<Passage>,
    /// `(lane, plate or container, until)` of vehicles just decided.
    lingering: Vec<(String, String, DateTime<Utc>)>,
    rates: BTreeMap<String, LaneRates>,
    /// `lane corridor` rates out of band, raised once until back in band.
    out_of_band: HashSet<String>,
    /// Lane alerts taken, by id, with their event time: the same alert again is a replay.
    /// Kept while an input of that event time could still join a passage.
    seen: HashMap<uuid::Uuid, DateTime<Utc>>,
}

mod records;

/// How far ahead of the post's clock a declaration's `submitted` may be: the customs
/// system's clock and the post's differ a little, never by more.
pub const SUBMITTED_AHEAD_SECS: i64 = 300;

/// A lane device's alert not taken: counted and logged. `note` names ids and times only.
fn refused_input(lane: &str, input: &str, reason: &'static str, note: String) {
    metrics::global()
        .metric("qv_lane_inputs_refused_total", &[("lane", lane), ("input", input), ("reason", reason)])
        .inc();
    tracing::warn!(lane, input, reason, "lane input refused: {note}");
}

fn secs(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A record refused: counted, logged by its reason and id, and `note` said to the sender. The
/// note is not logged: it may quote the record back (`plates[0]: "01A123BC": …`, an officer's
/// name, a tax number in a parse error).
fn refuse(feed: &'static str, reason: &'static str, id: Option<String>, note: String) -> Outcome {
    metrics::global().metric("qv_feed_rejected_total", &[("feed", feed), ("reason", reason)]).inc();
    tracing::warn!(feed, reason, id = id.as_deref().unwrap_or(""), "{feed} record refused (the sender is told why)");
    Outcome { result: "refused", id, notes: vec![note] }
}

impl CustomsDesk {
    /// Loads the policy and opens the history; `open` is shared with the X-ray lane.
    pub fn new(cfg: &CustomsConfig, site: &str, open: SharedDeclarations) -> Result<Self, String> {
        let policy = cfg.load_policy().map_err(|e| format!("customs.{e}"))?;
        let history = match &cfg.history {
            Some(path) => History::open(path).map_err(|e| format!("customs.history {}: {e}", path.display()))?,
            None => History::in_memory(),
        };
        Ok(Self {
            site: site.to_string(),
            cfg: cfg.clone(),
            policy,
            history,
            open,
            passages: vec![],
            lingering: vec![],
            rates: BTreeMap::new(),
            out_of_band: HashSet::new(),
            seen: HashMap::new(),
        })
    }

    /// The history (tests and tools read the stored records from it).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Vehicles waiting for inputs.
    pub fn waiting(&self) -> usize {
        self.passages.len()
    }

    /// A lane device's alert: a settled plate read, a scan's summary, a portal reading.
    /// Alerts of devices at no lane, and other kinds, are not the desk's.
    ///
    /// An input counts only for a vehicle at the lane when it happened: refused (counted in
    /// `qv_lane_inputs_refused_total`) are an alert taken before (same id), a scan whose
    /// scan id a vehicle already used (kept in the history, so across restarts), and an
    /// input whose event time is before the passage it would join opened, less `wait_secs`
    /// of slack (inputs of one vehicle arrive in any order within the wait). A clean scan
    /// replayed for a later truck is refused both ways.
    pub fn observe(&mut self, a: &Alert, now: DateTime<Utc>, out: &mut DeskOutput) {
        if a.phase != Phase::Begin {
            return;
        }
        let Some(lane) = self.cfg.lane_of(&a.source.id).cloned() else {
            return;
        };
        let input = match a.kind.as_str() {
            "plate_read" => "plate",
            "xray_scan" => "xray",
            "radiation_reading" => "radiation",
            _ => return,
        };
        if let Some(t) = self.seen.get(&a.id) {
            let note = format!("alert {} (event {}) was taken already", a.id, secs(*t));
            return refused_input(&lane.id, input, "replayed", note);
        }
        let counted = |input: &str, outcome: &str| {
            metrics::global()
                .metric("qv_lane_inputs_total", &[("lane", &lane.id), ("input", input), ("outcome", outcome)])
                .inc();
        };
        match a.kind.as_str() {
            "plate_read" => {
                let Some(read) = a.correlation.plate.as_deref() else { return };
                let key = match plate_key(read, lane.plate_country.as_deref()) {
                    Ok(k) => k,
                    Err(e) => {
                        counted("plate", "unread");
                        tracing::warn!(lane = %lane.id, plate = %mask(read), reason = e.code(), "plate read not taken");
                        return;
                    }
                };
                if self.lingering.iter().any(|(l, k, _)| *l == lane.id && *k == key) {
                    counted("plate", "leaving");
                    return;
                }
                let plates = BTreeSet::from([key]);
                if self.before_its_passage(a, &lane.id, input, &plates, &BTreeSet::new(), None, now) {
                    return;
                }
                counted("plate", "taken");
                self.take(&lane.id, plates, BTreeSet::new(), None, now);
            }
            "xray_scan" => {
                let attr = |k: &str| a.attributes.get(k);
                let scan_id = attr("scan_id").and_then(Value::as_str).unwrap_or_default().to_string();
                let hint = lane.plate_country.as_deref();
                let mut issues = vec![];
                let plates: BTreeSet<String> = match a.correlation.plate.as_deref().map(|p| (p, plate_key(p, hint))) {
                    Some((_, Ok(k))) => BTreeSet::from([k]),
                    Some((p, Err(e))) => {
                        issues.push(format!("scan {scan_id}: plate {p:?} not read as a plate: {e}"));
                        BTreeSet::new()
                    }
                    None => BTreeSet::new(),
                };
                let containers: BTreeSet<String> =
                    match a.correlation.container.as_deref().map(|c| (c, container_key(c))) {
                        Some((_, Ok(k))) => BTreeSet::from([k]),
                        Some((c, Err(e))) => {
                            issues.push(format!("scan {scan_id}: container {c:?} is not a valid ISO 6346 number: {e}"));
                            BTreeSet::new()
                        }
                        None => BTreeSet::new(),
                    };
                let declaration_id = attr("declaration_id").and_then(Value::as_str).map(String::from);
                let summary = xray_summary(a, scan_id);
                if attr("declaration_checked").and_then(Value::as_bool) == Some(false)
                    && (declaration_id.is_some() || !containers.is_empty() || !plates.is_empty())
                {
                    issues.push(format!(
                        "scan {} was analysed before its declaration was known: the load was not checked against it",
                        summary.scan_id
                    ));
                }
                let models: BTreeMap<String, String> = a
                    .provenance
                    .iter()
                    .filter_map(|(k, v)| Some((format!("xray.{k}"), v.as_str()?.to_string())))
                    .filter(|(k, _)| k != "xray.rule")
                    .collect();
                if self.before_its_passage(a, &lane.id, input, &plates, &containers, declaration_id.as_deref(), now) {
                    return;
                }
                if summary.scan_id.is_empty() {
                    return refused_input(&lane.id, input, "no_scan_id", format!("alert {}: scan_id: missing", a.id));
                }
                match self.history.take_scan(&summary.scan_id, &lane.id, now) {
                    Ok(true) => {}
                    Ok(false) => {
                        let note = format!("scan_id: {:?} was already used for a vehicle", summary.scan_id);
                        return refused_input(&lane.id, input, "replayed", note);
                    }
                    // The lane does not stop for its history: the alert id still guards.
                    Err(e) => tracing::error!("scan {} not marked as used: {e}", summary.scan_id),
                }
                counted("xray", "taken");
                let i = self.take(&lane.id, plates, containers, declaration_id.as_deref(), now);
                let p = &mut self.passages[i];
                if let Some(earlier) = &p.xray {
                    p.issues
                        .push(format!("scanned twice: {} and {}; the later is used", earlier.scan_id, summary.scan_id));
                }
                p.issues.extend(issues);
                p.xray = Some(summary);
                p.models = models;
            }
            "radiation_reading" => {
                let result = match a.attributes.get("result").and_then(Value::as_str) {
                    Some("clean") => RadiationResult::Clean,
                    Some("alarm") => RadiationResult::Alarm,
                    _ => RadiationResult::Incomplete,
                };
                let peak_sigma = a.attributes.get("gamma").and_then(|g| g.get("max_nsigma")).and_then(Value::as_f64);
                let reading = RadiationSummary { portal: a.source.id.clone(), result, peak_sigma };
                // A portal cannot read plates: the reading is the lane's vehicle that has
                // none yet, the one that came first.
                let target = self.passages.iter().position(|p| p.lane == lane.id && p.radiation.is_none());
                let opened = target.map_or(now, |i| self.passages[i].opened);
                if self.older_than(a, &lane.id, input, opened) {
                    return;
                }
                counted("radiation", "taken");
                let i = match target {
                    Some(i) => i,
                    None => {
                        self.passages.push(Passage::new(&lane.id, now));
                        self.passages.len() - 1
                    }
                };
                self.passages[i].radiation = Some(reading);
            }
            _ => return,
        }
        self.seen.insert(a.id, a.event_ts);
        self.decide_ready(now, out);
    }

    /// The slack an input's event time has before its passage opened.
    fn slack(&self) -> chrono::Duration {
        chrono::Duration::milliseconds((self.cfg.wait_secs * 1000.0) as i64)
    }

    /// Whether the input is older than the passage its keys would join (refused if so).
    #[allow(clippy::too_many_arguments)]
    fn before_its_passage(
        &self,
        a: &Alert,
        lane: &str,
        input: &str,
        plates: &BTreeSet<String>,
        containers: &BTreeSet<String>,
        declaration_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> bool {
        let declared = self.declared(plates, containers, declaration_id);
        let opened =
            self.find_passage(lane, plates, containers, declared.as_deref()).map_or(now, |i| self.passages[i].opened);
        self.older_than(a, lane, input, opened)
    }

    /// Refuses (and says so) an input whose event time is before `opened` less the slack.
    fn older_than(&self, a: &Alert, lane: &str, input: &str, opened: DateTime<Utc>) -> bool {
        let slack = self.slack();
        if a.event_ts >= opened - slack {
            return false;
        }
        let note = format!(
            "event_ts: {} is before the vehicle's passage opened at {} (less {} s): not this vehicle's",
            secs(a.event_ts),
            secs(opened),
            slack.num_seconds()
        );
        refused_input(lane, input, "stale", note);
        true
    }

    /// Decides the vehicles that waited `wait_secs`, and lets decided plates go.
    pub fn tick(&mut self, now: DateTime<Utc>, out: &mut DeskOutput) {
        self.lingering.retain(|(_, _, until)| *until > now);
        let wait = chrono::Duration::milliseconds((self.cfg.wait_secs * 1000.0) as i64);
        // An input older than this joins no passage (pending ones opened within `wait`, and
        // the slack is `wait` again): its id need not be kept.
        let horizon = now - (wait + self.slack()) * 2;
        self.seen.retain(|_, t| *t >= horizon);
        while let Some(i) = self.passages.iter().position(|p| now - p.opened >= wait) {
            self.decide(i, now, out);
        }
    }

    pub(super) fn read_open(&self) -> std::sync::RwLockReadGuard<'_, OpenDeclarations> {
        self.open.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_open(&self) -> std::sync::RwLockWriteGuard<'_, OpenDeclarations> {
        self.open.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The passage these keys belong to, keys merged in and its declaration resolved.
    fn take(
        &mut self,
        lane: &str,
        plates: BTreeSet<String>,
        containers: BTreeSet<String>,
        declaration_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> usize {
        let declared = self.declared(&plates, &containers, declaration_id);
        let i = self.passage_for(lane, &plates, &containers, declared.as_deref(), now);
        self.resolve(i, &plates, &containers, declaration_id);
        i
    }

    /// The declaration these keys name: the id given, else the one open declaration they
    /// match. (A scan naming only the container is the vehicle whose plate named its
    /// declaration.)
    fn declared(
        &self,
        plates: &BTreeSet<String>,
        containers: &BTreeSet<String>,
        declaration_id: Option<&str>,
    ) -> Option<String> {
        let declared = match declaration_id {
            Some(id) => vec![id.to_string()],
            None => self.read_open().matching(plates, containers),
        };
        match declared.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }

    /// The lane's passage sharing a plate, container or declaration; else the lane's first
    /// one with no identity yet (a portal reading came first).
    fn find_passage(
        &self,
        lane: &str,
        plates: &BTreeSet<String>,
        containers: &BTreeSet<String>,
        declaration_id: Option<&str>,
    ) -> Option<usize> {
        let at_lane = |p: &&Passage| p.lane == lane;
        let same = self.passages.iter().position(|p| {
            at_lane(&p)
                && (p.plates.iter().any(|k| plates.contains(k))
                    || p.containers.iter().any(|k| containers.contains(k))
                    || (declaration_id.is_some() && p.declaration.as_deref() == declaration_id))
        });
        same.or_else(|| self.passages.iter().position(|p| at_lane(&p) && p.anonymous()))
    }

    /// [`Self::find_passage`], else a new one; the keys merged in.
    fn passage_for(
        &mut self,
        lane: &str,
        plates: &BTreeSet<String>,
        containers: &BTreeSet<String>,
        declaration_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> usize {
        let i = self.find_passage(lane, plates, containers, declaration_id).unwrap_or_else(|| {
            self.passages.push(Passage::new(lane, now));
            self.passages.len() - 1
        });
        let p = &mut self.passages[i];
        p.plates.extend(plates.iter().cloned());
        p.containers.extend(containers.iter().cloned());
        i
    }

    /// Links passage `i` to its declaration from the given keys.
    fn resolve(
        &mut self,
        i: usize,
        plates: &BTreeSet<String>,
        containers: &BTreeSet<String>,
        declaration_id: Option<&str>,
    ) {
        let candidates = match declaration_id {
            Some(id) if self.read_open().by_id.contains_key(id) => vec![id.to_string()],
            Some(id) => {
                self.passages[i].issues.push(format!("declaration {id} named at the lane is not an open declaration"));
                self.read_open().matching(plates, containers)
            }
            None => self.read_open().matching(plates, containers),
        };
        let keys = plates.iter().chain(containers).cloned().collect::<Vec<_>>().join(", ");
        let p = &mut self.passages[i];
        match (candidates.as_slice(), &p.declaration) {
            ([], _) => {}
            ([one], None) => p.declaration = Some(one.clone()),
            ([one], Some(d)) if one == d => {}
            ([one], Some(d)) => p.issues.push(format!("{keys} matches declaration {one}, but the vehicle's is {d}")),
            (many, _) => {
                let text = format!("{keys} matches declarations {}", many.join(" and "));
                if !p.ambiguous.contains(&text) {
                    p.ambiguous.push(text);
                }
            }
        }
    }

    /// Decides every passage whose inputs are all in.
    fn decide_ready(&mut self, now: DateTime<Utc>, out: &mut DeskOutput) {
        while let Some(i) = self.passages.iter().position(|p| self.ready(p)) {
            self.decide(i, now, out);
        }
    }

    /// Its declaration (unambiguous), and every input the lane has devices for.
    fn ready(&self, p: &Passage) -> bool {
        let Some(policy) = self.policy.lanes.iter().find(|l| l.id == p.lane) else { return true };
        p.declaration.is_some()
            && p.ambiguous.is_empty()
            && (!policy.xray || p.xray.is_some())
            && (!policy.radiation || p.radiation.is_some())
    }

    fn decide(&mut self, i: usize, now: DateTime<Utc>, out: &mut DeskOutput) {
        let p = self.passages.remove(i);
        let open = p.declaration.as_ref().and_then(|id| self.read_open().by_id.get(id).cloned());
        let importer = open.as_ref().and_then(|o| match self.history.importer(&o.checked.declaration.importer_tin) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!("importer history: {e}");
                None
            }
        });
        // (A missing declaration is the selectivity's first reason; it says so itself.)
        let mut issues = p.ambiguous.clone();
        issues.extend(p.issues.iter().cloned());
        let inputs = Inputs {
            lane: p.lane.clone(),
            at: now,
            declaration: open.as_ref().map(|o| o.checked.declaration.clone()),
            declaration_notes: open.as_ref().map(|o| o.checked.notes.clone()).unwrap_or_default(),
            importer,
            identity: Identity {
                plates: p.plates.iter().cloned().collect(),
                containers: p.containers.iter().cloned().collect(),
                manual: p.manual,
                issues,
                officer: p.officer.clone(),
            },
            xray: p.xray.clone(),
            radiation: p.radiation.clone(),
            // Keyed by the post's secret; recorded, so the replay needs no secret.
            random_draw: open.as_ref().map(|o| self.history.random_draw(&o.checked.declaration.id)),
        };
        let record = decision::make_record(&self.site, inputs, &self.policy, p.models.clone());
        let m = metrics::global();
        if let Err(e) = self.history.save_decision(&record) {
            // Published all the same: the lane must not stop; the record is in the alert's log.
            m.metric("qv_lane_decisions_unsaved_total", &[("lane", &p.lane)]).inc();
            tracing::error!("decision {} not stored: {e}", record.id);
        }
        if let Some(o) = &open {
            self.write_open().by_id.remove(&o.checked.declaration.id);
        }
        let until = now + chrono::Duration::milliseconds((self.cfg.linger_secs * 1000.0) as i64);
        for k in p.plates.iter().chain(&p.containers) {
            self.lingering.push((p.lane.clone(), k.clone(), until));
        }
        let corridor = record.decision.corridor.as_str();
        m.metric("qv_lane_decisions_total", &[("lane", &p.lane), ("corridor", corridor)]).inc();
        out.alerts.push(self.decision_alert(&record, now));
        out.alerts.extend(self.watch_rates(&record, now));
        // The vehicle masked; the reasons by rule (their texts name plates and importers).
        tracing::info!(
            lane = %p.lane, decision = %record.id, vehicle = %mask(&record.vehicle), corridor,
            rule = record.decision.reasons.first().map_or("", |r| r.rule.as_str()), "lane decision"
        );
        out.decisions.push(record);
    }

    fn context(&self, lane: &str, record: &DecisionRecord) -> AlertContext {
        let mut provenance = Map::new();
        provenance.insert("rules_sha256".into(), record.versions.rules_sha256.clone().into());
        provenance.insert("config_sha256".into(), record.versions.config_sha256.clone().into());
        for (k, v) in &record.versions.models {
            provenance.insert(k.clone(), v.clone().into());
        }
        AlertContext {
            site: self.site.clone(),
            source: AlertSource {
                kind: SourceKind::Lane,
                id: lane.to_string(),
                name: format!("Customs lane {lane}"),
                location: None,
            },
            provenance,
        }
    }

    /// The decision as an alert: info when green, low when yellow (medium for a radiation
    /// check), high when red.
    fn decision_alert(&self, r: &DecisionRecord, now: DateTime<Utc>) -> Alert {
        let d = &r.decision;
        let severity = match d.corridor {
            Corridor::Green => Severity::Info,
            Corridor::Yellow if d.action == Action::SecondaryRadiation => Severity::Medium,
            Corridor::Yellow => Severity::Low,
            Corridor::Red => Severity::High,
        };
        let mut attributes = Map::new();
        attributes.insert("decision_id".into(), r.id.clone().into());
        attributes.insert("corridor".into(), d.corridor.as_str().into());
        attributes.insert("action".into(), serde_json::to_value(d.action).unwrap_or_default());
        attributes.insert("random".into(), d.random.into());
        attributes.insert("reasons".into(), d.reasons.iter().map(|r| Value::from(r.text.clone())).collect());
        attributes.insert("vehicle".into(), r.vehicle.clone().into());
        if let Some(decl) = &r.inputs.declaration {
            attributes.insert("declaration_id".into(), decl.id.clone().into());
            attributes.insert("importer_tin".into(), decl.importer_tin.clone().into());
            if let Some(name) = &decl.importer_name {
                attributes.insert("importer_name".into(), name.clone().into());
            }
        }
        if let Some(rel) = &d.reliability {
            attributes.insert("reliability".into(), json!(rel.score));
        }
        let episode = alert::new_id();
        let mut a = self.context(&r.lane, r).alert(AlertParts {
            episode,
            kind: "lane_decision",
            rule: crate::risk::selectivity::RULES_VERSION,
            phase: Phase::Begin,
            severity,
            confidence: 1.0,
            event_ts: r.decided_at,
            ingest_ts: now,
            clock: ClockState::Unsynced,
            objects: vec![],
            attributes,
        });
        a.correlation = Correlation {
            plate: r.inputs.identity.plates.first().cloned(),
            container: r.inputs.identity.containers.first().cloned(),
            ..Default::default()
        };
        a
    }

    /// A `lane_rates_out_of_band` alert when a lane's corridor rate leaves its expected
    /// band (once, until it is back).
    fn watch_rates(&mut self, r: &DecisionRecord, now: DateTime<Utc>) -> Vec<Alert> {
        let Some(lane) = self.policy.lanes.iter().find(|l| l.id == r.lane) else { return vec![] };
        let rates = self.rates.entry(r.lane.clone()).or_insert_with(|| LaneRates::from_config(&self.policy));
        rates.observe(&r.decision);
        let out: Vec<String> = rates.out_of_band(lane);
        let mut alerts = vec![];
        let now_out: HashSet<String> = out.iter().map(|s| format!("{} {s}", r.lane)).collect();
        for text in &out {
            let key = format!("{} {text}", r.lane);
            if self.out_of_band.insert(key) {
                let mut attributes = Map::new();
                attributes.insert("what".into(), text.clone().into());
                let ctx = self.context(&r.lane, r);
                alerts.push(ctx.alert(AlertParts {
                    episode: alert::new_id(),
                    kind: "lane_rates_out_of_band",
                    rule: crate::risk::selectivity::RULES_VERSION,
                    phase: Phase::Begin,
                    severity: Severity::Medium,
                    confidence: 1.0,
                    event_ts: now,
                    ingest_ts: now,
                    clock: ClockState::Unsynced,
                    objects: vec![],
                    attributes,
                }));
            }
        }
        let lane_prefix = format!("{} ", r.lane);
        self.out_of_band.retain(|k| !k.starts_with(&lane_prefix) || now_out.contains(k));
        alerts
    }
}

/// The selectivity's view of a scan's summary alert (`xray_scan`).
fn xray_summary(a: &Alert, scan_id: String) -> XraySummary {
    let findings = a
        .attributes
        .get("finding_list")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|f| {
                    Some(XrayFinding {
                        kind: f.get("kind")?.as_str()?.to_string(),
                        severity: f.get("severity").and_then(Value::as_str).unwrap_or("medium").to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let threats = a
        .attributes
        .get("threat_classes")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(|c| c.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let threats_error = a.attributes.get("threats_error").and_then(Value::as_str).map(String::from);
    let advisory_threats = a
        .attributes
        .get("advisory_threats")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(|t| t.get("class")?.as_str().map(String::from)).collect())
        .unwrap_or_default();
    XraySummary { scan_id, findings, threats, threats_error, advisory_threats }
}
