//! A seeded synthetic traffic generator: realistic [`Inputs`] for one lane, for the
//! rate-band tests, the runtime's benchmark and the demo.
//!
//! The one idea: everything follows from the seed ([`SplitMix64`]); the same seed, lane and
//! configuration give the same vehicles. Nothing here is real data. The mix:
//! - 500 importers: 55 % long-standing and clean, 18 % ordinary, 12 % new (a third on their
//!   first declaration), 5 % with past hits, 10 % under-valuing (0.15–0.45 × the
//!   reference); 6 % trade only NORM goods (tiles, stone, fertilisers…), the others none.
//! - Goods from `[hs]`: 1–3 lines of the importer's usual headings, codes extended to 6–10
//!   digits; 1 % of declarations carry an HS code the table does not know; 2 % of cargo
//!   declarations are declared empty (returning containers).
//! - Routes: mostly China, Russia, Turkey, Kazakhstan…; about 3 % from or through a country
//!   of `risk_countries`.
//! - X-ray (lanes with a scanner): findings on ~2 % of clean importers' vehicles and ~8 % of
//!   the others' (≈ 3 % overall); threats ~0.3 %; the detector not run 0.2 %; no scan 0.3 %.
//! - Radiation (lanes with a portal): alarms on 4 % of NORM loads and 0.25 % of the others
//!   (≈ 0.5 % overall, half on NORM goods); incomplete 0.3 %; no reading 0.2 %.
//! - Identity: 0.3 % of vehicles without a declaration, 0.3 % with an identity issue.
//! - The random draw: keyed by a secret derived from the seed (a stand-in for the post's
//!   own, which only a real post's history holds).

use super::config::{HsEntry, LaneConfig, RiskConfig};
use super::declaration::{Declaration, GoodsLine, check_declaration};
use super::history::ImporterRecord;
use super::selectivity::{
    DrawSecret, Identity, Inputs, RadiationResult, RadiationSummary, XrayFinding, XraySummary, random_draw,
};
use crate::plates::render::random_plate;
use chrono::{DateTime, Duration, TimeZone, Utc};
use pipeline::rng::SplitMix64;
use sha2::{Digest, Sha256};

/// The kinds of importer the population mixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Years of clean trade, many inspections that found nothing.
    Established,
    /// A few years, the usual small hit rate.
    Ordinary,
    /// Months, or nothing at all.
    New,
    /// Inspections that found something.
    PastHits,
    /// Declares far below the reference value.
    UnderValuing,
}

#[derive(Debug, Clone)]
struct Importer {
    profile: Profile,
    record: ImporterRecord,
    name: String,
    /// Indices into `[hs]` of its usual goods.
    goods: Vec<usize>,
    norm: bool,
    value_factor: f64,
    origin: &'static str,
    route: &'static [&'static str],
}

/// Usual origins and road routes to Uzbekistan, with weights. AF (Afghanistan, on the
/// shipped config's risk list) appears as an origin and as a transit country.
const ROUTES: [(&str, &[&str], f64); 12] = [
    ("CN", &["KZ"], 0.25),
    ("CN", &["KG"], 0.10),
    ("RU", &["KZ"], 0.18),
    ("TR", &["IR", "TM"], 0.12),
    ("KZ", &[], 0.09),
    ("IR", &["TM"], 0.05),
    ("DE", &["PL", "BY", "RU", "KZ"], 0.04),
    ("KR", &["CN", "KZ"], 0.04),
    ("AE", &["IR", "TM"], 0.03),
    ("IN", &["IR", "TM"], 0.03),
    ("PK", &["AF"], 0.02),
    ("AF", &[], 0.01),
];

/// Synthetic traffic of one lane. Iterate it, or call [`Population::next_inputs`].
pub struct Population {
    cfg: RiskConfig,
    lane: LaneConfig,
    rng: SplitMix64,
    importers: Vec<Importer>,
    norm_entries: Vec<usize>,
    other_entries: Vec<usize>,
    prefix: String,
    seq: u64,
    at: DateTime<Utc>,
    secret: DrawSecret,
}

impl Population {
    /// A population for `lane` (an id of `cfg.lanes`), from `seed`.
    pub fn new(cfg: &RiskConfig, lane: &str, seed: u64) -> Result<Population, String> {
        let lane_cfg = cfg.lane(lane).ok_or_else(|| format!("lane {lane:?} is not in the config's [[lanes]]"))?.clone();
        let (norm_entries, other_entries): (Vec<usize>, Vec<usize>) =
            (0..cfg.hs.entries.len()).partition(|&i| cfg.hs.entries[i].norm);
        if norm_entries.is_empty() || other_entries.is_empty() {
            return Err("hs: the simulator needs both NORM and other entries".into());
        }
        let lane_index = cfg.lanes.iter().position(|l| l.id == lane).unwrap_or(0);
        let mut p = Population {
            cfg: cfg.clone(),
            lane: lane_cfg,
            rng: SplitMix64::new(seed ^ 0x5157_4F52_4953_4B00),
            importers: vec![],
            norm_entries,
            other_entries,
            prefix: format!("S{:03}L{lane_index}", seed % 1000),
            seq: 0,
            at: Utc.with_ymd_and_hms(2025, 3, 3, 6, 0, 0).single().expect("fixed start time"),
            secret: DrawSecret::from_bytes(
                Sha256::new()
                    .chain_update(b"qorovul simulated draw secret")
                    .chain_update(seed.to_le_bytes())
                    .finalize()
                    .into(),
            ),
        };
        for i in 0..500 {
            let imp = p.importer(i);
            p.importers.push(imp);
        }
        Ok(p)
    }

    /// The profile of each importer, in order (for tests that want one kind).
    pub fn profiles(&self) -> Vec<Profile> {
        self.importers.iter().map(|i| i.profile).collect()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.unit() < p
    }

    fn binomial(&mut self, n: u32, p: f64) -> u32 {
        (0..n).filter(|_| self.rng.unit() < p).count() as u32
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.rng.below(10) as u8)).collect()
    }

    fn importer(&mut self, i: usize) -> Importer {
        let u = self.rng.unit();
        let profile = match u {
            _ if u < 0.55 => Profile::Established,
            _ if u < 0.73 => Profile::Ordinary,
            _ if u < 0.85 => Profile::New,
            _ if u < 0.90 => Profile::PastHits,
            _ => Profile::UnderValuing,
        };
        let year = 365.25 * 86_400.0;
        // (years active, declarations, inspection share, hit probability, amendment probability)
        let (years, decls, insp, hit, amend) = match profile {
            Profile::Established => (self.rng.range(3.0, 12.0), self.rng.range(100.0, 600.0), 0.08, 0.01, 0.01),
            Profile::Ordinary => (self.rng.range(2.0, 4.5), self.rng.range(20.0, 150.0), 0.10, 0.04, 0.03),
            Profile::New => (self.rng.range(0.0, 1.5), self.rng.range(1.0, 15.0), 0.15, 0.05, 0.05),
            Profile::PastHits => (self.rng.range(1.5, 6.0), self.rng.range(30.0, 200.0), 0.20, 0.25, 0.05),
            Profile::UnderValuing => (self.rng.range(1.0, 5.0), self.rng.range(10.0, 120.0), 0.10, 0.05, 0.04),
        };
        let first_seen = if profile == Profile::New && self.chance(1.0 / 3.0) {
            None
        } else {
            Some(self.at - Duration::seconds((years * year) as i64))
        };
        let declarations = if first_seen.is_none() { 0 } else { decls as u32 };
        let inspections = self.binomial(declarations, insp);
        let hits = self.binomial(inspections, hit);
        let random_inspections = self.binomial(inspections, 0.2);
        let random_hits = hits.min(self.binomial(random_inspections, hit));
        let amendments = self.binomial(declarations, amend);
        let tin = format!("3{}", self.digits(8));
        let norm = self.chance(0.06);
        let pool = if norm { self.norm_entries.clone() } else { self.other_entries.clone() };
        let n = 1 + self.rng.below(3);
        let goods = (0..n).map(|_| pool[self.rng.below(pool.len())]).collect();
        let value_factor = if profile == Profile::UnderValuing { self.rng.range(0.15, 0.45) } else { 1.0 };
        let w = self.rng.unit() * ROUTES.iter().map(|r| r.2).sum::<f64>();
        let mut acc = 0.0;
        let (origin, route, _) = *ROUTES
            .iter()
            .find(|r| {
                acc += r.2;
                w < acc
            })
            .unwrap_or(&ROUTES[0]);
        Importer {
            profile,
            record: ImporterRecord {
                tin,
                first_seen,
                declarations,
                inspections,
                hits,
                random_inspections,
                random_hits,
                amendments,
            },
            name: format!("Importer {i} LLC"),
            goods,
            norm,
            value_factor,
            origin,
            route,
        }
    }

    /// An HS code of the entry, extended to 6–10 digits.
    fn code_of(&mut self, e: &HsEntry) -> String {
        let mut c = e.code.clone();
        let len = if self.chance(0.5) { 10 } else { 6 };
        let more = self.digits(len - c.len());
        c.push_str(&more);
        c
    }

    /// An HS code no entry of `[hs]` matches.
    fn unknown_code(&mut self) -> String {
        loop {
            let c = self.digits(6);
            if !c.starts_with("00") && self.cfg.hs.lookup(&c).is_none() {
                return c;
            }
        }
    }

    /// An ISO 6346 container number with a valid check digit.
    fn container(&mut self) -> String {
        const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut s: String = (0..3).map(|_| char::from(LETTERS[self.rng.below(26)])).collect();
        s.push('U');
        let serial = self.digits(6);
        s.push_str(&serial);
        let value = |c: char| -> u32 {
            if c.is_ascii_digit() {
                return c as u32 - '0' as u32;
            }
            // A = 10, skipping multiples of 11.
            let mut v = 10;
            for _ in 'A'..c {
                v += 1;
                if v % 11 == 0 {
                    v += 1;
                }
            }
            v
        };
        let sum: u32 = s.chars().enumerate().map(|(i, c)| value(c) << i).sum();
        s.push(char::from(b'0' + ((sum % 11) % 10) as u8));
        s
    }

    /// The next vehicle at the lane.
    pub fn next_inputs(&mut self) -> Inputs {
        // Arrivals about two minutes apart.
        let gap = -120.0 * (1.0 - self.rng.unit()).max(1e-9).ln();
        self.at += Duration::milliseconds((gap * 1000.0) as i64);
        self.seq += 1;
        let cargo = self.lane.xray || self.lane.kind == "cargo";
        let plates: Vec<String> =
            (0..if cargo { 1 + self.rng.below(2) } else { 1 }).map(|_| random_plate(&mut self.rng).text).collect();
        let containers: Vec<String> = if cargo && self.chance(0.8) { vec![self.container()] } else { vec![] };
        let mut identity = Identity {
            plates: plates.clone(),
            containers: containers.clone(),
            manual: false,
            issues: vec![],
            officer: None,
        };

        if self.chance(0.003) {
            // A vehicle nobody declared.
            let xray = self.lane.xray.then(|| XraySummary {
                scan_id: format!("{}-scan-{:07}", self.prefix, self.seq),
                findings: vec![],
                threats: vec![],
                threats_error: None,
                advisory_threats: vec![],
            });
            let radiation = self.lane.radiation.then(|| RadiationSummary {
                portal: format!("{}-rpm", self.lane.id),
                result: RadiationResult::Clean,
                peak_sigma: None,
            });
            return Inputs {
                lane: self.lane.id.clone(),
                at: self.at,
                declaration: None,
                declaration_notes: vec![],
                importer: None,
                identity,
                xray,
                radiation,
                random_draw: None,
            };
        }

        let k = self.rng.below(self.importers.len());
        let imp = self.importers[k].clone();
        let empty = cargo && self.chance(0.02);
        let mut goods = vec![];
        if !empty {
            let lines = match self.rng.unit() {
                u if u < 0.6 => 1,
                u if u < 0.9 => 2,
                _ => 3,
            };
            let total_kg = if cargo { self.rng.range(1000.0, 20_000.0) } else { self.rng.range(50.0, 1500.0) };
            for l in 0..lines {
                let e = self.cfg.hs.entries[imp.goods[self.rng.below(imp.goods.len())]].clone();
                let code = self.code_of(&e);
                let reference = self.cfg.hs.lookup(&code).map_or(e.ref_usd_per_kg, |e| e.ref_usd_per_kg);
                let net_kg = (total_kg / lines as f64).round().max(1.0);
                let value = net_kg * reference * (0.25 * self.rng.gauss()).exp() * imp.value_factor;
                goods.push(GoodsLine {
                    hs_code: code,
                    description: format!("{} (line {})", e.name.to_lowercase(), l + 1),
                    net_kg,
                    value_usd: (value * 100.0).round() / 100.0,
                });
            }
            if self.chance(0.01) {
                let code = self.unknown_code();
                goods[0].hs_code = code;
            }
        }
        let submitted = self.at - Duration::seconds(self.rng.range(3600.0, 48.0 * 3600.0) as i64);
        let declaration = Declaration {
            id: format!("{}/{}/{:07}", self.prefix, self.at.format("%Y%m%d"), self.seq),
            importer_tin: imp.record.tin.clone(),
            importer_name: Some(imp.name.clone()),
            submitted,
            origin: imp.origin.into(),
            route: imp.route.iter().map(|s| s.to_string()).collect(),
            goods,
            plates,
            containers,
            empty,
        };
        let checked = check_declaration(declaration, &self.cfg.hs).expect("the simulator makes valid declarations");
        if self.chance(0.003) {
            let other = format!("{}/{}/{:07}", self.prefix, self.at.format("%Y%m%d"), self.seq + 1_000_000);
            identity.issues.push(format!(
                "plate {} matches declarations {} and {other}",
                identity.plates[0], checked.declaration.id
            ));
        }

        let xray = if self.lane.xray && !self.chance(0.003) {
            let clean = matches!(imp.profile, Profile::Established | Profile::Ordinary | Profile::New);
            let mut findings = vec![];
            if empty {
                if self.chance(0.05) {
                    findings.push(XrayFinding { kind: "xray_not_empty".into(), severity: "high".into() });
                }
            } else if self.chance(if clean { 0.02 } else { 0.08 }) {
                let (kind, severity) = match self.rng.unit() {
                    u if u < 0.25 => ("xray_dense_region", "high"),
                    u if u < 0.45 => ("xray_anomaly", "high"),
                    u if u < 0.55 => ("xray_void", "medium"),
                    u if u < 0.78 => ("xray_weight_mismatch", "medium"),
                    _ => ("xray_manifest_mismatch", "medium"),
                };
                findings.push(XrayFinding { kind: kind.into(), severity: severity.into() });
            }
            let threats = match self.rng.unit() {
                u if u < 0.0005 => vec!["knife".to_string()],
                u if u < 0.0008 => vec!["gun".to_string()],
                u if u < 0.0010 => vec!["ammunition".to_string()],
                u if u < 0.0030 => vec!["dense_organic".to_string()],
                _ => vec![],
            };
            let threats_error = self.chance(0.002).then(|| "threat detector not loaded".to_string());
            Some(XraySummary {
                scan_id: format!("{}-scan-{:07}", self.prefix, self.seq),
                findings,
                threats,
                threats_error,
                advisory_threats: vec![],
            })
        } else {
            None
        };

        let radiation = if self.lane.radiation && !self.chance(0.002) {
            let u = self.rng.unit();
            let alarm = if imp.norm && !empty { 0.04 } else { 0.0025 };
            let (result, peak_sigma) = if u < alarm {
                let peak = if imp.norm { self.rng.range(5.0, 15.0) } else { self.rng.range(5.0, 40.0) };
                (RadiationResult::Alarm, Some((peak * 10.0).round() / 10.0))
            } else if u < alarm + 0.003 {
                (RadiationResult::Incomplete, None)
            } else {
                (RadiationResult::Clean, None)
            };
            Some(RadiationSummary { portal: format!("{}-rpm", self.lane.id), result, peak_sigma })
        } else {
            None
        };

        let mut record = imp.record.clone();
        // The history as of this declaration: it has now been seen once more.
        record.declarations += 1;
        record.first_seen.get_or_insert(submitted);
        self.importers[k].record = record.clone();
        let random_draw = Some(random_draw(&self.secret, &checked.declaration.id));
        Inputs {
            lane: self.lane.id.clone(),
            at: self.at,
            random_draw,
            declaration: Some(checked.declaration),
            declaration_notes: checked.notes,
            importer: Some(record),
            identity,
            xray,
            radiation,
        }
    }
}

impl Iterator for Population {
    type Item = Inputs;

    fn next(&mut self) -> Option<Inputs> {
        Some(self.next_inputs())
    }
}
