//! The pseudo-colour image an officer reads: hue from the material class (orange organic,
//! green mixed/inorganic, blue metal, near-black too dense, white air), brightness from the
//! high-energy attenuation (thicker is darker), encoded as PNG or JPEG.

use super::calibration::Material;
use super::materials::MaterialMap;
use opencv::core::{Mat, Vec3b, Vector};
use opencv::imgcodecs;
use opencv::prelude::*;

/// Output encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Png,
    /// JPEG quality 1–100.
    Jpeg(u8),
}

/// BGR of each class at full brightness (thin material).
fn colour(m: Material) -> [f32; 3] {
    match m {
        Material::Air => [255.0, 255.0, 255.0],
        Material::Organic => [40.0, 150.0, 255.0],
        Material::Mixed => [60.0, 200.0, 60.0],
        Material::Metal => [230.0, 110.0, 30.0],
        Material::TooDense => [25.0, 15.0, 15.0],
    }
}

/// The pseudo-colour image, BGR 8-bit, one pixel per scan pixel. `a_scale` is the
/// high-energy attenuation at which a class colour is darkened to a quarter (contrast).
pub fn pseudo_colour(map: &MaterialMap, a_scale: f32) -> opencv::Result<Mat> {
    let mut img = Mat::new_rows_cols_with_default(
        map.height as i32,
        map.width as i32,
        opencv::core::CV_8UC3,
        opencv::core::Scalar::all(0.0),
    )?;
    let k = std::f32::consts::LN_2 * 2.0 / a_scale.max(1e-3);
    let px = img.data_typed_mut::<Vec3b>()?;
    for ((p, &c), &a) in px.iter_mut().zip(&map.class).zip(&map.a_high_smooth) {
        let m = Material::from_u8(c).unwrap_or(Material::Air);
        let base = colour(m);
        // Thin material is a pale tint of its colour, thick material a dark shade of it.
        let v = (-k * a.max(0.0)).exp();
        let tint = if m == Material::Air { 1.0 } else { 0.35 + 0.65 * v };
        let pale = if m == Material::Air { 0.0 } else { 0.5 * v * v };
        for ch in 0..3 {
            let x = base[ch] * tint + (255.0 - base[ch] * tint) * pale;
            p[ch] = x.clamp(0.0, 255.0) as u8;
        }
    }
    Ok(img)
}

/// Encodes a rendered image.
pub fn encode(img: &Mat, enc: Encoding) -> opencv::Result<Vec<u8>> {
    let mut buf = Vector::<u8>::new();
    let (ext, params) = match enc {
        Encoding::Png => (".png", Vector::from_slice(&[imgcodecs::IMWRITE_PNG_COMPRESSION, 3])),
        Encoding::Jpeg(q) => {
            (".jpg", Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, i32::from(q.clamp(1, 100))]))
        }
    };
    imgcodecs::imencode(ext, img, &mut buf, &params)?;
    Ok(buf.to_vec())
}
