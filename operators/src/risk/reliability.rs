//! Importer reliability: a 0–100 score (higher is more reliable) made of a few transparent
//! factors, each a small formula of `[reliability]`, shown to the officer as measured.
//!
//! The idea to understand first: `score = clamp(baseline + Σ points, 0, 100)`, and the
//! factor list *is* the explanation: every factor's points are rounded to 3 decimals when
//! it is made and the score is summed from the rounded points, so what the officer reads
//! adds up, and a record replays to the same digits. A clamp appears as its own factor.
//!
//! The factors:
//! - `inspections`: the hit rate smoothed toward `prior_hit_rate` with the weight of
//!   `prior_weight` inspections (a Beta prior: `p = (hits + w·p0) / (inspections + w)`),
//!   `points = hit_points_per_rate · (p0 − p)`, between `−hit_max_penalty` and
//!   `+hit_max_bonus`. With no inspections `p = p0`: no points either way.
//! - `time_active`: an importer first seen less than `new_months` ago loses
//!   `new_max_penalty · (1 − months / new_months)`.
//! - `value`: declared value ÷ reference value (Σ net kg × `ref_usd_per_kg` over the lines
//!   whose HS code has a reference); below `value_ratio_low` it loses
//!   `value_points_per_ln · ln(value_ratio_low / ratio)`, at most `value_max_penalty`.
//! - `amendments`: `amendment_points_per_rate · amendments / declarations`, capped.
//! - `route`: `origin_points` if the origin, `transit_points` per transit country, is on
//!   `risk_countries`, at most `route_max_penalty`.

use super::config::{HsTable, ReliabilityConfig};
use super::declaration::Declaration;
use super::history::ImporterRecord;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Average month, days.
const MONTH_DAYS: f64 = 30.4375;

/// The reliability score and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reliability {
    /// 0–100, higher is more reliable; `baseline + Σ factors[].points`.
    pub score: f64,
    pub band: Band,
    /// The score before any factor.
    pub baseline: f64,
    /// In a fixed order; a factor that measured nothing unusual is still listed, with 0 points.
    pub factors: Vec<Factor>,
}

/// The reliability band, by `[reliability]` `high_at` and `low_below`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    High,
    Medium,
    Low,
}

/// One factor of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    /// `inspections`, `time_active`, `value`, `amendments`, `route`, or `bounds` (the clamp).
    pub name: String,
    /// What was measured, e.g. "3 of 12 inspections found something".
    pub value: String,
    /// Signed contribution, rounded to 3 decimals.
    pub points: f64,
}

/// Rounds to 3 decimals: short enough to show, and exact through JSON.
pub(crate) fn round3(v: f64) -> f64 {
    let r = (v * 1000.0).round() / 1000.0;
    if r == 0.0 { 0.0 } else { r }
}

/// The importer's reliability for this declaration, with its history as of `now`.
pub fn score(
    d: &Declaration,
    h: &ImporterRecord,
    cfg: &ReliabilityConfig,
    hs: &HsTable,
    now: DateTime<Utc>,
) -> Reliability {
    let mut factors = Vec::with_capacity(6);
    let mut push = |name: &str, value: String, points: f64| {
        factors.push(Factor { name: name.into(), value, points: round3(points) });
    };

    // Inspections: Beta-smoothed hit rate against the prior.
    let (n, k) = (f64::from(h.inspections), f64::from(h.hits));
    let p = (k + cfg.prior_weight * cfg.prior_hit_rate) / (n + cfg.prior_weight);
    let pts = (cfg.hit_points_per_rate * (cfg.prior_hit_rate - p)).clamp(-cfg.hit_max_penalty, cfg.hit_max_bonus);
    push(
        "inspections",
        format!(
            "{} of {} inspections found something (smoothed hit rate {:.1} %, base {:.1} %)",
            h.hits,
            h.inspections,
            100.0 * p,
            100.0 * cfg.prior_hit_rate
        ),
        pts,
    );

    // Time active: linear up to new_months.
    let months = h.first_seen.map(|t| ((now - t).num_seconds() as f64 / 86_400.0 / MONTH_DAYS).max(0.0));
    let m = months.unwrap_or(0.0);
    let pts = if m < cfg.new_months { -cfg.new_max_penalty * (1.0 - m / cfg.new_months) } else { 0.0 };
    let value = match months {
        None => "first declaration: not seen before".to_string(),
        Some(m) => format!("active {m:.1} months ({} declarations)", h.declarations),
    };
    push("time_active", value, pts);

    // Value per kg against the reference.
    let (mut declared, mut reference, mut lines) = (0.0, 0.0, 0);
    for g in &d.goods {
        if let Some(e) = hs.lookup(&g.hs_code) {
            declared += g.value_usd;
            reference += g.net_kg * e.ref_usd_per_kg;
            lines += 1;
        }
    }
    let (value, pts) = if lines == 0 || reference <= 0.0 {
        ("no goods line with a reference value".to_string(), 0.0)
    } else {
        let ratio = declared / reference;
        let pts = if ratio >= cfg.value_ratio_low {
            0.0
        } else if ratio <= 0.0 {
            -cfg.value_max_penalty
        } else {
            -(cfg.value_points_per_ln * (cfg.value_ratio_low / ratio).ln()).min(cfg.value_max_penalty)
        };
        (
            format!(
                "declared {:.0} USD is {:.2} × the reference {:.0} USD ({} line{}; under-valued below {:.2})",
                declared,
                ratio,
                reference,
                lines,
                if lines == 1 { "" } else { "s" },
                cfg.value_ratio_low
            ),
            pts,
        )
    };
    push("value", value, pts);

    // Amendments per declaration.
    let rate = f64::from(h.amendments) / f64::from(h.declarations.max(1));
    let pts = -(cfg.amendment_points_per_rate * rate).min(cfg.amendment_max_penalty);
    push("amendments", format!("{} amendments over {} declarations", h.amendments, h.declarations), pts);

    // Route through risk-listed countries.
    let listed = |c: &String| cfg.risk_countries.contains(c);
    let transit: Vec<&String> = d.route.iter().filter(|c| listed(c)).collect();
    let raw = if listed(&d.origin) { cfg.origin_points } else { 0.0 } + cfg.transit_points * transit.len() as f64;
    let value = match (listed(&d.origin), transit.is_empty()) {
        (false, true) => format!("origin {}, route {}: none on the risk list", d.origin, route_text(&d.route)),
        _ => format!(
            "origin {}{}, transit {}{}",
            d.origin,
            if listed(&d.origin) { " (risk list)" } else { "" },
            route_text(&d.route),
            if transit.is_empty() {
                String::new()
            } else {
                format!(" ({} on the risk list)", transit.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
            }
        ),
    };
    push("route", value, -raw.min(cfg.route_max_penalty));

    let sum: f64 = factors.iter().map(|f| f.points).sum();
    let unclamped = round3(cfg.baseline + sum);
    let score = unclamped.clamp(0.0, 100.0);
    if score != unclamped {
        factors.push(Factor {
            name: "bounds".into(),
            value: format!("{unclamped:.3} clamped to {score}"),
            points: round3(score - unclamped),
        });
    }
    let band = if score >= cfg.high_at {
        Band::High
    } else if score < cfg.low_below {
        Band::Low
    } else {
        Band::Medium
    };
    Reliability { score, band, baseline: cfg.baseline, factors }
}

fn route_text(route: &[String]) -> String {
    if route.is_empty() { "direct".into() } else { route.join("→") }
}
