//! Per-pixel material class from the dual-energy pair.
//!
//! The idea to understand first: each pixel's class comes from the ratio of its two
//! attenuations, `R = A_low / A_high` with `A = −ln(T)`, compared with the calibration's
//! boundaries at that pixel's `A_high` (see [`calibration`](super::calibration)). Both
//! transmission images are box-filtered first (`smooth_px`) and the logs taken of the
//! means: a ratio of two noisy logs is noisier than either, and where a dense object leaves
//! a few photons per pixel the log of each pixel is biased by its floor, while the mean
//! over the box still counts enough photons. Before the ratio: a pixel whose high-energy
//! transmission is below `dense_transmission` is too dense to see through; a pixel that
//! barely attenuates in both channels is air.

use super::calibration::{Calibration, Material};
use super::scan::Scan;
use opencv::core::{BORDER_REPLICATE, Mat, Point, Size};
use opencv::imgproc;
use opencv::prelude::*;

/// The classified scan: per pixel (row-major) its class and both attenuations.
#[derive(Debug, Clone)]
pub struct MaterialMap {
    pub width: usize,
    pub height: usize,
    /// [`Material`] as `u8` (0 air … 4 too dense): the truth masks' numbering.
    pub class: Vec<u8>,
    /// `−ln T_low`, unsmoothed (transmission floored at the noise floor).
    pub a_low: Vec<f32>,
    /// `−ln T_high`, unsmoothed.
    pub a_high: Vec<f32>,
    /// `A_high` box-filtered as for classification (the findings' local statistics use it).
    pub a_high_smooth: Vec<f32>,
}

impl MaterialMap {
    /// Pixels per class, indexed by the class number.
    pub fn histogram(&self) -> [u64; 5] {
        let mut h = [0u64; 5];
        for &c in &self.class {
            h[usize::from(c)] += 1;
        }
        h
    }
}

/// Transmission `T = (v − dark) / (air_row − dark)` of every sample. `air_row` is the row's
/// own air reference where its end columns show air, else `air`.
fn transmission(mat: &Mat, air: f64, dark: f64, ref_px: usize) -> opencv::Result<Vec<f32>> {
    let (w, h) = (mat.cols() as usize, mat.rows() as usize);
    let v: Vec<f32> = if mat.typ() == opencv::core::CV_16UC1 {
        mat.data_typed::<u16>()?.iter().map(|&v| f32::from(v)).collect()
    } else {
        mat.data_typed::<u8>()?.iter().map(|&v| f32::from(v)).collect()
    };
    let mut out = vec![0f32; v.len()];
    let ref_px = ref_px.min(w / 4);
    let mut ends = Vec::with_capacity(2 * ref_px);
    for y in 0..h {
        let row = &v[y * w..(y + 1) * w];
        // Air at the row's ends: within 10 % of the nominal air level.
        ends.clear();
        ends.extend(row[..ref_px].iter().chain(&row[w - ref_px..]).copied().filter(|&x| f64::from(x) > 0.9 * air));
        let air_row = if ends.len() >= ref_px / 2 && ref_px > 0 {
            let k = ends.len() / 2;
            f64::from(*ends.select_nth_unstable_by(k, |a, b| a.total_cmp(b)).1)
        } else {
            air
        };
        let scale = 1.0 / (air_row - dark).max(1.0);
        for (o, &x) in out[y * w..(y + 1) * w].iter_mut().zip(row) {
            *o = ((f64::from(x) - dark) * scale) as f32;
        }
    }
    Ok(out)
}

/// `−ln T`, with `T` floored at `floor`.
fn attenuation(t: f32, floor: f32) -> f32 {
    -t.max(floor).ln()
}

fn box_filter(v: &[f32], w: usize, h: usize, k: u32) -> opencv::Result<Vec<f32>> {
    if k <= 1 {
        return Ok(v.to_vec());
    }
    let src = Mat::new_rows_cols_with_data(h as i32, w as i32, v)?;
    let mut dst = Mat::default();
    let k = k as i32;
    imgproc::blur(&src, &mut dst, Size::new(k, k), Point::new(-1, -1), BORDER_REPLICATE)?;
    Ok(dst.data_typed::<f32>()?.to_vec())
}

/// Classifies every pixel of `scan` with `cal`. The caller has checked the scan belongs to
/// this scanner.
pub fn classify(scan: &Scan, cal: &Calibration) -> opencv::Result<MaterialMap> {
    let (w, h) = (scan.width() as usize, scan.height() as usize);
    let full = scan.full_scale();
    let air = scan.meta.i0.unwrap_or(cal.air_level * full);
    let (dark, refs) = (cal.dark_level * full, cal.air_reference_px as usize);
    let floor = cal.noise_floor as f32;
    let mut a_low = transmission(&scan.low.mat, air, dark, refs)?;
    let mut a_high = transmission(&scan.high.mat, air, dark, refs)?;
    let s_low = box_filter(&a_low, w, h, cal.smooth_px)?;
    let s_high = box_filter(&a_high, w, h, cal.smooth_px)?;
    for a in a_low.iter_mut().chain(a_high.iter_mut()) {
        *a = attenuation(*a, floor);
    }
    let a_high_smooth = box_filter(&a_high, w, h, cal.smooth_px)?;
    let dense = -(cal.dense_transmission.ln()) as f32;
    let air = cal.air_attenuation as f32;
    let rises = cal.ratio_rises_with_z;
    // Boundaries tabulated over A_high in 1024 steps up to opacity: one lookup per pixel.
    let step = dense / 1023.0;
    let table: Vec<(f32, f32)> = (0..1024)
        .map(|i| {
            let (om, mm) = cal.boundaries(f64::from(i as f32 * step));
            (om as f32, mm as f32)
        })
        .collect();
    let class = s_low
        .iter()
        .zip(&s_high)
        .map(|(&l, &hh)| (attenuation(l, floor), attenuation(hh, floor)))
        .map(|(l, hh)| {
            let m = if hh >= dense {
                Material::TooDense
            } else if l < air && hh < air {
                Material::Air
            } else {
                let r = l / hh.max(1e-6);
                let (om, mm) = table[((hh.max(0.0) / step) as usize).min(1023)];
                let (past_om, past_mm) = if rises { (r > om, r > mm) } else { (r < om, r < mm) };
                match (past_om, past_mm) {
                    (_, true) => Material::Metal,
                    (true, false) => Material::Mixed,
                    _ => Material::Organic,
                }
            };
            m as u8
        })
        .collect();
    Ok(MaterialMap { width: w, height: h, class, a_low, a_high, a_high_smooth })
}

/// The solid class (organic, mixed or metal) of attenuations `l`, `h` (low, high; `h > 0`)
/// by the calibration's boundaries at `h`: for one pixel or a region's sums.
pub fn solid_class(cal: &Calibration, l: f64, h: f64) -> Material {
    let r = l / h.max(1e-9);
    let (om, mm) = cal.boundaries(h);
    let (past_om, past_mm) = if cal.ratio_rises_with_z { (r > om, r > mm) } else { (r < om, r < mm) };
    match (past_om, past_mm) {
        (_, true) => Material::Metal,
        (true, false) => Material::Mixed,
        _ => Material::Organic,
    }
}

/// Confusion matrix `[truth][predicted]` over the class numbers 0–4 (values above 4 in
/// either are ignored).
pub fn confusion(truth: &[u8], predicted: &[u8]) -> [[u64; 5]; 5] {
    let mut m = [[0u64; 5]; 5];
    for (&t, &p) in truth.iter().zip(predicted) {
        if t < 5 && p < 5 {
            m[usize::from(t)][usize::from(p)] += 1;
        }
    }
    m
}

/// The matrix as a table with row (truth) recall, for test and tool output.
pub fn format_confusion(m: &[[u64; 5]; 5]) -> String {
    let mut s = String::from("truth\\pred      air  organic    mixed    metal    dense   recall\n");
    for (t, row) in m.iter().enumerate() {
        let n: u64 = row.iter().sum();
        s += &format!("{:<10}", Material::ALL[t].as_str());
        for v in row {
            s += &format!(" {v:>8}");
        }
        let recall = if n == 0 { f64::NAN } else { row[t] as f64 / n as f64 };
        s += &format!(" {:>7.1}%\n", 100.0 * recall);
    }
    s
}
