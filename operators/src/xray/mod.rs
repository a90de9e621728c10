//! Customs X-ray analysis: dual-energy material classes, the pseudo-colour
//! render, and the cargo findings (too dense regions, anomalies, voids, weight, empty
//! containers, manifest consistency) on kV baggage and MeV cargo scans.
//!
//! The idea to understand first: a scan is untrusted bytes until [`scan`] has judged its
//! headers and decoded it; from then on everything is physics on the two attenuation images
//! with one scanner's [`calibration`], whose defaults come from the attenuation table. One
//! [`Analysis`] is built from `[xray]` at start-up (a bad section is refused naming the
//! field) and turns a scan plus its declaration into a [`Report`]; a refused scan is
//! counted by [`ScanError::reason`] and the next scan is analysed as if nothing happened.
//!
//! ```toml
//! [xray]
//! attenuation_table = "models/xray/attenuation.json"   # optional: built in
//! hs_table = "configs/xray-hs.toml"                     # optional: built in
//! [xray.limits]
//! max_pixels = 64_000_000
//! [xray.cargo]
//! weight_tolerance = 0.2
//! [[xray.scanners]]
//! id = "post1-lane3-mev"
//! type = "mev"               # energies, pixel size, boundaries and mass table from the table
//! [[xray.scanners]]
//! id = "post1-hall-kv"
//! type = "kv"
//! pixel_size_mm = 0.8
//! ```

pub mod acceptance;
pub mod calibration;
pub mod cargo;
pub mod materials;
pub mod render;
pub mod scan;
#[cfg(test)]
mod tests;
pub mod threats;

pub use calibration::{AttenuationTable, Calibration, Material, ScannerConfig, ScannerType};
pub use cargo::{CargoConfig, Declaration, DeclaredGoods, Finding, HsTable, LoadMeasure, Provenance};
pub use materials::MaterialMap;
pub use scan::{Scan, ScanError, ScanLimits, ScanMeta};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// The μ/ρ table `models/xray/attenuation.py` made (NIST XCOM-checked), built in.
pub const BUILTIN_ATTENUATION: &str = include_str!("../../../models/xray/attenuation.json");
/// Expected material mix per HS chapter, built in.
pub const BUILTIN_HS: &str = include_str!("../../../configs/xray-hs.toml");

/// `[xray]` in a pipeline config.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct XrayConfig {
    /// μ/ρ table the scanner defaults are derived from; the built-in
    /// `models/xray/attenuation.json` when absent.
    pub attenuation_table: Option<PathBuf>,
    /// Expected material mix per HS chapter; the built-in `configs/xray-hs.toml` when absent.
    pub hs_table: Option<PathBuf>,
    /// `[xray.limits]`: what a file may declare before it is decoded.
    pub limits: ScanLimits,
    /// `[xray.cargo]`: MeV finding thresholds.
    pub cargo: CargoConfig,
    /// `[xray.render]`
    pub render: RenderConfig,
    /// `[[xray.scanners]]`
    pub scanners: Vec<ScannerConfig>,
}

/// `[xray.render]`: the pseudo-colour evidence image.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RenderConfig {
    /// `png` or `jpeg`.
    pub format: String,
    pub jpeg_quality: u8,
    /// High-energy attenuation at which a class colour is darkened to a quarter.
    pub attenuation_scale: f32,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig { format: "png".into(), jpeg_quality: 90, attenuation_scale: 3.0 }
    }
}

/// Everything one scan produced.
#[derive(Debug)]
pub struct Report {
    pub scanner_id: String,
    pub scanner_type: ScannerType,
    pub materials: MaterialMap,
    /// Pixels per class (air, organic, mixed, metal, too dense).
    pub histogram: [u64; 5],
    /// The pseudo-colour image, encoded as configured, and its sha256 (its evidence name).
    pub render: Vec<u8>,
    pub render_sha256: String,
    /// MeV only: the load as measured (mass, mix, baseline).
    pub load: Option<LoadMeasure>,
    pub findings: Vec<Finding>,
    pub provenance: Provenance,
    /// Stage timings, ms: `materials`, `findings`, `render`.
    pub timings_ms: BTreeMap<&'static str, f64>,
}

/// The X-ray analysis of one node: every configured scanner's calibration, the HS table and
/// the limits. Build with [`Analysis::new`] (or [`Analysis::from_config`], which reads the
/// table files); then [`Analysis::analyse_bytes`] per scan.
#[derive(Debug)]
pub struct Analysis {
    limits: ScanLimits,
    cargo: CargoConfig,
    render: RenderConfig,
    scanners: BTreeMap<String, Calibration>,
    hs: HsTable,
    config_sha256: String,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl Analysis {
    /// Checks the whole `[xray]` section; `Err` names the field, e.g.
    /// `xray.scanners[1] "lane3".noise_floor: 0.7 must be a transmission in (0, 0.1)`.
    pub fn new(cfg: &XrayConfig, table: Option<&AttenuationTable>, hs: HsTable) -> Result<Analysis, String> {
        cfg.limits.validate().map_err(|e| format!("xray.limits.{e}"))?;
        cfg.cargo.validate().map_err(|e| format!("xray.cargo.{e}"))?;
        if !matches!(cfg.render.format.as_str(), "png" | "jpeg") {
            return Err(format!("xray.render.format: {:?} is not png or jpeg", cfg.render.format));
        }
        if !(1..=100).contains(&cfg.render.jpeg_quality) {
            return Err(format!("xray.render.jpeg_quality: {} is not 1–100", cfg.render.jpeg_quality));
        }
        if !(cfg.render.attenuation_scale.is_finite() && cfg.render.attenuation_scale > 0.0) {
            return Err(format!("xray.render.attenuation_scale: {} must be positive", cfg.render.attenuation_scale));
        }
        let mut scanners = BTreeMap::new();
        for (i, s) in cfg.scanners.iter().enumerate() {
            let at = format!("xray.scanners[{i}] {:?}", s.id);
            let c = s.resolve(table).map_err(|e| format!("{at}.{e}"))?;
            if scanners.insert(s.id.clone(), c).is_some() {
                return Err(format!("{at}.id: another scanner has this id"));
            }
        }
        // The config's hash covers what it says and the table bytes it points to (the
        // calibrations and HS table are hashed on their own too).
        let mut canon = serde_json::to_vec(cfg).expect("the config serialises");
        canon.extend_from_slice(table.map(|t| t.sha256.as_bytes()).unwrap_or_default());
        canon.extend_from_slice(hs.sha256.as_bytes());
        Ok(Analysis {
            limits: cfg.limits.clone(),
            cargo: cfg.cargo.clone(),
            render: cfg.render.clone(),
            scanners,
            hs,
            config_sha256: pipeline::hash::sha256_hex(&canon),
            rejected: Mutex::new(BTreeMap::new()),
        })
    }

    /// [`Analysis::new`] with the attenuation and HS tables of `cfg`: the built-in ones, or
    /// the files it names (relative to `root`).
    pub fn from_config(cfg: &XrayConfig, root: &Path) -> Result<Analysis, String> {
        let table = match &cfg.attenuation_table {
            None => BUILTIN_ATTENUATION.as_bytes().to_vec(),
            Some(p) => {
                std::fs::read(root.join(p)).map_err(|e| format!("xray.attenuation_table: {}: {e}", p.display()))?
            }
        };
        let table = AttenuationTable::from_json(&table).map_err(|e| format!("xray.attenuation_table: {e}"))?;
        let hs = match &cfg.hs_table {
            None => BUILTIN_HS.to_string(),
            Some(p) => {
                std::fs::read_to_string(root.join(p)).map_err(|e| format!("xray.hs_table: {}: {e}", p.display()))?
            }
        };
        let hs = HsTable::from_toml(&hs).map_err(|e| format!("xray.hs_table: {e}"))?;
        Analysis::new(cfg, Some(&table), hs)
    }

    /// What a file may declare before it is decoded.
    pub fn limits(&self) -> &ScanLimits {
        &self.limits
    }

    /// The resolved calibration of a scanner.
    pub fn calibration(&self, id: &str) -> Option<&Calibration> {
        self.scanners.get(id)
    }

    /// sha256 of the `[xray]` section (with the tables it names).
    pub fn config_sha256(&self) -> &str {
        &self.config_sha256
    }

    /// Refused scans so far, by reason (for metrics).
    pub fn rejected(&self) -> BTreeMap<&'static str, u64> {
        self.rejected.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Decodes and analyses one scan from its two files' bytes. A refused scan is counted
    /// under its reason and changes nothing else.
    pub fn analyse_bytes(
        &self,
        meta: ScanMeta,
        low: (&str, &[u8]),
        high: (&str, &[u8]),
        declaration: Option<&Declaration>,
    ) -> Result<Report, ScanError> {
        let r = self.check_scanner(&meta).and_then(|_| Scan::decode(meta, low, high, &self.limits));
        match r {
            Ok(scan) => self.analyse(&scan, declaration),
            Err(e) => {
                self.count(&e);
                Err(e)
            }
        }
    }

    fn count(&self, e: &ScanError) {
        if let Ok(mut r) = self.rejected.lock() {
            *r.entry(e.reason()).or_default() += 1;
        }
    }

    /// The configured scanner of `meta`, checked against what `meta` claims about it.
    fn check_scanner(&self, meta: &ScanMeta) -> Result<&Calibration, ScanError> {
        let cal = self
            .scanners
            .get(&meta.scanner_id)
            .ok_or_else(|| ScanError::UnknownScanner { id: meta.scanner_id.clone() })?;
        if let Some(t) = meta.scanner_type
            && t != cal.scanner_type
        {
            return Err(ScanError::BadMeta {
                field: "scanner_type",
                what: format!("{} but scanner {:?} is {}", t.as_str(), cal.id, cal.scanner_type.as_str()),
            });
        }
        if let Some(e) = meta.energies_kev {
            let close = |a: f64, b: f64| (a - b).abs() <= 0.01 * b;
            if !(close(e[0], cal.energies_kev[0]) && close(e[1], cal.energies_kev[1])) {
                return Err(ScanError::BadMeta {
                    field: "energies_kev",
                    what: format!("{e:?} but scanner {:?} is calibrated at {:?}", cal.id, cal.energies_kev),
                });
            }
        }
        Ok(cal)
    }

    /// Analyses a decoded scan: materials, findings (MeV), render.
    pub fn analyse(&self, scan: &Scan, declaration: Option<&Declaration>) -> Result<Report, ScanError> {
        let cal = self.check_scanner(&scan.meta).inspect_err(|e| self.count(e))?;
        let opencv_err = |e: opencv::Error| {
            let e = ScanError::Decode { file: scan.low.name.clone(), what: e.message };
            self.count(&e);
            e
        };
        let mut timings = BTreeMap::new();
        let t = Instant::now();
        let map = materials::classify(scan, cal).map_err(opencv_err)?;
        timings.insert("materials", ms(t));
        let provenance = Provenance {
            config_sha256: self.config_sha256.clone(),
            calibration_sha256: cal.sha256.clone(),
            hs_table_sha256: Some(self.hs.sha256.clone()),
            model_sha256: None,
        };
        let pixel_mm = scan.meta.pixel_size_mm.unwrap_or(cal.pixel_size_mm);
        let t = Instant::now();
        let (load, findings) = if cal.scanner_type == ScannerType::Mev {
            let (l, f) = cargo::analyse(&map, cal, &self.cargo, &self.hs, declaration, &provenance, pixel_mm)
                .map_err(opencv_err)?;
            (Some(l), f)
        } else {
            (None, vec![])
        };
        timings.insert("findings", ms(t));
        let t = Instant::now();
        let img = render::pseudo_colour(&map, self.render.attenuation_scale).map_err(opencv_err)?;
        let enc = if self.render.format == "jpeg" {
            render::Encoding::Jpeg(self.render.jpeg_quality)
        } else {
            render::Encoding::Png
        };
        let bytes = render::encode(&img, enc).map_err(opencv_err)?;
        timings.insert("render", ms(t));
        Ok(Report {
            scanner_id: cal.id.clone(),
            scanner_type: cal.scanner_type,
            histogram: map.histogram(),
            materials: map,
            render_sha256: pipeline::hash::sha256_hex(&bytes),
            render: bytes,
            load,
            findings,
            provenance,
            timings_ms: timings,
        })
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}
