//! Synthetic Uzbek plates for tests and the demo: a plate drawn from its text, placed in a
//! car-body-like scene and degraded the way a camera degrades it.
//!
//! The one idea: everything follows from a seed. The seeded generator ([`SplitMix64`]) drives the plate text, the
//! font, the tilt, the blur and the noise, so a failing plate can be rendered again from
//! its seed and looked at.
//!
//! The plate follows the national layout: white, a black rim, the region code in its own
//! box on the left behind a vertical separator, the rest of the number, and on the right
//! the flag with `UZ` under it. Text is drawn with TrueType fonts from Debian packages
//! (through OpenCV's FreeType module) or with OpenCV's Hershey vector fonts.

use super::{Format, Plate, REGIONS};
use crate::image::cv;
use opencv::core::{self, Mat, Point, Point2f, Rect, Scalar, Size, Vector};
use opencv::prelude::*;
use opencv::{freetype, imgproc};
use pipeline::rng::SplitMix64;
use std::path::Path;

/// A random valid plate: either format, a region in use, any Latin letters and digits.
pub fn random_plate(rng: &mut SplitMix64) -> Plate {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let format = if rng.unit() < 0.6 { Format::Private } else { Format::Company };
    let mut text = String::with_capacity(8);
    text.push_str(REGIONS[rng.below(REGIONS.len())]);
    for &kind in &format.pattern()[2..] {
        let c = if kind == b'D' { b'0' + rng.below(10) as u8 } else { LETTERS[rng.below(LETTERS.len())] };
        text.push(c as char);
    }
    Plate { text, format }
}

/// How a typeface is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceKind {
    /// A TrueType file from a Debian package.
    TrueType { path: &'static str, package: &'static str },
    /// An OpenCV Hershey font (`imgproc::FONT_HERSHEY_*`) and its stroke width, in percent
    /// of the glyph height.
    Hershey { face: i32, stroke_percent: i32 },
}

/// A typeface plates are drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Face {
    pub name: &'static str,
    pub kind: FaceKind,
}

/// The faces [`Renderer::new`] loads: bold sans faces from three Debian font packages
/// (listed in `scripts/setup.sh`) and two Hershey faces.
pub const FACES: [Face; 7] = [
    Face {
        name: "DejaVu Sans Bold",
        kind: FaceKind::TrueType {
            path: "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
            package: "fonts-dejavu-core",
        },
    },
    Face {
        name: "DejaVu Sans Condensed Bold",
        kind: FaceKind::TrueType {
            path: "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
            package: "fonts-dejavu-extra",
        },
    },
    Face {
        name: "Liberation Sans Bold",
        kind: FaceKind::TrueType {
            path: "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
            package: "fonts-liberation",
        },
    },
    Face {
        name: "Liberation Sans Narrow Bold",
        kind: FaceKind::TrueType {
            path: "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf",
            package: "fonts-liberation",
        },
    },
    Face {
        name: "Liberation Mono Bold",
        kind: FaceKind::TrueType {
            path: "/usr/share/fonts/truetype/liberation/LiberationMono-Bold.ttf",
            package: "fonts-liberation",
        },
    },
    Face {
        name: "Hershey Simplex",
        kind: FaceKind::Hershey { face: imgproc::FONT_HERSHEY_SIMPLEX, stroke_percent: 14 },
    },
    Face { name: "Hershey Duplex", kind: FaceKind::Hershey { face: imgproc::FONT_HERSHEY_DUPLEX, stroke_percent: 11 } },
];

/// What the camera does to a plate. Angles in degrees; sizes in pixels of the scene.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Degradation {
    /// Height of the plate's characters (the plate is about 1.6 times taller).
    pub text_height: f64,
    /// Turn about the vertical axis (perspective: one side shorter).
    pub yaw: f64,
    /// Turn about the horizontal axis (perspective: top or bottom shorter).
    pub pitch: f64,
    /// Rotation in the image plane.
    pub roll: f64,
    /// Gaussian blur sigma (0: none).
    pub blur_sigma: f64,
    /// Gaussian noise sigma in grey levels (0: none).
    pub noise_sigma: f64,
    /// Pixels become `contrast * p + brightness`.
    pub contrast: f64,
    pub brightness: f64,
}

impl Degradation {
    /// A straight, sharp, clean plate.
    pub fn none(text_height: f64) -> Self {
        Self {
            text_height,
            yaw: 0.0,
            pitch: 0.0,
            roll: 0.0,
            blur_sigma: 0.0,
            noise_sigma: 0.0,
            contrast: 1.0,
            brightness: 0.0,
        }
    }

    /// Random within the ranges the reader is tested on: text 20–60 px, turns up to 15°
    /// (roll up to 10°), blur sigma up to 0.3 + text height ÷ 80, noise up to 10
    /// grey levels, contrast 0.6–1.15, brightness ±40.
    pub fn random(rng: &mut SplitMix64) -> Self {
        let text_height = rng.range(20.0, 60.0);
        Self {
            text_height,
            yaw: rng.range(-15.0, 15.0),
            pitch: rng.range(-15.0, 15.0),
            roll: rng.range(-10.0, 10.0),
            blur_sigma: rng.range(0.0, 0.3 + text_height / 20.0 * 0.25),
            noise_sigma: rng.range(0.0, 10.0),
            contrast: rng.range(0.6, 1.15),
            brightness: rng.range(-40.0, 40.0),
        }
    }
}

/// A rendered scene.
#[derive(Debug)]
pub struct Scene {
    /// BGR, 8-bit.
    pub image: Mat,
    pub plate: Plate,
    /// The plate's corners in the scene: top-left, top-right, bottom-right, bottom-left.
    pub quad: [Point2f; 4],
    /// Index into [`FACES`].
    pub face: usize,
    pub degradation: Degradation,
}

/// Draws plates. Holds the loaded TrueType faces; one per thread.
pub struct Renderer {
    /// One per entry of [`FACES`]; `None` for Hershey faces.
    truetype: Vec<Option<core::Ptr<freetype::FreeType2>>>,
    /// Scratch for glyph rendering.
    scratch: Mat,
}

/// Plate proportions (520 × 112 mm), in plate heights.
const ASPECT: f64 = 520.0 / 112.0;
/// Character height in plate heights.
const TEXT: f64 = 0.58;
/// Where the separator after the region box is.
const SEPARATOR: f64 = 1.05;
/// The flag-and-`UZ` area's width.
const FLAG_AREA: f64 = 0.7;
/// Characters may be narrowed to this share of their width to fit (plates use a narrow face).
const SQUEEZE: f64 = 0.6;

const BLACK: Scalar = Scalar::new(20.0, 20.0, 20.0, 0.0);
// Uzbekistan's flag, BGR: blue, white, green, with thin red fimbriations.
const FLAG_BLUE: Scalar = Scalar::new(181.0, 153.0, 0.0, 0.0);
const FLAG_GREEN: Scalar = Scalar::new(58.0, 181.0, 30.0, 0.0);
const FLAG_RED: Scalar = Scalar::new(36.0, 18.0, 206.0, 0.0);

impl Renderer {
    /// Loads the TrueType faces of [`FACES`]; `Err` names the missing file and the Debian
    /// package that has it.
    pub fn new() -> Result<Self, String> {
        let mut truetype = Vec::with_capacity(FACES.len());
        for face in FACES {
            match face.kind {
                FaceKind::TrueType { path, package } => {
                    if !Path::new(path).exists() {
                        return Err(format!(
                            "font {:?} not found at {path}: install the Debian package `{package}` \
                             (scripts/setup.sh lists it)",
                            face.name
                        ));
                    }
                    let mut ft = freetype::create_free_type2().map_err(cv)?;
                    ft.load_font_data(path, 0).map_err(|e| format!("font {path}: {e}"))?;
                    truetype.push(Some(ft));
                }
                FaceKind::Hershey { .. } => truetype.push(None),
            }
        }
        Ok(Self { truetype, scratch: Mat::default() })
    }

    /// The faces, in the order `face` indices refer to.
    pub fn faces(&self) -> &'static [Face] {
        &FACES
    }

    /// The plate alone, seen straight on, with characters `text_height` pixels tall.
    pub fn plate_image(&mut self, plate: &Plate, face: usize, text_height: f64) -> Result<Mat, String> {
        if face >= FACES.len() {
            return Err(format!("face {face}: there are {} faces", FACES.len()));
        }
        if !(4.0..=1000.0).contains(&text_height) {
            return Err(format!("text height {text_height} px is outside 4–1000"));
        }
        let h = (text_height / TEXT).round();
        let w = (h * ASPECT).round();
        let (hi, wi) = (h as i32, w as i32);
        let mut img = Mat::new_rows_cols_with_default(hi, wi, core::CV_8UC3, Scalar::new(242.0, 244.0, 244.0, 0.0))
            .map_err(cv)?;
        let at = |f: f64| (f * h).round() as i32;
        let rim = at(0.035).max(1);
        let inset = at(0.02);
        imgproc::rectangle(
            &mut img,
            Rect::new(inset, inset, wi - 2 * inset, hi - 2 * inset),
            BLACK,
            rim,
            imgproc::LINE_AA,
            0,
        )
        .map_err(cv)?;
        let sep = at(SEPARATOR);
        imgproc::line(&mut img, Point::new(sep, inset), Point::new(sep, hi - inset), BLACK, rim, imgproc::LINE_AA, 0)
            .map_err(cv)?;
        let text_top = ((h - text_height) / 2.0).round() as i32;
        let th = text_height.round() as i32;
        let inner = inset + rim + at(0.07);
        // Region code.
        self.draw_text(
            &mut img,
            &plate.text[..2],
            Rect::new(inner, text_top, sep - at(0.09) - inner, th),
            face,
            BLACK,
        )?;
        // The rest of the number, grouped as printed.
        let display = plate.display();
        let rest = &display[3..];
        let flag_x = wi - at(FLAG_AREA);
        let main_x = sep + at(0.12);
        self.draw_text(&mut img, rest, Rect::new(main_x, text_top, flag_x - at(0.08) - main_x, th), face, BLACK)?;
        // Flag over `UZ`.
        let fw = at(0.48);
        let fx = flag_x + (wi - inset - rim - flag_x - fw) / 2;
        let (fy, fh) = (at(0.17), at(0.3));
        let stripe = fh as f64 / 3.0;
        for (i, colour) in [FLAG_BLUE, Scalar::all(250.0), FLAG_GREEN].into_iter().enumerate() {
            let y0 = fy + (stripe * i as f64).round() as i32;
            let y1 = fy + (stripe * (i + 1) as f64).round() as i32;
            imgproc::rectangle(&mut img, Rect::new(fx, y0, fw, (y1 - y0).max(1)), colour, -1, imgproc::LINE_8, 0)
                .map_err(cv)?;
        }
        for i in 1..3 {
            let y = fy + (stripe * i as f64).round() as i32;
            imgproc::line(
                &mut img,
                Point::new(fx, y),
                Point::new(fx + fw - 1, y),
                FLAG_RED,
                (fh / 20).max(1),
                imgproc::LINE_8,
                0,
            )
            .map_err(cv)?;
        }
        self.draw_text(&mut img, "UZ", Rect::new(fx, at(0.55), fw, at(0.24)), face, BLACK)?;
        Ok(img)
    }

    /// The plate in a car-body-like scene, degraded as `d` says.
    pub fn scene(
        &mut self,
        plate: &Plate,
        face: usize,
        d: &Degradation,
        rng: &mut SplitMix64,
    ) -> Result<Scene, String> {
        let flat = self.plate_image(plate, face, d.text_height)?;
        let (pw, ph) = (flat.cols() as f64, flat.rows() as f64);
        // Project the plate's corners after turning it in 3-D (a pinhole 2.5 plate widths away).
        let (yaw, pitch, roll) = (d.yaw.to_radians(), d.pitch.to_radians(), d.roll.to_radians());
        let focal = 2.5 * pw;
        let project = |x: f64, y: f64| -> (f64, f64) {
            let (x, y) = (x - pw / 2.0, y - ph / 2.0);
            // yaw about y, then pitch about x, then roll about z.
            let (x1, z1) = (x * yaw.cos(), -x * yaw.sin());
            let (y2, z2) = (y * pitch.cos() - z1 * pitch.sin(), y * pitch.sin() + z1 * pitch.cos());
            let (x3, y3) = (x1 * roll.cos() - y2 * roll.sin(), x1 * roll.sin() + y2 * roll.cos());
            let s = focal / (focal + z2);
            (x3 * s, y3 * s)
        };
        let corners = [project(0.0, 0.0), project(pw, 0.0), project(pw, ph), project(0.0, ph)];
        let min_x = corners.iter().map(|c| c.0).fold(f64::MAX, f64::min);
        let max_x = corners.iter().map(|c| c.0).fold(f64::MIN, f64::max);
        let min_y = corners.iter().map(|c| c.1).fold(f64::MAX, f64::min);
        let max_y = corners.iter().map(|c| c.1).fold(f64::MIN, f64::max);
        let (bw, bh) = (max_x - min_x, max_y - min_y);
        let sw = (bw * rng.range(1.3, 1.9) + 40.0).round() as i32;
        let sh = (bh * rng.range(2.2, 3.4) + 40.0).round() as i32;
        let ox = rng.range(10.0, sw as f64 - bw - 10.0) - min_x;
        let oy = rng.range(bh * 0.6, sh as f64 - bh - 10.0) - min_y;
        let quad = corners.map(|(x, y)| Point2f::new((x + ox) as f32, (y + oy) as f32));

        let mut image = self.background(sw, sh, oy + max_y, rng)?;
        let src = [
            Point2f::new(0.0, 0.0),
            Point2f::new(pw as f32, 0.0),
            Point2f::new(pw as f32, ph as f32),
            Point2f::new(0.0, ph as f32),
        ];
        let m = imgproc::get_perspective_transform_slice(src, quad, core::DECOMP_LU).map_err(cv)?;
        let size = Size::new(sw, sh);
        let mut warped = Mat::default();
        imgproc::warp_perspective(
            &flat,
            &mut warped,
            &m,
            size,
            imgproc::INTER_LINEAR,
            core::BORDER_CONSTANT,
            Scalar::all(0.0),
        )
        .map_err(cv)?;
        let ones =
            Mat::new_rows_cols_with_default(flat.rows(), flat.cols(), core::CV_8UC1, Scalar::all(255.0)).map_err(cv)?;
        let mut mask = Mat::default();
        imgproc::warp_perspective(
            &ones,
            &mut mask,
            &m,
            size,
            imgproc::INTER_LINEAR,
            core::BORDER_CONSTANT,
            Scalar::all(0.0),
        )
        .map_err(cv)?;
        blend(&mut image, &warped, &mask)?;

        // Camera: exposure, optics, sensor noise.
        let mut lit = Mat::default();
        image.convert_to(&mut lit, -1, d.contrast, d.brightness).map_err(cv)?;
        if d.blur_sigma > 0.05 {
            let mut blurred = Mat::default();
            imgproc::gaussian_blur(
                &lit,
                &mut blurred,
                Size::new(0, 0),
                d.blur_sigma,
                d.blur_sigma,
                core::BORDER_REPLICATE,
            )
            .map_err(cv)?;
            lit = blurred;
        }
        if d.noise_sigma > 0.0 {
            let bytes = lit.data_bytes_mut().map_err(cv)?;
            for b in bytes {
                *b = (*b as f64 + rng.gauss() * d.noise_sigma).round().clamp(0.0, 255.0) as u8;
            }
        }
        Ok(Scene { image: lit, plate: plate.clone(), quad, face, degradation: *d })
    }

    /// A random plate, face and degradation from `rng`.
    pub fn random_scene(&mut self, rng: &mut SplitMix64) -> Result<Scene, String> {
        let plate = random_plate(rng);
        let face = rng.below(FACES.len());
        let d = Degradation::random(rng);
        self.scene(&plate, face, &d, rng)
    }

    /// A car's rear as a painted panel: a vertical gradient with a highlight, panel lines,
    /// and a darker bumper below the plate (`bumper_y`).
    fn background(&mut self, w: i32, h: i32, bumper_y: f64, rng: &mut SplitMix64) -> Result<Mat, String> {
        let base = rng.range(35.0, 215.0);
        let tint = [rng.range(-20.0, 20.0), rng.range(-20.0, 20.0), rng.range(-20.0, 20.0)];
        let top = rng.range(-40.0, 40.0);
        let highlight_y = rng.range(0.0, h as f64);
        let highlight = rng.range(0.0, 50.0);
        let bumper_top = (bumper_y + rng.range(2.0, 12.0)).min(h as f64 - 2.0);
        let bumper_shade = rng.range(-60.0, -15.0);
        let mut img = Mat::new_rows_cols_with_default(h, w, core::CV_8UC3, Scalar::all(0.0)).map_err(cv)?;
        let row_len = w as usize * 3;
        let bytes = img.data_bytes_mut().map_err(cv)?;
        for (y, row) in bytes.chunks_exact_mut(row_len).enumerate() {
            let yf = y as f64;
            let t = yf / h as f64;
            let mut v = base + top * (1.0 - 2.0 * t);
            let dy = (yf - highlight_y) / (0.15 * h as f64);
            v += highlight * (-dy * dy).exp();
            if yf >= bumper_top {
                v += bumper_shade;
            }
            for (x, px) in row.chunks_exact_mut(3).enumerate() {
                let shade = 8.0 * ((x as f64 / w as f64) * std::f64::consts::PI).sin();
                for c in 0..3 {
                    px[c] = (v + shade + tint[c]).clamp(0.0, 255.0) as u8;
                }
            }
        }
        // A few panel gaps / trim lines.
        for _ in 0..rng.below(4) {
            let y = rng.range(0.0, h as f64) as i32;
            let shade = Scalar::all(rng.range(0.0, 255.0));
            imgproc::line(
                &mut img,
                Point::new(0, y),
                Point::new(w - 1, y),
                shade,
                1 + rng.below(3) as i32,
                imgproc::LINE_AA,
                0,
            )
            .map_err(cv)?;
        }
        Ok(img)
    }

    /// Draws `text` into `area` of `img`: as tall as the area, narrowed (down to
    /// [`SQUEEZE`]) and then made smaller until it fits its width; centred.
    fn draw_text(&mut self, img: &mut Mat, text: &str, area: Rect, face: usize, colour: Scalar) -> Result<(), String> {
        // Glyphs are drawn large and scaled down, for smooth edges at any size.
        const BIG: i32 = 120;
        let (tw, th) = match FACES[face].kind {
            FaceKind::TrueType { .. } => {
                let ft = self.truetype[face].as_mut().expect("TrueType face loaded in new()");
                let mut base = 0;
                let s = ft.get_text_size(text, BIG, -1, &mut base).map_err(cv)?;
                (s.width, s.height + base)
            }
            FaceKind::Hershey { face: f, stroke_percent } => {
                let scale = imgproc::get_font_scale_from_height(f, BIG, 1).map_err(cv)?;
                let mut base = 0;
                let stroke = (BIG * stroke_percent / 100).max(1);
                let s = imgproc::get_text_size(text, f, scale, stroke, &mut base).map_err(cv)?;
                (s.width, s.height + base)
            }
        };
        let (cw, ch) = (tw + 2 * BIG, th + 2 * BIG);
        // FreeType draws on 3-channel images only.
        self.scratch = Mat::new_rows_cols_with_default(ch, cw, core::CV_8UC3, Scalar::all(0.0)).map_err(cv)?;
        let origin = Point::new(BIG, BIG + th);
        match FACES[face].kind {
            FaceKind::TrueType { .. } => {
                let ft = self.truetype[face].as_mut().expect("TrueType face loaded in new()");
                ft.put_text(&mut self.scratch, text, origin, BIG, Scalar::all(255.0), -1, imgproc::LINE_AA, true)
                    .map_err(cv)?;
            }
            FaceKind::Hershey { face: f, stroke_percent } => {
                let scale = imgproc::get_font_scale_from_height(f, BIG, 1).map_err(cv)?;
                let stroke = (BIG * stroke_percent / 100).max(1);
                imgproc::put_text(
                    &mut self.scratch,
                    text,
                    origin,
                    f,
                    scale,
                    Scalar::all(255.0),
                    stroke,
                    imgproc::LINE_AA,
                    false,
                )
                .map_err(cv)?;
            }
        }
        let mut grey = Mat::default();
        core::extract_channel(&self.scratch, &mut grey, 0).map_err(cv)?;
        // The ink's bounding box, whatever the face's metrics say.
        let mut ink = Vector::<Point>::new();
        core::find_non_zero(&grey, &mut ink).map_err(cv)?;
        if ink.is_empty() {
            return Err(format!("face {:?} drew nothing for {text:?}", FACES[face].name));
        }
        let bbox = imgproc::bounding_rect(&ink).map_err(cv)?;
        let glyphs = Mat::roi(&grey, bbox).map_err(cv)?;
        let sy = area.height as f64 / bbox.height as f64;
        let mut sx = sy;
        let mut sy = sy;
        if bbox.width as f64 * sx > area.width as f64 {
            sx = area.width as f64 / bbox.width as f64;
            if sx < sy * SQUEEZE {
                sy = sx / SQUEEZE;
            }
        }
        let gw = ((bbox.width as f64 * sx).round() as i32).clamp(1, area.width.max(1));
        let gh = ((bbox.height as f64 * sy).round() as i32).clamp(1, area.height.max(1));
        let mut alpha = Mat::default();
        imgproc::resize(&glyphs, &mut alpha, Size::new(gw, gh), 0.0, 0.0, imgproc::INTER_AREA).map_err(cv)?;
        let at = Point::new(area.x + (area.width - gw) / 2, area.y + (area.height - gh) / 2);
        blend_colour(img, &alpha, at, colour)
    }
}

/// `dst = dst·(1−a) + src·a` with `a` from `mask` (0–255); `src` the same size as `dst`.
fn blend(dst: &mut Mat, src: &Mat, mask: &Mat) -> Result<(), String> {
    let m = mask.data_bytes().map_err(cv)?;
    let s = src.data_bytes().map_err(cv)?;
    let d = dst.data_bytes_mut().map_err(cv)?;
    for (i, &a) in m.iter().enumerate() {
        if a == 0 {
            continue;
        }
        let a = a as u32;
        for c in 0..3 {
            let k = i * 3 + c;
            d[k] = ((d[k] as u32 * (255 - a) + s[k] as u32 * a + 127) / 255) as u8;
        }
    }
    Ok(())
}

/// Paints `colour` through the 8-bit `alpha` mask placed at `at` in `dst` (clipped).
fn blend_colour(dst: &mut Mat, alpha: &Mat, at: Point, colour: Scalar) -> Result<(), String> {
    let (dw, dh) = (dst.cols(), dst.rows());
    let (aw, ah) = (alpha.cols(), alpha.rows());
    let a = alpha.data_bytes().map_err(cv)?;
    let d = dst.data_bytes_mut().map_err(cv)?;
    for y in 0..ah {
        let ty = at.y + y;
        if ty < 0 || ty >= dh {
            continue;
        }
        for x in 0..aw {
            let tx = at.x + x;
            if tx < 0 || tx >= dw {
                continue;
            }
            let k = a[(y * aw + x) as usize] as f64 / 255.0;
            if k == 0.0 {
                continue;
            }
            let p = ((ty * dw + tx) * 3) as usize;
            for c in 0..3 {
                d[p + c] = (d[p + c] as f64 * (1.0 - k) + colour[c] * k).round() as u8;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_and_spread() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..5).map(|_| b.next_u64()).collect::<Vec<_>>());
        let mut r = SplitMix64::new(1);
        let n = 10_000;
        let mean = (0..n).map(|_| r.unit()).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        let mut counts = [0; 10];
        for _ in 0..n {
            counts[r.below(10)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }

    #[test]
    fn random_plates_are_valid_plates() {
        let mut rng = SplitMix64::new(3);
        let mut formats = [0; 2];
        for _ in 0..200 {
            let p = random_plate(&mut rng);
            assert_eq!(super::super::normalise(&p.text).as_ref(), Ok(&p), "{p:?}");
            formats[usize::from(p.format == Format::Company)] += 1;
        }
        assert!(formats.iter().all(|&n| n > 40), "{formats:?}");
    }

    #[test]
    fn scenes_are_deterministic_and_hold_the_plate() {
        let mut r = Renderer::new().unwrap();
        let plate = super::super::normalise("01A123BC").unwrap();
        for (face, f) in FACES.iter().enumerate() {
            let img = r.plate_image(&plate, face, 40.0).unwrap();
            assert_eq!((img.rows(), img.cols()), (69, 320), "{}", f.name);
            // Ink (text, rim, separator) covers a fair share of the plate, not most of it.
            let bytes = img.data_bytes().unwrap();
            let dark = bytes.iter().filter(|&&b| b < 100).count() as f64 / bytes.len() as f64;
            assert!((0.12..0.45).contains(&dark), "{}: {dark}", f.name);
        }
        let a = r.scene(&plate, 2, &Degradation::random(&mut SplitMix64::new(5)), &mut SplitMix64::new(9)).unwrap();
        let b = r.scene(&plate, 2, &Degradation::random(&mut SplitMix64::new(5)), &mut SplitMix64::new(9)).unwrap();
        assert_eq!(a.image.data_bytes().unwrap(), b.image.data_bytes().unwrap());
        let (w, h) = (a.image.cols() as f32, a.image.rows() as f32);
        assert!(a.quad.iter().all(|p| (0.0..w).contains(&p.x) && (0.0..h).contains(&p.y)), "{:?}", a.quad);
        assert!(r.plate_image(&plate, FACES.len(), 40.0).is_err());
        assert!(r.plate_image(&plate, 0, 0.5).is_err());
    }
}
