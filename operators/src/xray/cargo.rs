//! Findings on MeV cargo and vehicle scans: what cannot be seen through, what does not
//! belong in a uniform load, how heavy the load looks, and whether that fits the declaration.
//!
//! The idea to understand first: everything is measured as *content* — attenuation above
//! the container's own. The container is found in the scan (see [`content`]); its front and
//! back (`wall_margin_mm`) are left out, and what remains is the interior. The side walls,
//! roof rails and floor lie across the beam and run the container's whole length, so each
//! interior row has a `baseline` (the structure's attenuation in that row) that is
//! subtracted: per pixel the content areal density is
//! `(A_high − baseline) / (μ/ρ)_class(A_high − baseline)`, the class's effective μ/ρ.
//!
//! - Dense regions: connected too-dense pixels of at least `min_dense_area_cm2`.
//! - Anomalies and voids: the interior is cut into `tile_mm` tiles; the tiles holding the
//!   load give its median and robust spread (1.4826 · MAD). Only in a uniform load
//!   (spread / median ≤ `uniform_max_cv`; mixed cargo has no "otherwise"): a tile far above
//!   the median of the load tiles around it is an anomaly; tiles that lost most of the
//!   load's content, with load on both sides along the container, are a void.
//! - Mass: the sum of content areal density × pixel area. Weight mismatch against the
//!   declared kg beyond `weight_tolerance`.
//! - Empty: a declared-empty container whose content exceeds `empty_max_areal_density_gcm2`
//!   on at least `empty_min_area_cm2`.
//! - Manifest: the load's ratio `ΣA_low / ΣA_high` (summed over the whole load, which
//!   averages out the detector rows' offsets that make a single pixel's class uncertain in
//!   MeV) against the ratio of the mix expected for the declared HS chapters
//!   (`configs/xray-hs.toml`, weighted by declared kg). The per-tile class mix is reported
//!   beside it.

use super::calibration::{Calibration, Material};
use super::materials::{self, MaterialMap};
use opencv::core::Mat;
use opencv::imgproc;
use opencv::prelude::*;
use pipeline::alert::Severity;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// `[xray.cargo]`: thresholds of the MeV findings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CargoConfig {
    /// Smallest too-dense region reported, cm².
    pub min_dense_area_cm2: f64,
    /// Band at the container's front and back left out of the interior (corner posts and
    /// end walls), mm.
    pub wall_margin_mm: f64,
    /// Bands under the roof and over the floor left out of the interior (roof rails, floor
    /// boards, cross members), mm.
    pub structure_band_mm: f64,
    /// The side walls' areal density is taken as at most this (g/cm²; two 3 mm steel
    /// walls are ~4.7).
    pub max_wall_areal_density_gcm2: f64,
    /// Side of the tiles of the local statistics, mm.
    pub tile_mm: f64,
    /// A tile holding at least this content (g/cm²) belongs to the load.
    pub load_min_areal_density_gcm2: f64,
    /// A load tile this many robust sigmas (of all tiles' residuals) above the median of the
    /// load tiles around it is an anomaly…
    pub anomaly_sigma: f64,
    /// …if it is also at least this fraction of that local median above it.
    pub anomaly_min_rel: f64,
    /// A tile inside the load that lost at least this fraction of the load's median content
    /// is part of a void…
    pub void_min_rel: f64,
    /// …reported when the void is at least this wide (a pallet gap is not a void) and half
    /// this tall (the load's ragged top is not one), mm.
    pub void_min_mm: f64,
    /// Above this robust coefficient of variation of its tiles a load is not uniform.
    pub uniform_max_cv: f64,
    /// Fewest load tiles needed for statistics.
    pub min_load_tiles: usize,
    /// Relative difference between estimated and declared kg that is a mismatch.
    pub weight_tolerance: f64,
    /// …and at least this many kg.
    pub weight_min_kg: f64,
    /// Content above this areal density (g/cm²) in a declared-empty container is cargo.
    pub empty_max_areal_density_gcm2: f64,
    /// Cargo area (cm²) in a declared-empty container that raises `xray_not_empty`.
    pub empty_min_area_cm2: f64,
    /// Distance between the load's measured dual-energy ratio and the ratio its declared
    /// mix would show, as a fraction of the organic-to-metal spread, that is a manifest
    /// mismatch (mixed goods sit half way).
    pub mix_tolerance: f64,
}

impl Default for CargoConfig {
    fn default() -> Self {
        CargoConfig {
            min_dense_area_cm2: 100.0,
            wall_margin_mm: 250.0,
            structure_band_mm: 200.0,
            max_wall_areal_density_gcm2: 6.0,
            tile_mm: 200.0,
            load_min_areal_density_gcm2: 2.0,
            anomaly_sigma: 4.0,
            anomaly_min_rel: 0.3,
            void_min_rel: 0.6,
            void_min_mm: 800.0,
            uniform_max_cv: 0.35,
            min_load_tiles: 8,
            weight_tolerance: 0.2,
            weight_min_kg: 100.0,
            empty_max_areal_density_gcm2: 3.0,
            empty_min_area_cm2: 400.0,
            mix_tolerance: 0.25,
        }
    }
}

impl CargoConfig {
    /// `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.void_min_rel >= 1.0 {
            return Err(format!("void_min_rel: {} must be below 1", self.void_min_rel));
        }
        let checks: [(&str, f64, bool); 16] = [
            ("void_min_rel", self.void_min_rel, true),
            ("void_min_mm", self.void_min_mm, false),
            ("structure_band_mm", self.structure_band_mm, false),
            ("min_dense_area_cm2", self.min_dense_area_cm2, true),
            ("wall_margin_mm", self.wall_margin_mm, false),
            ("max_wall_areal_density_gcm2", self.max_wall_areal_density_gcm2, false),
            ("tile_mm", self.tile_mm, true),
            ("load_min_areal_density_gcm2", self.load_min_areal_density_gcm2, true),
            ("anomaly_sigma", self.anomaly_sigma, true),
            ("anomaly_min_rel", self.anomaly_min_rel, false),
            ("uniform_max_cv", self.uniform_max_cv, true),
            ("weight_tolerance", self.weight_tolerance, true),
            ("weight_min_kg", self.weight_min_kg, false),
            ("empty_max_areal_density_gcm2", self.empty_max_areal_density_gcm2, true),
            ("empty_min_area_cm2", self.empty_min_area_cm2, true),
            ("mix_tolerance", self.mix_tolerance, true),
        ];
        for (field, v, strictly) in checks {
            if !v.is_finite() || v < 0.0 || (strictly && v == 0.0) {
                let want = if strictly { "positive" } else { "0 or more" };
                return Err(format!("{field}: {v} must be a {want} number"));
            }
        }
        if self.mix_tolerance > 1.0 {
            return Err(format!("mix_tolerance: {} is a distance in [0, 1]", self.mix_tolerance));
        }
        if self.min_load_tiles < 3 {
            return Err(format!("min_load_tiles: {} must be at least 3", self.min_load_tiles));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct HsFile {
    chapter: Vec<HsChapterOwned>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
/// One `[[chapter]]`: expected mass fractions of organic, mixed and metal.
struct HsChapterOwned {
    hs: u8,
    name: String,
    organic: f64,
    mixed: f64,
    metal: f64,
}

/// `configs/xray-hs.toml`: expected material mix per HS chapter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HsTable {
    /// Chapter → (name, [organic, mixed, metal] fractions summing to 1).
    pub chapters: BTreeMap<u8, (String, [f64; 3])>,
    /// sha256 of the file's bytes (hex).
    pub sha256: String,
}

impl HsTable {
    /// Parses the TOML; `Err` names the chapter and field.
    pub fn from_toml(text: &str) -> Result<HsTable, String> {
        let f: HsFile = toml::from_str(text).map_err(|e| format!("HS table: {e}"))?;
        let mut chapters = BTreeMap::new();
        for (i, c) in f.chapter.iter().enumerate() {
            let at = format!("chapter[{i}] (HS {})", c.hs);
            if !(1..=99).contains(&c.hs) {
                return Err(format!("{at}.hs: an HS chapter is 01–99"));
            }
            let mix = [c.organic, c.mixed, c.metal];
            if mix.iter().any(|v| !(v.is_finite() && *v >= 0.0)) || (mix.iter().sum::<f64>() - 1.0).abs() > 0.01 {
                return Err(format!("{at}: organic + mixed + metal must be fractions summing to 1, not {mix:?}"));
            }
            if chapters.insert(c.hs, (c.name.clone(), mix)).is_some() {
                return Err(format!("{at}.hs: chapter listed twice"));
            }
        }
        Ok(HsTable { chapters, sha256: pipeline::hash::sha256_hex(text.as_bytes()) })
    }
}

/// One goods line of a customs declaration.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredGoods {
    /// HS chapter (first two digits of the HS code).
    pub hs_chapter: u8,
    #[serde(default)]
    pub description: String,
    /// Declared net mass, kg.
    pub kg: f64,
}

/// What the declaration says about the load.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    #[serde(default)]
    pub id: Option<String>,
    /// Declared empty (no goods at all).
    #[serde(default)]
    pub empty: bool,
    #[serde(default)]
    pub goods: Vec<DeclaredGoods>,
}

/// The versions that produced a finding (docs/ARCHITECTURE.md, "Principles": every automated decision records them).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Provenance {
    pub config_sha256: String,
    pub calibration_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hs_table_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<String>,
}

/// One finding on a scan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// `xray_dense_region`, `xray_anomaly`, `xray_void`, `xray_weight_mismatch`,
    /// `xray_not_empty`, `xray_manifest_mismatch` (and `xray_threat` from the detector).
    pub kind: &'static str,
    pub severity: Severity,
    /// `[x1, y1, x2, y2]` in scan pixels (exclusive end); none for whole-scan findings.
    pub bbox_px: Option<[u32; 4]>,
    /// What was measured, with units in the names.
    pub measured: Map<String, Value>,
    pub provenance: Provenance,
}

/// The load as measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadMeasure {
    /// Object box `[x1, y1, x2, y2]` (non-air) and the interior inside the wall margin.
    pub object_px: Option<[u32; 4]>,
    pub interior_px: Option<[u32; 4]>,
    /// The side walls' attenuation subtracted from every interior pixel.
    pub baseline_attenuation: f64,
    /// Estimated content mass, kg: total and per class.
    pub mass_kg: f64,
    pub mass_by_class_kg: BTreeMap<&'static str, f64>,
    /// Mass fractions of organic, mixed, metal over the load's tiles, each tile classed by
    /// its summed content attenuations (too dense pixels count by their lower-bound mass).
    pub mix: [f64; 3],
    /// Median content of the load's tiles (g/cm²) and its robust coefficient of variation.
    pub load_median_gcm2: Option<f64>,
    pub load_cv: Option<f64>,
    /// The load's dual-energy ratio from its summed content attenuations (every detector
    /// row's offset averaged out) and its mean content `A_high`.
    pub load_ratio: Option<f64>,
    pub load_attenuation: Option<f64>,
}

/// Content areal density (g/cm²) of every interior pixel, 0 outside.
struct Content {
    rho_t: Vec<f32>,
    /// Content attenuations (above the row's baseline), low and high.
    c_low: Vec<f32>,
    c_high: Vec<f32>,
    interior: [usize; 4],
}

/// Measures the load and raises every cargo finding.
pub fn analyse(
    map: &MaterialMap,
    cal: &Calibration,
    cfg: &CargoConfig,
    hs: &HsTable,
    decl: Option<&Declaration>,
    prov: &Provenance,
    pixel_mm: f64,
) -> opencv::Result<(LoadMeasure, Vec<Finding>)> {
    let px_cm2 = (pixel_mm / 10.0).powi(2);
    let mut findings = vec![];
    let finding = |kind, severity, bbox_px, measured: Value| Finding {
        kind,
        severity,
        bbox_px,
        measured: match measured {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        provenance: prov.clone(),
    };
    // Too dense regions.
    let dense: Vec<u8> = map.class.iter().map(|&c| u8::from(c == Material::TooDense as u8)).collect();
    // Closed with a 5 × 5 square first: detector-row noise cuts one dense object into strips.
    let dense = close(&dense, map.width, map.height, 5)?;
    for (bbox, area) in components(&dense, map.width, map.height)? {
        let cm2 = area as f64 * px_cm2;
        if cm2 >= cfg.min_dense_area_cm2 {
            let severity = if cm2 >= 10.0 * cfg.min_dense_area_cm2 { Severity::High } else { Severity::Medium };
            findings.push(finding(
                "xray_dense_region",
                severity,
                Some(bbox),
                json!({ "area_cm2": round(cm2), "area_px": area, "dense_transmission": cal.dense_transmission }),
            ));
        }
    }
    let Some((object, content, baseline)) = content(map, cal, cfg, pixel_mm) else {
        let measure = LoadMeasure {
            object_px: None,
            interior_px: None,
            baseline_attenuation: 0.0,
            mass_kg: 0.0,
            mass_by_class_kg: BTreeMap::new(),
            mix: [0.0; 3],
            load_median_gcm2: None,
            load_cv: None,
            load_ratio: None,
            load_attenuation: None,
        };
        if let Some(d) = decl {
            check_declaration(d, &measure, cal, cfg, hs, &finding, &mut findings, 0.0);
        }
        return Ok((measure, findings));
    };
    let [ix1, iy1, ix2, iy2] = content.interior;
    // Mass per class.
    let mut by_class = [0f64; 5];
    let mut cargo_px = 0u64;
    for y in iy1..iy2 {
        for x in ix1..ix2 {
            let i = y * map.width + x;
            let r = f64::from(content.rho_t[i]);
            by_class[usize::from(map.class[i])] += r;
            if r > cfg.empty_max_areal_density_gcm2 {
                cargo_px += 1;
            }
        }
    }
    let kg = |g_per_cm2: f64| g_per_cm2 * px_cm2 / 1000.0;
    let mass_by_class_kg: BTreeMap<&'static str, f64> =
        Material::ALL.iter().skip(1).map(|m| (m.as_str(), round(kg(by_class[*m as usize])))).collect();
    let mass_kg = kg(by_class.iter().sum());
    // Tiles.
    let tile = ((cfg.tile_mm / pixel_mm).round() as usize).max(4);
    let (tw, th) = ((ix2 - ix1) / tile, (iy2 - iy1) / tile);
    let mut tiles = vec![0f64; tw * th];
    // The mix is measured per tile: a tile's summed content attenuations give its ratio
    // with the detector rows' offsets averaged over `tile` rows, where one pixel's ratio
    // carries its row's offset whole.
    let mut mix_kg = [0f64; 3];
    let (mut load_l, mut load_h, mut load_n) = (0f64, 0f64, 0usize);
    for ty in 0..th {
        for tx in 0..tw {
            let (mut s, mut sl, mut sh) = (0.0, 0.0, 0.0);
            for y in iy1 + ty * tile..iy1 + (ty + 1) * tile {
                let span = y * map.width + ix1 + tx * tile..y * map.width + ix1 + (tx + 1) * tile;
                s += content.rho_t[span.clone()].iter().map(|v| f64::from(*v)).sum::<f64>();
                sl += content.c_low[span.clone()].iter().map(|v| f64::from(*v)).sum::<f64>();
                sh += content.c_high[span].iter().map(|v| f64::from(*v)).sum::<f64>();
            }
            let n = (tile * tile) as f64;
            tiles[ty * tw + tx] = s / n;
            if s / n >= cfg.load_min_areal_density_gcm2 && sh > 0.0 {
                let m = materials::solid_class(cal, sl / n, sh / n);
                mix_kg[m as usize - 1] += s;
                // The load's ratio leaves out the tile's dips (gaps between packages, edges),
                // where the detector blur mixes in bright neighbours, more in the darker
                // low-energy image.
                let floor = 0.85 * sh / n;
                for y in iy1 + ty * tile..iy1 + (ty + 1) * tile {
                    let at = y * map.width + ix1 + tx * tile;
                    for i in at..at + tile {
                        if f64::from(content.c_high[i]) >= floor {
                            load_l += f64::from(content.c_low[i]);
                            load_h += f64::from(content.c_high[i]);
                            load_n += 1;
                        }
                    }
                }
            }
        }
    }
    let solid: f64 = mix_kg.iter().sum();
    let mix = if solid > 0.0 { mix_kg.map(|v| v / solid) } else { [0.0; 3] };
    let (load_median, load_cv) =
        tile_findings(&tiles, tw, th, cfg, pixel_mm, tile, [ix1, iy1], &finding, &mut findings);
    let measure = LoadMeasure {
        object_px: Some(object.map(|v| v as u32)),
        interior_px: Some(content.interior.map(|v| v as u32)),
        baseline_attenuation: round(baseline),
        mass_kg: round(mass_kg),
        mass_by_class_kg,
        mix: mix.map(round),
        load_median_gcm2: load_median.map(round),
        load_cv: load_cv.map(round),
        load_ratio: (load_h > 0.0).then(|| load_l / load_h),
        load_attenuation: (load_n > 0).then(|| load_h / load_n as f64),
    };
    if let Some(d) = decl {
        check_declaration(d, &measure, cal, cfg, hs, &finding, &mut findings, cargo_px as f64 * px_cm2);
    }
    Ok((measure, findings))
}

/// Anomalies and voids from the tiles' content (g/cm²); returns the load's median and
/// robust coefficient of variation when it has enough tiles.
#[allow(clippy::too_many_arguments)]
fn tile_findings(
    tiles: &[f64],
    tw: usize,
    th: usize,
    cfg: &CargoConfig,
    pixel_mm: f64,
    tile: usize,
    origin: [usize; 2],
    finding: &impl Fn(&'static str, Severity, Option<[u32; 4]>, Value) -> Finding,
    out: &mut Vec<Finding>,
) -> (Option<f64>, Option<f64>) {
    let is_load = |v: f64| v >= cfg.load_min_areal_density_gcm2;
    let load: Vec<f64> = tiles.iter().copied().filter(|v| is_load(*v)).collect();
    if load.len() < cfg.min_load_tiles {
        return (None, None);
    }
    let med = median(&load);
    let sigma = 1.4826 * median(&load.iter().map(|v| (v - med).abs()).collect::<Vec<_>>());
    let cv = sigma / med;
    if cv > cfg.uniform_max_cv {
        return (Some(med), Some(cv));
    }
    let tile_box = |b: [u32; 4]| -> [u32; 4] {
        [
            (origin[0] + b[0] as usize * tile) as u32,
            (origin[1] + b[1] as usize * tile) as u32,
            (origin[0] + b[2] as usize * tile) as u32,
            (origin[1] + b[3] as usize * tile) as u32,
        ]
    };
    let mean_in = |b: [u32; 4], mask: &[u8]| {
        let (mut s, mut n) = (0.0, 0usize);
        for ty in b[1] as usize..b[3] as usize {
            for tx in b[0] as usize..b[2] as usize {
                if mask[ty * tw + tx] != 0 {
                    s += tiles[ty * tw + tx];
                    n += 1;
                }
            }
        }
        s / n.max(1) as f64
    };
    // Anomalies: a load tile against the median of the load tiles around it (7 × 7).
    let mut local = vec![f64::NAN; tiles.len()];
    let mut nb = Vec::with_capacity(49);
    for ty in 0..th {
        for tx in 0..tw {
            if !is_load(tiles[ty * tw + tx]) {
                continue;
            }
            nb.clear();
            for y in ty.saturating_sub(3)..(ty + 4).min(th) {
                for x in tx.saturating_sub(3)..(tx + 4).min(tw) {
                    let v = tiles[y * tw + x];
                    if (x, y) != (tx, ty) && is_load(v) {
                        nb.push(v);
                    }
                }
            }
            if nb.len() >= 4 {
                local[ty * tw + tx] = median(&nb);
            }
        }
    }
    let residuals: Vec<f64> = tiles.iter().zip(&local).filter(|(_, l)| !l.is_nan()).map(|(v, l)| v - l).collect();
    if residuals.len() >= cfg.min_load_tiles {
        let rm = median(&residuals);
        let rs = 1.4826 * median(&residuals.iter().map(|r| (r - rm).abs()).collect::<Vec<_>>());
        let high: Vec<u8> = tiles
            .iter()
            .zip(&local)
            .map(|(v, l)| u8::from(!l.is_nan() && v - l > (cfg.anomaly_sigma * rs).max(cfg.anomaly_min_rel * l)))
            .collect();
        for (b, n) in components(&high, tw, th).unwrap_or_default() {
            let m = mean_in(b, &high);
            out.push(finding(
                "xray_anomaly",
                Severity::High,
                Some(tile_box(b)),
                json!({ "tiles": n, "areal_density_gcm2": round(m), "load_median_gcm2": round(med),
                        "residual_sigma_gcm2": round(rs), "ratio_to_load": round(m / med) }),
            ));
        }
    }
    // Voids: tiles that lost most of the load's content, with load on both sides (the
    // load's box is that of its full tiles: the headroom above it is no void).
    let lb = tile_bounds(tiles, tw, th, (1.0 - cfg.void_min_rel) * med);
    let low: Vec<u8> = (0..tiles.len())
        .map(|i| {
            let (tx, ty) = ((i % tw) as u32, (i / tw) as u32);
            let inside = tx >= lb[0] && tx < lb[2] && ty >= lb[1] && ty < lb[3];
            u8::from(inside && tiles[i] < (1.0 - cfg.void_min_rel) * med)
        })
        .collect();
    for (b, n) in components(&low, tw, th).unwrap_or_default() {
        let width_mm = f64::from(b[2] - b[0]) * tile as f64 * pixel_mm;
        let height_mm = f64::from(b[3] - b[1]) * tile as f64 * pixel_mm;
        if b[0] > lb[0] && b[2] < lb[2] && width_mm >= cfg.void_min_mm && height_mm >= cfg.void_min_mm / 2.0 {
            let m = mean_in(b, &low);
            out.push(finding(
                "xray_void",
                Severity::Medium,
                Some(tile_box(b)),
                json!({ "tiles": n, "areal_density_gcm2": round(m), "load_median_gcm2": round(med),
                        "width_mm": round(width_mm), "ratio_to_load": round(m / med) }),
            ));
        }
    }
    (Some(med), Some(cv))
}

/// Weight, emptiness and manifest mix against the declaration.
#[allow(clippy::too_many_arguments)]
fn check_declaration(
    d: &Declaration,
    m: &LoadMeasure,
    cal: &Calibration,
    cfg: &CargoConfig,
    hs: &HsTable,
    finding: &impl Fn(&'static str, Severity, Option<[u32; 4]>, Value) -> Finding,
    out: &mut Vec<Finding>,
    cargo_cm2: f64,
) {
    if d.empty {
        if cargo_cm2 >= cfg.empty_min_area_cm2 {
            out.push(finding(
                "xray_not_empty",
                Severity::High,
                m.interior_px,
                json!({ "cargo_area_cm2": round(cargo_cm2), "estimated_kg": m.mass_kg,
                        "limit_area_cm2": cfg.empty_min_area_cm2 }),
            ));
        }
        return;
    }
    let declared: f64 = d.goods.iter().map(|g| g.kg).sum();
    if declared > 0.0 {
        let diff = m.mass_kg - declared;
        let rel = diff / declared;
        if rel.abs() > cfg.weight_tolerance && diff.abs() >= cfg.weight_min_kg {
            let severity = if rel.abs() > 2.0 * cfg.weight_tolerance { Severity::High } else { Severity::Medium };
            out.push(finding(
                "xray_weight_mismatch",
                severity,
                None,
                json!({ "estimated_kg": m.mass_kg, "declared_kg": round(declared), "relative_difference": round(rel),
                        "tolerance": cfg.weight_tolerance }),
            ));
        }
    }
    let mut expected = [0f64; 3];
    let mut known = 0.0;
    let mut chapters = vec![];
    for g in &d.goods {
        if let Some((_, mix)) = hs.chapters.get(&g.hs_chapter) {
            let w = g.kg.max(0.0);
            for k in 0..3 {
                expected[k] += w * mix[k];
            }
            known += w;
            chapters.push(g.hs_chapter);
        }
    }
    if let (true, Some(r), Some(a)) = (known > 0.0, m.load_ratio, m.load_attenuation) {
        // The ratio the declared mix would show (attenuation shares ≈ mass shares: μ/ρ of
        // the classes differs by ~10 % at MeV), against the measured one, in units of the
        // organic-to-metal spread of R at the load's attenuation.
        let expected = expected.map(|v| v / known);
        let centres = cal.class_ratios(a);
        let expected_ratio: f64 = (0..3).map(|k| expected[k] * centres[k]).sum();
        let distance = (r - expected_ratio).abs() / (centres[0] - centres[2]).abs();
        if distance > cfg.mix_tolerance {
            out.push(finding(
                "xray_manifest_mismatch",
                Severity::Medium,
                m.interior_px,
                json!({ "hs_chapters": chapters, "expected_mix": mix_json(expected), "measured_mix": mix_json(m.mix),
                        "expected_ratio": round(expected_ratio), "measured_ratio": round(r),
                        "distance": round(distance), "tolerance": cfg.mix_tolerance }),
            ));
        }
    }
}

fn mix_json(m: [f64; 3]) -> Value {
    json!({ "organic": round(m[0]), "mixed": round(m[1]), "metal": round(m[2]) })
}

/// The container's box, the interior's content areal density and the side walls' median
/// attenuation.
///
/// The container is found from the rows' longest non-air runs: its roof is the first row
/// whose run is as long as the shortest container (`MIN_CONTAINER_MM`); its length is the run a little below the roof;
/// it goes down as long as a row's run starts and ends where the container does (the
/// chassis below runs on to the tractor, the wheels break the run). The structure across
/// the beam (side walls; roof rails and floor along whole rows) is removed per row: each
/// row's baseline is its lowest 5-pixel running mean of `A_high` inside the interior —
/// the end gaps, headroom and gaps between packages show the walls — capped at
/// `max_wall_areal_density_gcm2` of steel. The roof and floor bands (`structure_band_mm`)
/// and the ends (`wall_margin_mm`) are left out of the interior.
fn content(
    map: &MaterialMap,
    cal: &Calibration,
    cfg: &CargoConfig,
    pixel_mm: f64,
) -> Option<([usize; 4], Content, f64)> {
    // The shortest container is a 10-ft one (2991 mm); a tractor's cab is ~2300 mm.
    const MIN_CONTAINER_MM: f64 = 2800.0;
    let (w, h) = (map.width, map.height);
    let min_span = (MIN_CONTAINER_MM / pixel_mm).ceil() as usize;
    let run = |y: usize| -> (usize, usize) {
        let row = &map.class[y * w..(y + 1) * w];
        let (mut best, mut start) = ((0, 0), None);
        for (x, &c) in row.iter().enumerate().chain(std::iter::once((w, &0u8))) {
            match (c != 0, start) {
                (true, None) => start = Some(x),
                (false, Some(s)) => {
                    if x - s > best.1 - best.0 {
                        best = (s, x);
                    }
                    start = None;
                }
                _ => {}
            }
        }
        best
    };
    let top = (0..h).find(|&y| {
        let (a, b) = run(y);
        b - a >= min_span
    })?;
    let below = (top + (100.0 / pixel_mm).ceil() as usize).min(h - 1);
    let (x1, x2) = run(below);
    if x2 - x1 < min_span {
        return None;
    }
    let tol = ((150.0 / pixel_mm).ceil() as usize).max(3);
    let mut bottom = below;
    while bottom + 1 < h {
        let (a, b) = run(bottom + 1);
        if a.abs_diff(x1) > tol || b.abs_diff(x2) > tol {
            break;
        }
        bottom += 1;
    }
    let m = (cfg.wall_margin_mm / pixel_mm).round() as usize;
    let band = (cfg.structure_band_mm / pixel_mm).round() as usize;
    let interior = [x1 + m, top + band, x2.saturating_sub(m), (bottom + 1).saturating_sub(band)];
    if interior[2] <= interior[0] + 8 || interior[3] <= interior[1] + 8 {
        return None;
    }
    let [ix1, iy1, ix2, iy2] = interior;
    let wall_cap = cfg.max_wall_areal_density_gcm2 * cal.mu_rho_high(Material::Metal, 0.0);
    let mut rho_t = vec![0f32; w * h];
    let (mut c_low, mut c_high) = (vec![0f32; w * h], vec![0f32; w * h]);
    let mut walls = vec![];
    // A row's baseline: its lowest 5-pixel running mean, and where that lies.
    let lowest = |row: &[f32]| -> (f64, usize) {
        let mut sum: f64 = row[..5].iter().map(|v| f64::from(*v)).sum();
        let (mut low, mut at) = (sum, 0);
        for i in 5..row.len() {
            sum += f64::from(row[i]) - f64::from(row[i - 5]);
            if sum < low {
                (low, at) = (sum, i - 4);
            }
        }
        (low / 5.0, at)
    };
    for y in iy1..iy2 {
        let (bh, at) = lowest(&map.a_high[y * w + ix1..y * w + ix2]);
        let baseline = bh.clamp(0.0, wall_cap);
        // The low channel's baseline where the high channel's is (the same walls).
        let bl: f64 =
            map.a_low[y * w + ix1 + at..y * w + ix1 + at + 5].iter().map(|v| f64::from(*v)).sum::<f64>() / 5.0;
        let bl = if bh > 0.0 { bl * baseline / bh } else { 0.0 };
        walls.push(baseline);
        for x in ix1..ix2 {
            let i = y * w + x;
            let c = f64::from(map.a_high[i]) - baseline;
            if c > 0.0 && map.class[i] != 0 {
                let mc = Material::from_u8(map.class[i]).unwrap_or(Material::Organic);
                rho_t[i] = (c / cal.mu_rho_high(mc, c)) as f32;
                c_high[i] = c as f32;
                c_low[i] = (f64::from(map.a_low[i]) - bl) as f32;
            }
        }
    }
    let wall = if walls.is_empty() { 0.0 } else { median(&walls) };
    Some(([x1, top, x2, bottom + 1], Content { rho_t, c_low, c_high, interior }, wall))
}

/// Box (in tiles, exclusive end) of the tiles at or above `min`.
fn tile_bounds(tiles: &[f64], tw: usize, th: usize, min: f64) -> [u32; 4] {
    let (mut b, mut any) = ([u32::MAX, u32::MAX, 0, 0], false);
    for ty in 0..th {
        for tx in 0..tw {
            if tiles[ty * tw + tx] >= min {
                any = true;
                b = [b[0].min(tx as u32), b[1].min(ty as u32), b[2].max(tx as u32 + 1), b[3].max(ty as u32 + 1)];
            }
        }
    }
    if any { b } else { [0, 0, 0, 0] }
}

/// Morphological closing of a 0/1 mask with a `k` × `k` square.
fn close(mask: &[u8], w: usize, h: usize, k: i32) -> opencv::Result<Vec<u8>> {
    if !mask.iter().any(|&v| v != 0) {
        return Ok(mask.to_vec());
    }
    let src = Mat::new_rows_cols_with_data(h as i32, w as i32, mask)?;
    let kernel = imgproc::get_structuring_element(
        imgproc::MORPH_RECT,
        opencv::core::Size::new(k, k),
        opencv::core::Point::new(-1, -1),
    )?;
    let mut dst = Mat::default();
    imgproc::morphology_ex(
        &src,
        &mut dst,
        imgproc::MORPH_CLOSE,
        &kernel,
        opencv::core::Point::new(-1, -1),
        1,
        opencv::core::BORDER_CONSTANT,
        imgproc::morphology_default_border_value()?,
    )?;
    Ok(dst.data_typed::<u8>()?.to_vec())
}

/// 8-connected components of the non-zero cells: (box `[x1, y1, x2, y2]`, cell count).
fn components(mask: &[u8], w: usize, h: usize) -> opencv::Result<Vec<([u32; 4], u64)>> {
    if w == 0 || h == 0 || !mask.iter().any(|&v| v != 0) {
        return Ok(vec![]);
    }
    let src = Mat::new_rows_cols_with_data(h as i32, w as i32, mask)?;
    let (mut labels, mut stats, mut centroids) = (Mat::default(), Mat::default(), Mat::default());
    let n = imgproc::connected_components_with_stats(
        &src,
        &mut labels,
        &mut stats,
        &mut centroids,
        8,
        opencv::core::CV_32S,
    )?;
    let mut out = vec![];
    for i in 1..n {
        let s = |c| stats.at_2d::<i32>(i, c).map(|v| *v as u32);
        let (x, y, bw, bh, area) = (
            s(imgproc::CC_STAT_LEFT)?,
            s(imgproc::CC_STAT_TOP)?,
            s(imgproc::CC_STAT_WIDTH)?,
            s(imgproc::CC_STAT_HEIGHT)?,
            s(imgproc::CC_STAT_AREA)?,
        );
        out.push(([x, y, x + bw, y + bh], u64::from(area)));
    }
    Ok(out)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 }
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
