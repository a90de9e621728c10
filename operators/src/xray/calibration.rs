//! Per-scanner calibration (`[[xray.scanners]]`) and the attenuation table its defaults
//! come from.
//!
//! The idea to understand first: a dual-energy scanner measures, per pixel, the low and
//! high energy transmissions `T_low`, `T_high`. By Beer–Lambert `−ln T = (μ/ρ)(E) · ρt`,
//! so the ratio `R = ln T_low / ln T_high = (μ/ρ)(E_low) / (μ/ρ)(E_high)` does not depend
//! on the thickness `ρt`, only on the material — that is what classifies it. In kV baggage
//! scanners the photoelectric effect (∝ Z⁴/E³) makes `R` grow with Z; in MeV cargo
//! scanners pair production (∝ Z², rising with E) makes `R` fall with Z. A real beam is
//! polychromatic and hardens as it goes through matter, so `R` drifts with thickness:
//! the class boundaries are therefore tables of `R` against the high-energy attenuation
//! `A_high = −ln T_high`, interpolated linearly (at a real scanner: measured on step wedges).
//!
//! The classes are those of screening practice, by effective atomic number: organic
//! Z_eff < 10, mixed/inorganic 10–18, metal ≥ 18 (the table's `z_eff`). A ray through a
//! steel blade and a pile of clothes has one Z_eff, between the two, and one `R`: no
//! transmission measurement can split it into its parts, so that is the class it has.
//!
//! Defaults, per scanner type, from `models/xray/attenuation.json` (μ/ρ of each material
//! from NIST-checked tables at the energy bins of that type's two detector spectra):
//! 1. For an absorber, for areal densities `ρt` from 1 mg/cm² up to opacity, the
//!    bin-weighted transmissions `T = Σ wᵢ·exp(−μᵢ·ρt)` of both channels give its curve of
//!    `R` against `A_high` (`T_low` floored at `noise_floor`, as the classifier sees it).
//! 2. The boundary at Z_eff 10 (and 18) is, at each point of a grid of `A_high` (0.02 to
//!    `−ln dense_transmission`), the mean `R` of every two-material mixture of the table
//!    whose Z_eff is 10 (18): a step wedge of known composition, as a real scanner is
//!    calibrated. The mixtures agree to about 1 % of `R` (they would exactly with a
//!    single-energy beam), which is what makes Z_eff the right notion of class.
//! 3. The mass coefficient of a class at `A_high` is the group-mean effective
//!    `μ/ρ = A_high / ρt` of its materials, so mass needs no separate beam-hardening model.
//!
//! Heavy metals (group 4: lead, tungsten) are left out: thin lead in MeV has an organic-like
//! `R`, and at any useful thickness it is too dense to classify.

use pipeline::hash::{hex, sha256_hex};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub use pipeline::scans::ScannerType;

/// The material classes, as numbered in the truth masks (0 air … 4 too dense).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Material {
    Air = 0,
    Organic = 1,
    Mixed = 2,
    Metal = 3,
    TooDense = 4,
}

impl Material {
    pub const ALL: [Material; 5] =
        [Material::Air, Material::Organic, Material::Mixed, Material::Metal, Material::TooDense];
    /// The three classes the dual-energy ratio separates.
    pub const SOLID: [Material; 3] = [Material::Organic, Material::Mixed, Material::Metal];

    pub fn from_u8(v: u8) -> Option<Material> {
        Material::ALL.get(usize::from(v)).copied()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Material::Air => "air",
            Material::Organic => "organic",
            Material::Mixed => "mixed",
            Material::Metal => "metal",
            Material::TooDense => "too_dense",
        }
    }
}

/// A detector channel's spectrum: energy bins (keV) and the signal fraction each carries.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Spectrum {
    pub kev: Vec<f64>,
    pub weight: Vec<f64>,
}

/// Low and high of something.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Pair<T> {
    pub low: T,
    pub high: T,
}

/// One scanner type in the attenuation table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TableScanner {
    pub pixel_mm: f64,
    pub effective_kev: Pair<f64>,
    pub spectrum: Pair<Spectrum>,
    /// High-energy transmission below which a pixel is too dense (truth class 4).
    pub dense_floor: f64,
}

/// One material in the attenuation table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TableMaterial {
    /// 1 organic, 2 mixed/inorganic, 3 metal, 4 heavy metal.
    pub group: u8,
    pub density: f64,
    /// Moles of electrons per gram (Σ w·Z/A).
    pub electrons_per_gram: f64,
    /// Effective atomic number in each scanner type's regime (see [`ZeffConvention`]).
    pub z_eff: BTreeMap<ScannerType, f64>,
    /// μ/ρ, cm²/g, keyed by the energy in keV as written (`"50"`, `"1500"`).
    pub mu_rho: BTreeMap<String, f64>,
}

/// The material classes by effective atomic number: organic below `bounds[0]`, metal from
/// `bounds[1]`. Per electron, attenuation goes as `a + b·Zⁿ` (`n` = `exponent` of the
/// scanner type), so a ray through several materials attenuates like one material whose
/// `Z_effⁿ` is the electron-weighted mean of theirs: the class of a ray is that of its Z_eff.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ZeffConvention {
    pub exponent: BTreeMap<ScannerType, f64>,
    pub bounds: [f64; 2],
}

/// `models/xray/attenuation.json`: the scanner types' spectra and μ/ρ of the materials.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct AttenuationTable {
    pub scanners: BTreeMap<ScannerType, TableScanner>,
    pub z_eff: ZeffConvention,
    pub materials: BTreeMap<String, TableMaterial>,
    /// sha256 of the table's bytes (hex), part of every calibration hash derived from it.
    #[serde(skip)]
    pub sha256: String,
}

impl AttenuationTable {
    /// Parses `attenuation.json` and checks every spectrum bin has a μ/ρ for every material.
    pub fn from_json(bytes: &[u8]) -> Result<AttenuationTable, String> {
        let mut t: AttenuationTable = serde_json::from_slice(bytes).map_err(|e| format!("attenuation table: {e}"))?;
        t.sha256 = sha256_hex(bytes);
        for (ty, s) in &t.scanners {
            for (ch, sp) in [("low", &s.spectrum.low), ("high", &s.spectrum.high)] {
                if sp.kev.is_empty()
                    || sp.kev.len() != sp.weight.len()
                    || sp.weight.iter().any(|w| w.is_nan() || *w <= 0.0)
                {
                    return Err(format!("attenuation table: scanners.{}.spectrum.{ch}: bad bins", ty.as_str()));
                }
                for (name, m) in &t.materials {
                    for e in &sp.kev {
                        if !m.mu_rho.get(&kev_key(*e)).is_some_and(|v| *v > 0.0) {
                            return Err(format!("attenuation table: materials.{name}.mu_rho has no {e} keV"));
                        }
                    }
                }
            }
        }
        Ok(t)
    }

    /// Areal density → (`A_low`, `A_high`) of a material through a scanner type's spectra.
    /// Areal density → (`A_low`, `A_high`) of a mixture (materials and mass fractions).
    fn attenuations(&self, s: &TableScanner, mix: &[(&TableMaterial, f64)], rho_t: f64) -> (f64, f64) {
        let a = |sp: &Spectrum| {
            let total: f64 = sp.weight.iter().sum();
            let t: f64 = sp
                .kev
                .iter()
                .zip(&sp.weight)
                .map(|(e, w)| {
                    let mu: f64 = mix.iter().map(|(m, f)| f * m.mu_rho[&kev_key(*e)]).sum();
                    w * (-mu * rho_t).exp()
                })
                .sum();
            -(t / total).ln()
        };
        (a(&s.spectrum.low), a(&s.spectrum.high))
    }

    /// `(R, effective μ/ρ_high)` of a mixture at each `A_high` of `grid` (`A_low` floored at
    /// `cap`, as the classifier sees it).
    fn curve(&self, s: &TableScanner, mix: &[(&TableMaterial, f64)], grid: &[f64], cap: f64) -> Vec<(f64, f64)> {
        let a_max = grid.last().copied().unwrap_or(0.0);
        let mut curve = vec![(0.0, 0.0, 0.0)]; // (ρt, A_low, A_high)
        let mut rho_t = 1e-3;
        while curve.last().is_some_and(|c| c.2 <= a_max * 1.01) && rho_t < 1e5 {
            let (l, h) = self.attenuations(s, mix, rho_t);
            curve.push((rho_t, l.min(cap), h));
            rho_t *= 1.03;
        }
        grid.iter()
            .map(|&a| {
                let i = curve.partition_point(|c| c.2 < a).clamp(1, curve.len() - 1);
                let (p, q) = (curve[i - 1], curve[i]);
                let t = if q.2 > p.2 { (a - p.2) / (q.2 - p.2) } else { 0.0 };
                let (rt, l) = (p.0 + t * (q.0 - p.0), p.1 + t * (q.1 - p.1));
                (l / a, a / rt.max(1e-9))
            })
            .collect()
    }

    /// Every two-material mixture of the table (groups 1–3) whose effective atomic number is
    /// `z`: the pairs that bracket `z`, each at the mass fraction that gives it.
    fn mixtures_at(&self, ty: ScannerType, z: f64) -> Result<Vec<[(&TableMaterial, f64); 2]>, String> {
        let n = *self.z_eff.exponent.get(&ty).ok_or_else(|| format!("z_eff.exponent has no {}", ty.as_str()))?;
        let mut solids = vec![];
        for (name, m) in self.materials.iter().filter(|(_, m)| (1..=3).contains(&m.group)) {
            let zm = *m.z_eff.get(&ty).ok_or_else(|| format!("materials.{name}.z_eff has no {}", ty.as_str()))?;
            solids.push((m, zm));
        }
        let mut out = vec![];
        for &(lo, z_lo) in &solids {
            for &(hi, z_hi) in &solids {
                if z_lo < z && z < z_hi {
                    // Mass fraction f of `hi`: (1−f)·e_lo·(zⁿ − z_loⁿ) = f·e_hi·(z_hiⁿ − zⁿ).
                    let below = lo.electrons_per_gram * (z.powf(n) - z_lo.powf(n));
                    let above = hi.electrons_per_gram * (z_hi.powf(n) - z.powf(n));
                    let f = below / (below + above);
                    out.push([(lo, 1.0 - f), (hi, f)]);
                }
            }
        }
        if out.is_empty() {
            return Err(format!("no two materials of the table bracket Z_eff {z} for {}", ty.as_str()));
        }
        Ok(out)
    }

    /// Default boundaries and mass coefficients for `ty` (see the module doc), on a grid of
    /// `A_high` up to `−ln dense_transmission`.
    pub fn derive(
        &self,
        ty: ScannerType,
        noise_floor: f64,
        dense_transmission: f64,
    ) -> Result<(Vec<RatioPoint>, Vec<MassPoint>), String> {
        let s =
            self.scanners.get(&ty).ok_or_else(|| format!("the attenuation table has no {} scanner", ty.as_str()))?;
        let cap = -noise_floor.ln();
        let a_max = -dense_transmission.ln();
        let mut grid: Vec<f64> =
            [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0]
                .into_iter()
                .filter(|a| *a < a_max)
                .collect();
        grid.push(a_max);
        let mean = |curves: &[Vec<(f64, f64)>], i: usize, f: fn(&(f64, f64)) -> f64| {
            curves.iter().map(|c| f(&c[i])).sum::<f64>() / curves.len() as f64
        };
        // The boundaries: mean R of the mixtures at each bound's Z_eff.
        let [z_om, z_mm] = self.z_eff.bounds;
        let at_bound = |z: f64| -> Result<Vec<Vec<(f64, f64)>>, String> {
            Ok(self.mixtures_at(ty, z)?.iter().map(|mix| self.curve(s, mix, &grid, cap)).collect())
        };
        let (om_curves, mm_curves) = (at_bound(z_om)?, at_bound(z_mm)?);
        // The mass coefficients: per group, the mean of its materials'.
        let mut groups: BTreeMap<u8, Vec<Vec<(f64, f64)>>> = BTreeMap::new();
        for m in self.materials.values().filter(|m| (1..=3).contains(&m.group)) {
            groups.entry(m.group).or_default().push(self.curve(s, &[(m, 1.0)], &grid, cap));
        }
        for g in 1..=3u8 {
            if !groups.contains_key(&g) {
                return Err(format!("the attenuation table has no material of group {g}"));
            }
        }
        let mut ratio = vec![];
        let mut mass = vec![];
        for (i, &a) in grid.iter().enumerate() {
            let (om, mm) = (mean(&om_curves, i, |p| p.0), mean(&mm_curves, i, |p| p.0));
            let r = |g: u8| mean(&groups[&g], i, |p| p.0);
            // Where the floored low channel makes the classes meet, keep the last separating
            // boundaries rather than emit crossed ones.
            let ordered = (r(1) < om && om < mm && mm < r(3)) || (r(1) > om && om > mm && mm > r(3));
            if ordered {
                ratio.push(RatioPoint { attenuation: a, organic_mixed: om, mixed_metal: mm });
            }
            let mu = |g: u8| mean(&groups[&g], i, |p| p.1);
            mass.push(MassPoint { attenuation: a, organic: mu(1), mixed: mu(2), metal: mu(3) });
        }
        if ratio.is_empty() {
            return Err(format!("{}: the table's groups do not separate by R", ty.as_str()));
        }
        Ok((ratio, mass))
    }
}

/// The table's key for an energy: integral keV as written by attenuation.py.
fn kev_key(e: f64) -> String {
    if e.fract() == 0.0 { format!("{}", e as i64) } else { format!("{e}") }
}

/// One row of a boundary table: at high-energy attenuation `attenuation`, the ratio `R`
/// between organic and mixed, and between mixed and metal.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RatioPoint {
    /// `A_high = −ln T_high` (0 = air).
    pub attenuation: f64,
    pub organic_mixed: f64,
    pub mixed_metal: f64,
}

/// One row of the mass table: effective high-energy μ/ρ (cm²/g) of each class at
/// high-energy attenuation `attenuation` (beam hardening lowers it as `A_high` grows).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MassPoint {
    pub attenuation: f64,
    pub organic: f64,
    pub mixed: f64,
    pub metal: f64,
}

/// `[[xray.scanners]]` as written; unset fields are filled from the attenuation table by
/// [`ScannerConfig::resolve`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    pub id: String,
    #[serde(rename = "type")]
    pub scanner_type: ScannerType,
    /// Effective low and high energies, keV; the table's for the type if absent.
    #[serde(default)]
    pub energies_kev: Option<[f64; 2]>,
    /// Size of one pixel at the object, mm; the table's for the type if absent.
    #[serde(default)]
    pub pixel_size_mm: Option<f64>,
    /// Raw value of unattenuated air (I0) as a fraction of full scale (1.0: 65535 in 16-bit).
    #[serde(default = "one")]
    pub air_level: f64,
    /// The detector's dark offset as a fraction of full scale: what reads with no photons.
    #[serde(default)]
    pub dark_level: f64,
    /// Columns at each end of every detector row (image row) used as that row's air
    /// reference, where they are bright enough to be air: a line scanner sees air before
    /// the object enters and after it leaves, and per-row normalisation removes the
    /// detectors' gain spread. 0: every row uses `air_level`.
    #[serde(default = "default_air_reference")]
    pub air_reference_px: u32,
    /// Transmission below which the detector's signal is lost in its noise.
    #[serde(default = "default_noise_floor")]
    pub noise_floor: f64,
    /// Pixels whose high-energy transmission is below this are too dense to penetrate;
    /// the table's `dense_floor` for the type if absent.
    #[serde(default)]
    pub dense_transmission: Option<f64>,
    /// Pixels whose low- and high-energy attenuations are both below this are air.
    #[serde(default = "default_air_attenuation")]
    pub air_attenuation: f64,
    /// Side of the box filter applied to both attenuation images before the ratio (odd,
    /// 1 = none): the ratio of two noisy logs is noisier than either.
    #[serde(default = "default_smooth")]
    pub smooth_px: u32,
    /// Class boundaries on `R` against `A_high`, ascending; derived from the table if absent.
    #[serde(default)]
    pub ratio: Option<Vec<RatioPoint>>,
    /// Effective μ/ρ per class against `A_high` for the mass estimate; derived if absent.
    #[serde(default)]
    pub mass: Option<Vec<MassPoint>>,
}

fn one() -> f64 {
    1.0
}
fn default_air_reference() -> u32 {
    24
}
fn default_noise_floor() -> f64 {
    1e-4
}
fn default_air_attenuation() -> f64 {
    0.02
}
fn default_smooth() -> u32 {
    5
}

/// A scanner's calibration with every default resolved: what classification and mass use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    pub id: String,
    pub scanner_type: ScannerType,
    pub energies_kev: [f64; 2],
    pub pixel_size_mm: f64,
    pub air_level: f64,
    pub dark_level: f64,
    pub air_reference_px: u32,
    pub noise_floor: f64,
    pub dense_transmission: f64,
    pub air_attenuation: f64,
    pub smooth_px: u32,
    pub ratio: Vec<RatioPoint>,
    /// `true` when `R` grows with Z (kV), `false` when it falls (MeV).
    pub ratio_rises_with_z: bool,
    pub mass: Vec<MassPoint>,
    /// sha256 (hex) of this resolved calibration's canonical JSON, with the table's hash
    /// where defaults came from it.
    #[serde(skip)]
    pub sha256: String,
}

impl ScannerConfig {
    /// Checks every field and fills defaults from `table`; `Err` names the field.
    pub fn resolve(&self, table: Option<&AttenuationTable>) -> Result<Calibration, String> {
        let pos = |v: f64, field: &str| -> Result<(), String> {
            if v.is_finite() && v > 0.0 { Ok(()) } else { Err(format!("{field}: {v} must be a positive number")) }
        };
        if self.id.trim().is_empty() {
            return Err("id: empty".into());
        }
        let ts = table.and_then(|t| t.scanners.get(&self.scanner_type));
        let need = |field: &str| {
            format!(
                "{field}: not given and no attenuation table entry for {} to default from",
                self.scanner_type.as_str()
            )
        };
        let energies_kev = match (self.energies_kev, ts) {
            (Some(e), _) => e,
            (None, Some(ts)) => [ts.effective_kev.low, ts.effective_kev.high],
            (None, None) => return Err(need("energies_kev")),
        };
        let [lo, hi] = energies_kev;
        pos(lo, "energies_kev")?;
        pos(hi, "energies_kev")?;
        if lo >= hi {
            return Err(format!("energies_kev: low {lo} must be below high {hi}"));
        }
        let pixel_size_mm = match (self.pixel_size_mm, ts) {
            (Some(p), _) => p,
            (None, Some(ts)) => ts.pixel_mm,
            (None, None) => return Err(need("pixel_size_mm")),
        };
        pos(pixel_size_mm, "pixel_size_mm")?;
        if !(self.air_level > 0.0 && self.air_level <= 1.0) {
            return Err(format!("air_level: {} must be in (0, 1] (a fraction of full scale)", self.air_level));
        }
        if !(self.dark_level >= 0.0 && self.dark_level < 0.5 * self.air_level) {
            return Err(format!("dark_level: {} must be in [0, air_level / 2)", self.dark_level));
        }
        if self.air_reference_px > 4096 {
            return Err(format!("air_reference_px: {} columns is more than a scan's ends hold", self.air_reference_px));
        }
        if !(self.noise_floor > 0.0 && self.noise_floor < 0.1) {
            return Err(format!("noise_floor: {} must be a transmission in (0, 0.1)", self.noise_floor));
        }
        let dense_transmission = match (self.dense_transmission, ts) {
            (Some(d), _) => d,
            (None, Some(ts)) => ts.dense_floor,
            (None, None) => return Err(need("dense_transmission")),
        };
        if !(dense_transmission >= self.noise_floor && dense_transmission < 0.5) {
            return Err(format!(
                "dense_transmission: {dense_transmission} must be a transmission in [noise_floor, 0.5)"
            ));
        }
        pos(self.air_attenuation, "air_attenuation")?;
        if self.smooth_px == 0 || self.smooth_px.is_multiple_of(2) || self.smooth_px > 31 {
            return Err(format!("smooth_px: {} must be odd, 1 to 31", self.smooth_px));
        }
        let derived = if self.ratio.is_none() || self.mass.is_none() {
            let t = table.ok_or_else(|| need(if self.ratio.is_none() { "ratio" } else { "mass" }))?;
            if let (Some(e), Some(ts)) = (self.energies_kev, ts) {
                let close = |a: f64, b: f64| (a - b).abs() <= 0.01 * b;
                if !(close(e[0], ts.effective_kev.low) && close(e[1], ts.effective_kev.high)) {
                    return Err(format!(
                        "energies_kev: {e:?} differ from the attenuation table's [{}, {}] for {}: give ratio and mass",
                        ts.effective_kev.low,
                        ts.effective_kev.high,
                        self.scanner_type.as_str()
                    ));
                }
            }
            Some(t.derive(self.scanner_type, self.noise_floor, dense_transmission)?)
        } else {
            None
        };
        let ratio = self.ratio.clone().unwrap_or_else(|| derived.as_ref().map(|d| d.0.clone()).unwrap_or_default());
        let mass = self.mass.clone().unwrap_or_else(|| derived.as_ref().map(|d| d.1.clone()).unwrap_or_default());
        if ratio.is_empty() {
            return Err("ratio: needs at least one point".into());
        }
        let rises = ratio[0].mixed_metal > ratio[0].organic_mixed;
        for (i, p) in ratio.iter().enumerate() {
            let at = format!("ratio[{i}]");
            if !(p.attenuation.is_finite() && p.attenuation >= 0.0) {
                return Err(format!("{at}.attenuation: {} must be 0 or more", p.attenuation));
            }
            if i > 0 && p.attenuation <= ratio[i - 1].attenuation {
                return Err(format!("{at}.attenuation: {} must be above the previous point's", p.attenuation));
            }
            pos(p.organic_mixed, &format!("{at}.organic_mixed"))?;
            pos(p.mixed_metal, &format!("{at}.mixed_metal"))?;
            if p.organic_mixed == p.mixed_metal || (p.mixed_metal > p.organic_mixed) != rises {
                return Err(format!(
                    "{at}: organic_mixed {} and mixed_metal {} must be ordered as in ratio[0]",
                    p.organic_mixed, p.mixed_metal
                ));
            }
        }
        if mass.is_empty() {
            return Err("mass: needs at least one point".into());
        }
        for (i, p) in mass.iter().enumerate() {
            let at = format!("mass[{i}]");
            if i > 0 && p.attenuation <= mass[i - 1].attenuation {
                return Err(format!("{at}.attenuation: {} must be above the previous point's", p.attenuation));
            }
            pos(p.organic, &format!("{at}.organic"))?;
            pos(p.mixed, &format!("{at}.mixed"))?;
            pos(p.metal, &format!("{at}.metal"))?;
        }
        let mut c = Calibration {
            id: self.id.clone(),
            scanner_type: self.scanner_type,
            energies_kev,
            pixel_size_mm,
            air_level: self.air_level,
            dark_level: self.dark_level,
            air_reference_px: self.air_reference_px,
            noise_floor: self.noise_floor,
            dense_transmission,
            air_attenuation: self.air_attenuation,
            smooth_px: self.smooth_px,
            ratio,
            ratio_rises_with_z: rises,
            mass,
            sha256: String::new(),
        };
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(&c).expect("a calibration serialises"));
        if derived.is_some() {
            h.update(table.map(|t| t.sha256.as_bytes()).unwrap_or_default());
        }
        c.sha256 = hex(&h.finalize());
        Ok(c)
    }
}

/// Linear interpolation in a table sorted by `x`, flat beyond the ends.
fn interp<T: Copy>(rows: &[T], x: f64, key: impl Fn(&T) -> f64, val: impl Fn(&T) -> f64) -> f64 {
    let i = rows.partition_point(|r| key(r) < x);
    if i == 0 {
        return val(&rows[0]);
    }
    if i == rows.len() {
        return val(&rows[rows.len() - 1]);
    }
    let (p, q) = (&rows[i - 1], &rows[i]);
    let t = (x - key(p)) / (key(q) - key(p));
    val(p) + t * (val(q) - val(p))
}

impl Calibration {
    /// The two boundaries (organic|mixed, mixed|metal) at high-energy attenuation `a`.
    pub fn boundaries(&self, a: f64) -> (f64, f64) {
        (
            interp(&self.ratio, a, |p| p.attenuation, |p| p.organic_mixed),
            interp(&self.ratio, a, |p| p.attenuation, |p| p.mixed_metal),
        )
    }

    /// Typical `R` of organic, mixed and metal at `A_high = a`: the middle between the two
    /// boundaries for mixed, and as far again beyond them for the other two.
    pub fn class_ratios(&self, a: f64) -> [f64; 3] {
        let (om, mm) = self.boundaries(a);
        let half = (mm - om) / 2.0;
        [om - half, om + half, mm + half]
    }

    /// Effective high-energy μ/ρ (cm²/g) of a class at `A_high = a`; too dense pixels use
    /// metal's (a lower bound on their mass), air organic's.
    pub fn mu_rho_high(&self, m: Material, a: f64) -> f64 {
        let f: fn(&MassPoint) -> f64 = match m {
            Material::Mixed => |p| p.mixed,
            Material::Metal | Material::TooDense => |p| p.metal,
            Material::Air | Material::Organic => |p| p.organic,
        };
        interp(&self.mass, a, |p| p.attenuation, f)
    }
}
