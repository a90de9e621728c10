//! Selectivity: the corridor (green / yellow / red) of one vehicle, with ordered reasons.
//!
//! The idea to understand first: every rule is a small function that looks at the
//! [`Inputs`] and adds [`Reason`]s, each with its own corridor. The decision's corridor is
//! the most severe reason's, and green needs a green reason (a reliable importer) and
//! nothing else — missing information is never green. The reasons are shown most severe
//! first, then in rule order:
//!
//! 1. identity — no declaration, or the runtime could not match the vehicle cleanly → yellow,
//!    manual review;
//! 2. X-ray threats — `red_threats` classes red, others yellow; threats not looked for yellow;
//! 3. X-ray findings — `red_findings` red, anything else yellow, naming the declared goods;
//! 4. sensors — a radiation alarm on goods that are all NORM-listed → yellow, secondary
//!    radiation (isotope identification); any other alarm → red; incomplete → yellow; a
//!    scanner or portal the lane has but whose result is missing → yellow;
//! 5. declaration notes (an unknown HS code, …) → yellow;
//! 6. reliability band — Low red, Medium yellow, High green;
//! 7. random selection — red for a draw below the lane's rate, whatever else was found, so
//!    random inspections measure the unbiased hit rate.
//!
//! The random draw is keyed by a secret only the post holds ([`DrawSecret`], kept in its
//! history database), never by anything in the repository: with a public key anyone could
//! compute which declaration ids are never drawn and file under those. The draw made is
//! stored in [`Inputs::random_draw`], so a decision replays from its record without the
//! secret; a declaration without a recorded draw is never released unseen (yellow).

use super::config::{LaneConfig, RiskConfig, XRAY_FINDING_KINDS};
use super::declaration::{Declaration, Note};
use super::history::ImporterRecord;
use super::reliability::{self, Band, Reliability};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// The version of the rule code: bump it when a rule's logic changes (it is part of
/// [`RiskConfig::rules_sha256`]). 2: the random draw comes from the inputs, keyed by the
/// post's secret.
pub const RULES_VERSION: &str = "selectivity/2";

/// The corridor a vehicle is sent to. Ordered by severity: Green < Yellow < Red.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Corridor {
    Green,
    Yellow,
    Red,
}

impl Corridor {
    /// `green`, `yellow`, `red`.
    pub fn as_str(self) -> &'static str {
        match self {
            Corridor::Green => "green",
            Corridor::Yellow => "yellow",
            Corridor::Red => "red",
        }
    }
}

/// What the officer does with the vehicle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Green: released.
    Release,
    /// Yellow: documents checked.
    DocumentCheck,
    /// Yellow: a radiation alarm to resolve with a hand-held isotope identifier.
    SecondaryRadiation,
    /// Yellow: the vehicle and its declaration could not be matched automatically.
    ManualReview,
    /// Red: physical inspection.
    Inspection,
}

/// One X-ray finding as the scan summary gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XrayFinding {
    /// `xray_dense_region`, `xray_anomaly`, … (see [`XRAY_FINDING_KINDS`]).
    pub kind: String,
    /// The alert severity (`medium`, `high`, …).
    pub severity: String,
}

/// What the X-ray analysis published for one scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XraySummary {
    pub scan_id: String,
    /// The scan's findings (an `xray_threat` finding here is ignored: `threats` has them).
    #[serde(default)]
    pub findings: Vec<XrayFinding>,
    /// Threat classes detected: `knife`, `gun`, `ammunition`, `dense_organic`.
    #[serde(default)]
    pub threats: Vec<String>,
    /// Set when the threat detector did not run on this scan.
    #[serde(default)]
    pub threats_error: Option<String>,
    /// Threat classes of a model the site has not accepted: named in the reasons, but they
    /// do not move the corridor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advisory_threats: Vec<String>,
}

/// A radiation portal's verdict on one vehicle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RadiationResult {
    Clean,
    Alarm,
    /// Not measured: never to be taken as clean.
    Incomplete,
}

impl From<crate::sensors::ReadingResult> for RadiationResult {
    fn from(r: crate::sensors::ReadingResult) -> Self {
        match r {
            crate::sensors::ReadingResult::Clean => RadiationResult::Clean,
            crate::sensors::ReadingResult::Alarm => RadiationResult::Alarm,
            crate::sensors::ReadingResult::Incomplete => RadiationResult::Incomplete,
        }
    }
}

/// One vehicle's radiation reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiationSummary {
    pub portal: String,
    pub result: RadiationResult,
    /// The alarm's peak, sigma above background.
    #[serde(default)]
    pub peak_sigma: Option<f64>,
}

/// Who the vehicle is, as the lane's runtime matched it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Plates read or entered (normalised by the gate module).
    #[serde(default)]
    pub plates: Vec<String>,
    #[serde(default)]
    pub containers: Vec<String>,
    /// An officer entered or confirmed the identity by hand (recorded; it does not by itself
    /// change the corridor).
    #[serde(default)]
    pub manual: bool,
    /// What did not match cleanly, e.g. "plate 01A123BC matches declarations D1 and D2".
    #[serde(default)]
    pub issues: Vec<String>,
    /// The authenticated officer who entered the identity at the lane (never a name the
    /// entry itself claims).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer: Option<String>,
}

/// Everything a decision is made from; stored in the record, so a replay sees the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// The lane id, as in `[[lanes]]`.
    pub lane: String,
    /// When the vehicle was at the lane: the time the reliability is computed at.
    pub at: DateTime<Utc>,
    /// The declaration matched to the vehicle, as accepted (`None`: none matched).
    pub declaration: Option<Declaration>,
    /// The notes [`super::parse_declaration`] made on it.
    #[serde(default)]
    pub declaration_notes: Vec<Note>,
    /// The importer's history as it was at decision time (`None`: nothing known).
    pub importer: Option<ImporterRecord>,
    pub identity: Identity,
    pub xray: Option<XraySummary>,
    pub radiation: Option<RadiationSummary>,
    /// The declaration's random draw in [0, 1), made with the post's secret
    /// ([`random_draw`]); recorded so a replay needs no secret. `None` with a declaration:
    /// no draw was made, and the vehicle is not released unseen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_draw: Option<f64>,
}

/// One reason for the corridor, for the officer's screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The rule: `identity`, `xray_threat`, `xray_finding`, `radiation`, `sensor_missing`,
    /// `lane_unknown`, `declaration_note`, `reliability`, `random`.
    pub rule: String,
    pub corridor: Corridor,
    pub text: String,
}

/// The corridor, what to do, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub corridor: Corridor,
    pub action: Action,
    /// Drawn for random inspection.
    pub random: bool,
    /// Most severe first, then in rule order.
    pub reasons: Vec<Reason>,
    /// The importer's reliability (`None` without a declaration).
    pub reliability: Option<Reliability>,
}

/// What the rules collect on the way.
#[derive(Default)]
struct Acc {
    reasons: Vec<Reason>,
    manual_review: bool,
    secondary_radiation: bool,
    random: bool,
    reliability: Option<Reliability>,
}

impl Acc {
    fn add(&mut self, rule: &str, corridor: Corridor, text: String) {
        self.reasons.push(Reason { rule: rule.into(), corridor, text });
    }
}

/// Decides one vehicle's corridor.
pub fn decide(inputs: &Inputs, cfg: &RiskConfig) -> Decision {
    let mut acc = Acc::default();
    let lane = cfg.lane(&inputs.lane);
    identity(inputs, &mut acc);
    xray_threats(inputs, cfg, &mut acc);
    xray_findings(inputs, cfg, &mut acc);
    sensors(inputs, cfg, lane, &mut acc);
    declaration_notes(inputs, &mut acc);
    reliability_band(inputs, cfg, &mut acc);
    random_selection(inputs, cfg, lane, &mut acc);

    // Stable: within a corridor, rule order is kept.
    acc.reasons.sort_by_key(|r| std::cmp::Reverse(r.corridor));
    let corridor = match acc.reasons.first() {
        Some(r) => r.corridor,
        None => {
            acc.add("no_reason", Corridor::Yellow, "no rule cleared the vehicle".into());
            Corridor::Yellow
        }
    };
    let action = match corridor {
        Corridor::Red => Action::Inspection,
        Corridor::Yellow if acc.manual_review => Action::ManualReview,
        Corridor::Yellow if acc.secondary_radiation => Action::SecondaryRadiation,
        Corridor::Yellow => Action::DocumentCheck,
        Corridor::Green => Action::Release,
    };
    Decision { corridor, action, random: acc.random, reasons: acc.reasons, reliability: acc.reliability }
}

/// Rule 1: a vehicle without a declaration, or not cleanly matched, goes to manual review.
fn identity(inputs: &Inputs, acc: &mut Acc) {
    if inputs.declaration.is_none() {
        let what = vehicle_text(&inputs.identity);
        let scan = inputs.xray.as_ref().map(|x| format!(" (scan {})", x.scan_id)).unwrap_or_default();
        acc.add("identity", Corridor::Yellow, format!("no declaration matches {what}{scan}"));
        acc.manual_review = true;
    }
    for issue in &inputs.identity.issues {
        acc.add("identity", Corridor::Yellow, issue.clone());
        acc.manual_review = true;
    }
}

/// Rule 2: threats the detector found, and whether it looked.
fn xray_threats(inputs: &Inputs, cfg: &RiskConfig, acc: &mut Acc) {
    let Some(x) = &inputs.xray else { return };
    let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &x.threats {
        *classes.entry(t.as_str()).or_default() += 1;
    }
    // Each class once, with its count.
    for (class, n) in classes {
        let red = cfg.selectivity.red_threats.iter().any(|r| r == class);
        let count = if n > 1 { format!(" ×{n}") } else { String::new() };
        acc.add(
            "xray_threat",
            if red { Corridor::Red } else { Corridor::Yellow },
            format!("X-ray threat detector found {class}{count} (scan {})", x.scan_id),
        );
    }
    if let Some(e) = &x.threats_error {
        acc.add("xray_threat", Corridor::Yellow, format!("threats not looked for on scan {}: {e}", x.scan_id));
    }
    if !x.advisory_threats.is_empty() {
        acc.add(
            "xray_threat",
            Corridor::Green,
            format!(
                "advisory only, the threat model is not accepted at this site: it suggests {} (scan {})",
                x.advisory_threats.join(", "),
                x.scan_id
            ),
        );
    }
}

/// Rule 3: the scan's findings, named with the declared goods.
fn xray_findings(inputs: &Inputs, cfg: &RiskConfig, acc: &mut Acc) {
    let Some(x) = &inputs.xray else { return };
    let goods = goods_text(inputs.declaration.as_ref(), cfg);
    // One reason per kind.
    let mut kinds: Vec<(&str, usize, &str)> = vec![];
    for f in x.findings.iter().filter(|f| f.kind != "xray_threat") {
        match kinds.iter_mut().find(|k| k.0 == f.kind) {
            Some(k) => k.1 += 1,
            None => kinds.push((f.kind.as_str(), 1, f.severity.as_str())),
        }
    }
    // The most severe first; between equals, what the officer can see in the image (a
    // concealment) before the measures that follow from it (an undeclared block weighs).
    const SEEN_FIRST: [&str; 6] = [
        "xray_anomaly",
        "xray_dense_region",
        "xray_void",
        "xray_not_empty",
        "xray_manifest_mismatch",
        "xray_weight_mismatch",
    ];
    let rank = |s: &str| ["critical", "high", "medium", "low", "info"].iter().position(|r| *r == s).unwrap_or(5);
    let seen = |k: &str| SEEN_FIRST.iter().position(|s| *s == k).unwrap_or(SEEN_FIRST.len());
    kinds.sort_by_key(|(kind, _, severity)| (rank(severity), seen(kind)));
    let is_red = |k: &str| cfg.selectivity.red_findings.iter().any(|r| r == k);
    for (kind, n, severity) in kinds {
        let (corridor, note) = if is_red(kind) {
            (Corridor::Red, "")
        } else if cfg.selectivity.yellow_findings.iter().any(|r| r == kind) || XRAY_FINDING_KINDS.contains(&kind) {
            (Corridor::Yellow, "")
        } else {
            (Corridor::Yellow, " (a finding kind the rules do not know)")
        };
        let count = if n > 1 { format!(" ×{n}") } else { String::new() };
        let what = match kind {
            "xray_dense_region" => format!("too-dense region{count} in cargo declared as {goods}"),
            "xray_anomaly" => format!("dense block{count} in uniform cargo declared as {goods}"),
            "xray_void" => format!("void{count} in cargo declared as {goods}"),
            "xray_weight_mismatch" => format!("load weight does not match the declared kg of {goods}"),
            "xray_not_empty" => "cargo in a vehicle declared empty".to_string(),
            "xray_manifest_mismatch" => format!("material mix does not match {goods}"),
            other => format!("{other}{count} on cargo declared as {goods}"),
        };
        acc.add("xray_finding", corridor, format!("{what} (scan {}, {severity}){note}", x.scan_id));
    }
}

/// Rule 4: the radiation reading, and sensors the lane has but that sent nothing.
fn sensors(inputs: &Inputs, cfg: &RiskConfig, lane: Option<&LaneConfig>, acc: &mut Acc) {
    match lane {
        None => acc.add(
            "lane_unknown",
            Corridor::Yellow,
            format!("lane {:?} is not configured: its sensors are not known", inputs.lane),
        ),
        Some(l) => {
            if l.xray && inputs.xray.is_none() {
                acc.add(
                    "sensor_missing",
                    Corridor::Yellow,
                    format!("lane {} has an X-ray scanner but no scan came", l.id),
                );
            }
            if l.radiation && inputs.radiation.is_none() {
                acc.add(
                    "sensor_missing",
                    Corridor::Yellow,
                    format!("lane {} has a radiation portal but no reading came", l.id),
                );
            }
        }
    }
    let Some(r) = &inputs.radiation else { return };
    let peak = r.peak_sigma.map(|s| format!(", peak {s:.1}σ")).unwrap_or_default();
    match r.result {
        RadiationResult::Clean => {}
        RadiationResult::Incomplete => {
            acc.add("radiation", Corridor::Yellow, format!("radiation not measured (portal {}: incomplete)", r.portal))
        }
        RadiationResult::Alarm => {
            let d = inputs.declaration.as_ref();
            let norm = d.is_some_and(|d| {
                !d.goods.is_empty() && d.goods.iter().all(|g| cfg.hs.lookup(&g.hs_code).is_some_and(|e| e.norm))
            });
            let goods = goods_text(d, cfg);
            let too_strong = match (cfg.selectivity.norm_alarm_max_sigma, r.peak_sigma) {
                (Some(max), Some(s)) => s > max,
                _ => false,
            };
            if norm && !too_strong {
                acc.add(
                    "radiation",
                    Corridor::Yellow,
                    format!(
                        "radiation alarm (portal {}{peak}) on goods known for natural radioactivity: {goods} — identify the isotope",
                        r.portal
                    ),
                );
                acc.secondary_radiation = true;
            } else if norm {
                acc.add(
                    "radiation",
                    Corridor::Red,
                    format!(
                        "radiation alarm (portal {}{peak}) stronger than natural radioactivity explains ({:.1}σ) on {goods}",
                        r.portal,
                        cfg.selectivity.norm_alarm_max_sigma.unwrap_or(0.0)
                    ),
                );
            } else {
                acc.add(
                    "radiation",
                    Corridor::Red,
                    format!(
                        "radiation alarm (portal {}{peak}) on goods not known for natural radioactivity: {goods}",
                        r.portal
                    ),
                );
            }
        }
    }
}

/// Rule 5: what was noted when the declaration was accepted.
fn declaration_notes(inputs: &Inputs, acc: &mut Acc) {
    for n in &inputs.declaration_notes {
        acc.add("declaration_note", Corridor::Yellow, format!("{}: {}", n.field, n.text));
    }
}

/// Rule 6: the importer's reliability band.
fn reliability_band(inputs: &Inputs, cfg: &RiskConfig, acc: &mut Acc) {
    let Some(d) = &inputs.declaration else { return };
    let unknown = ImporterRecord { tin: d.importer_tin.clone(), ..ImporterRecord::default() };
    let h = inputs.importer.as_ref().unwrap_or(&unknown);
    let r = reliability::score(d, h, &cfg.reliability, &cfg.hs, inputs.at);
    let rc = &cfg.reliability;
    let (corridor, band) = match r.band {
        Band::High => (Corridor::Green, format!("high, ≥ {}", rc.high_at)),
        Band::Medium => (Corridor::Yellow, format!("medium, {}–{}", rc.low_below, rc.high_at)),
        Band::Low => (Corridor::Red, format!("low, < {}", rc.low_below)),
    };
    // The two factors that moved the score most, for the screen; all are in the record.
    let mut moved: Vec<&reliability::Factor> = r.factors.iter().filter(|f| f.points != 0.0).collect();
    moved.sort_by(|a, b| b.points.abs().total_cmp(&a.points.abs()));
    let why: Vec<String> = moved.iter().take(2).map(|f| format!("{} {:+.1}", f.name, f.points)).collect();
    let why = if why.is_empty() { String::new() } else { format!(": {}", why.join(", ")) };
    acc.add("reliability", corridor, format!("importer {} reliability {:.1} ({band}){why}", d.importer_tin, r.score));
    acc.reliability = Some(r);
}

/// Rule 7: the random draw, independent of everything else.
fn random_selection(inputs: &Inputs, cfg: &RiskConfig, lane: Option<&LaneConfig>, acc: &mut Acc) {
    let Some(d) = &inputs.declaration else { return };
    let rate = lane.map_or(cfg.selectivity.random_rate, |l| cfg.random_rate(l));
    match inputs.random_draw {
        Some(x) if (0.0..1.0).contains(&x) => {
            if x < rate {
                acc.random = true;
                acc.add("random", Corridor::Red, format!("random selection ({:.1} %)", 100.0 * rate));
            }
        }
        // Missing information is never green: a draw not made could have been a selection.
        _ => acc.add(
            "random",
            Corridor::Yellow,
            format!("no random draw was made for declaration {}: it is not released unseen", d.id),
        ),
    }
}

/// The post's secret that keys the random draw: 32 random bytes, held by the post alone
/// (in its history database). Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct DrawSecret([u8; 32]);

impl DrawSecret {
    /// A fresh secret from the operating system's randomness.
    pub fn generate() -> Result<Self, String> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|e| format!("no randomness for the draw secret: {e}"))?;
        Ok(DrawSecret(b))
    }

    /// A stored secret.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        DrawSecret(b)
    }

    /// The bytes, to store (only the history does).
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for DrawSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DrawSecret(…)")
    }
}

/// The draw for a declaration: HMAC-SHA256(secret, declaration id), its first 8 bytes
/// (big-endian) as a fraction of 2^64, rounded down to 6 decimals — uniform in [0, 1), the
/// same for the same id (an amended declaration keeps its draw), unpredictable without the
/// secret. Six decimals survive JSON exactly, and a rate of up to 6 decimals selects
/// exactly its fraction.
pub fn random_draw(secret: &DrawSecret, declaration_id: &str) -> f64 {
    let mac = pipeline::hash::hmac_sha256(&secret.0, declaration_id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&mac[..8]);
    let micro = (u128::from(u64::from_be_bytes(b)) * 1_000_000) >> 64;
    micro as f64 / 1_000_000.0
}

/// "plate 01A123BC, container MSCU1234565", or "an unidentified vehicle".
fn vehicle_text(id: &Identity) -> String {
    let mut parts: Vec<String> = id.plates.iter().map(|p| format!("plate {p}")).collect();
    parts.extend(id.containers.iter().map(|c| format!("container {c}")));
    if parts.is_empty() { "an unidentified vehicle".into() } else { parts.join(", ") }
}

/// "women's dresses (HS 620442)", "Ceramic tiles (HS 690721) and 2 more lines", or
/// "undeclared goods".
fn goods_text(d: Option<&Declaration>, cfg: &RiskConfig) -> String {
    let Some(d) = d else { return "undeclared goods (no declaration)".into() };
    if d.goods.is_empty() {
        return "nothing (declared empty)".into();
    }
    let line = |g: &super::declaration::GoodsLine| {
        let name = if g.description.trim().is_empty() {
            cfg.hs.lookup(&g.hs_code).map_or("goods", |e| e.name.as_str()).to_string()
        } else {
            g.description.trim().to_string()
        };
        format!("{name} (HS {})", g.hs_code)
    };
    let shown: Vec<String> = d.goods.iter().take(2).map(line).collect();
    let more = d.goods.len().saturating_sub(2);
    let more = match more {
        0 => String::new(),
        1 => " and 1 more line".into(),
        n => format!(" and {n} more lines"),
    };
    format!("{}{more}", shown.join(", "))
}

/// The rates of one lane's decisions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// Decisions the rates are over (the latest `band_window`).
    pub decisions: u64,
    pub green: f64,
    pub yellow: f64,
    pub red: f64,
    /// Drawn for random inspection.
    pub random: f64,
}

/// One lane's corridor and random-draw counts over its latest decisions, for the alert
/// that a lane's rates left their expected bands (a broken sensor feed, a rule gone wrong).
/// One per lane: the runtime keeps a map of lane id → `LaneRates`.
#[derive(Debug, Clone)]
pub struct LaneRates {
    min_decisions: u64,
    window: usize,
    recent: VecDeque<(Corridor, bool)>,
    counts: [u64; 3],
    random: u64,
    total: u64,
}

impl LaneRates {
    /// Rates over the latest `window` decisions, checked once there are `min_decisions`.
    pub fn new(min_decisions: u64, window: u64) -> Self {
        LaneRates {
            min_decisions,
            window: window.max(1) as usize,
            recent: VecDeque::new(),
            counts: [0; 3],
            random: 0,
            total: 0,
        }
    }

    /// With `[selectivity]`'s `band_min_decisions` and `band_window`.
    pub fn from_config(cfg: &RiskConfig) -> Self {
        LaneRates::new(cfg.selectivity.band_min_decisions, cfg.selectivity.band_window)
    }

    /// Counts one decision of this lane.
    pub fn observe(&mut self, d: &Decision) {
        if self.recent.len() == self.window
            && let Some((c, r)) = self.recent.pop_front()
        {
            self.counts[c as usize] -= 1;
            self.random -= u64::from(r);
        }
        self.recent.push_back((d.corridor, d.random));
        self.counts[d.corridor as usize] += 1;
        self.random += u64::from(d.random);
        self.total += 1;
    }

    /// Decisions observed since the start.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The rates over the window (zeros before any decision).
    pub fn rates(&self) -> Rates {
        let n = self.recent.len() as u64;
        let f = |k: u64| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        Rates {
            decisions: n,
            green: f(self.counts[0]),
            yellow: f(self.counts[1]),
            red: f(self.counts[2]),
            random: f(self.random),
        }
    }

    /// Each corridor whose rate is outside the lane's band, named with the rate and the
    /// band, e.g. "lane post1-cargo1: red rate 21.4 % is outside [4.0 %, 15.0 %] over the
    /// latest 2000 decisions"; empty until there are `min_decisions`.
    pub fn out_of_band(&self, lane: &LaneConfig) -> Vec<String> {
        let r = self.rates();
        if r.decisions < self.min_decisions {
            return vec![];
        }
        [
            (Corridor::Green, r.green, lane.green),
            (Corridor::Yellow, r.yellow, lane.yellow),
            (Corridor::Red, r.red, lane.red),
        ]
        .into_iter()
        .filter(|(_, rate, [lo, hi])| rate < lo || rate > hi)
        .map(|(c, rate, [lo, hi])| {
            format!(
                "lane {}: {} rate {:.1} % is outside [{:.1} %, {:.1} %] over the latest {} decisions",
                lane.id,
                c.as_str(),
                100.0 * rate,
                100.0 * lo,
                100.0 * hi,
                r.decisions
            )
        })
        .collect()
    }
}
