//! The evidence snapshot of an alert: the full-resolution frame, redacted and annotated,
//! as a JPEG named by its sha256; and the untouched original as a JPEG sealed at rest.

use crate::redact::{RedactReport, Redactor, check_image};
use opencv::core::{Mat, Point, Rect, Scalar, Vector};
use opencv::imgproc::{self, FONT_HERSHEY_SIMPLEX, LINE_AA};
use opencv::prelude::*;
use pipeline::alert::AlertObject;
use pipeline::evidence::SealKey;
use pipeline::hash::sha256_hex;
use std::time::Instant;

/// Frames larger than this on either side are refused (a decoded 8K frame is 100 MB).
pub const MAX_SIDE: i32 = 8192;

/// One object to outline, in normalised frame coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotObject {
    /// `[x1, y1, x2, y2]`, 0–1.
    pub bbox: [f32; 4],
    pub label: String,
    pub track_id: Option<u64>,
    pub score: Option<f32>,
}

/// The two copies of a snapshot.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// Redacted and annotated JPEG: the copy that is stored and forwarded.
    pub jpeg: Vec<u8>,
    /// sha256 of `jpeg`, hex: its name in the evidence store and in `Alert::evidence`.
    pub sha256: String,
    /// The unredacted JPEG, sealed ([`open_sealed`](pipeline::evidence::open_sealed) opens it).
    pub sealed_original: Vec<u8>,
    /// sha256 of `sealed_original`, hex (to store it by content hash too).
    pub sealed_sha256: String,
    /// sha256 of the unredacted JPEG inside, hex (the sealed file's associated data).
    pub original_sha256: String,
    /// What was blurred.
    pub redaction: RedactReport,
    /// Time to redact, annotate, encode and seal, ms.
    pub build_ms: f64,
}

/// Builds an [`Evidence`] from a frame. Nothing touches the frame: the redacted copy is a
/// clone made in [`build`](Self::build).
///
/// ```ignore
/// let evidence = Snapshot::new(&frame)
///     .alert_objects(&alert.objects)
///     .persons(&all_person_boxes_px)
///     .zone(&zone_points)
///     .build(&mut redactor, &key)?;
/// ```
#[derive(Debug, Clone)]
pub struct Snapshot<'a> {
    frame: &'a Mat,
    objects: Vec<SnapshotObject>,
    persons: Vec<[f32; 4]>,
    zones: Vec<Vec<[f32; 2]>>,
    lines: Vec<[[f32; 2]; 2]>,
    caption: Option<String>,
    quality: u8,
    original_quality: u8,
}

impl<'a> Snapshot<'a> {
    /// A snapshot of `frame` (BGR, 8-bit, full resolution).
    pub fn new(frame: &'a Mat) -> Self {
        Self {
            frame,
            objects: vec![],
            persons: vec![],
            zones: vec![],
            lines: vec![],
            caption: None,
            quality: 85,
            original_quality: 92,
        }
    }

    /// An object to outline and label; `bbox` normalised `[x1, y1, x2, y2]`. A `person`
    /// object's head region is blurred too.
    pub fn object(mut self, bbox: [f32; 4], label: &str, track_id: Option<u64>) -> Self {
        self.objects.push(SnapshotObject { bbox, label: label.to_string(), track_id, score: None });
        self
    }

    /// The alert's objects that have a box.
    pub fn alert_objects(mut self, objects: &[AlertObject]) -> Self {
        for o in objects {
            if let Some(bbox) = o.bbox {
                self.objects.push(SnapshotObject {
                    bbox,
                    label: o.class.clone(),
                    track_id: o.track_id,
                    score: Some(o.score),
                });
            }
        }
        self
    }

    /// Every person box of the frame, in pixels `[x1, y1, x2, y2]`, not only the alert's:
    /// their head regions are blurred (they are not drawn).
    pub fn persons(mut self, boxes: &[[f32; 4]]) -> Self {
        self.persons.extend_from_slice(boxes);
        self
    }

    /// A zone outline, normalised points (at least 3), drawn with a translucent fill.
    pub fn zone(mut self, points: &[[f32; 2]]) -> Self {
        self.zones.push(points.to_vec());
        self
    }

    /// A counting line from `a` to `b`, normalised.
    pub fn line(mut self, a: [f32; 2], b: [f32; 2]) -> Self {
        self.lines.push([a, b]);
        self
    }

    /// A line of text at the top left (camera, time, alert kind). ASCII; other characters
    /// are drawn as `?`.
    pub fn caption(mut self, text: &str) -> Self {
        self.caption = Some(text.to_string());
        self
    }

    /// JPEG quality of the stored copy, 1–100 (default 85).
    pub fn jpeg_quality(mut self, quality: u8) -> Self {
        self.quality = quality;
        self
    }

    /// JPEG quality of the sealed original, 1–100 (default 92).
    pub fn original_quality(mut self, quality: u8) -> Self {
        self.original_quality = quality;
        self
    }

    /// Redacts a copy of the frame, draws the annotations on it, encodes both copies and
    /// seals the original. Inputs are all checked before any work; `Err` names the field.
    pub fn build(&self, redactor: &mut Redactor, key: &SealKey) -> Result<Evidence, String> {
        let t0 = Instant::now();
        self.validate()?;
        let (w, h) = (self.frame.cols(), self.frame.rows());
        let mut persons = self.persons.clone();
        for o in self.objects.iter().filter(|o| o.label == "person") {
            persons.push(to_pixels(&o.bbox, w, h));
        }
        let original = encode_jpeg(self.frame, self.original_quality).map_err(|e| format!("original JPEG: {e}"))?;
        let mut stored = self.frame.try_clone().map_err(|e| format!("copying the frame: {e}"))?;
        let redaction = redactor.redact(&mut stored, &persons)?;
        self.annotate(&mut stored).map_err(|e| format!("drawing annotations: {e}"))?;
        let jpeg = encode_jpeg(&stored, self.quality).map_err(|e| format!("stored JPEG: {e}"))?;
        let sealed = key.seal(&original)?;
        Ok(Evidence {
            sha256: sha256_hex(&jpeg),
            jpeg,
            sealed_sha256: sha256_hex(&sealed.bytes),
            sealed_original: sealed.bytes,
            original_sha256: sealed.plaintext_sha256,
            redaction,
            build_ms: t0.elapsed().as_secs_f64() * 1e3,
        })
    }

    fn validate(&self) -> Result<(), String> {
        check_image(self.frame).map_err(|e| format!("frame: {e}"))?;
        let (w, h) = (self.frame.cols(), self.frame.rows());
        if w > MAX_SIDE || h > MAX_SIDE {
            return Err(format!("frame: {w}×{h} is larger than {MAX_SIDE} px on a side"));
        }
        for (name, q) in [("jpeg_quality", self.quality), ("original_quality", self.original_quality)] {
            if !(1..=100).contains(&q) {
                return Err(format!("{name}: {q} is not within 1–100"));
            }
        }
        for (i, o) in self.objects.iter().enumerate() {
            if !o.bbox.iter().all(|v| v.is_finite()) || o.bbox[2] < o.bbox[0] || o.bbox[3] < o.bbox[1] {
                return Err(format!("object {i} ({}): box {:?} is not a finite [x1, y1, x2, y2]", o.label, o.bbox));
            }
        }
        for (i, z) in self.zones.iter().enumerate() {
            if z.len() < 3 {
                return Err(format!("zone {i}: {} points, a zone needs at least 3", z.len()));
            }
            if let Some(p) = z.iter().find(|p| !p.iter().all(|v| v.is_finite())) {
                return Err(format!("zone {i}: point {p:?} is not finite"));
            }
        }
        for (i, l) in self.lines.iter().enumerate() {
            if !l.iter().flatten().all(|v| v.is_finite()) {
                return Err(format!("line {i}: {l:?} is not finite"));
            }
        }
        Ok(())
    }

    /// Zones (translucent fill, outline), lines, object outlines with labels, caption.
    fn annotate(&self, img: &mut Mat) -> opencv::Result<()> {
        let (w, h) = (img.cols(), img.rows());
        let t = ((w.min(h) as f32 / 300.0).round() as i32).max(1);
        let font = 0.4 * t as f64;
        if !self.zones.is_empty() {
            let mut polys: Vector<Vector<Point>> = Vector::new();
            for z in &self.zones {
                polys.push(z.iter().map(|p| to_point(p, w, h)).collect());
            }
            let mut overlay = img.try_clone()?;
            imgproc::fill_poly(&mut overlay, &polys, ZONE, LINE_AA, 0, Point::new(0, 0))?;
            let mut blended = Mat::default();
            opencv::core::add_weighted(&overlay, 0.25, &*img, 0.75, 0.0, &mut blended, -1)?;
            *img = blended;
            imgproc::polylines(img, &polys, true, ZONE, t, LINE_AA, 0)?;
        }
        for [a, b] in &self.lines {
            let (a, b) = (to_point(a, w, h), to_point(b, w, h));
            imgproc::line(img, a, b, LINE, t + 1, LINE_AA, 0)?;
            for p in [a, b] {
                imgproc::circle(img, p, 2 * t + 1, LINE, -1, LINE_AA, 0)?;
            }
        }
        for o in &self.objects {
            let b = to_pixels(&o.bbox, w, h);
            let colour = object_colour(&o.label);
            // The stroke lies just outside the box, so it never crosses what it outlines.
            let (x1, y1) = (b[0].round() as i32 - t, b[1].round() as i32 - t);
            let (x2, y2) = (b[2].round() as i32 + t, b[3].round() as i32 + t);
            imgproc::rectangle(img, Rect::new(x1, y1, x2 - x1, y2 - y1), colour, t, LINE_8, 0)?;
            let mut text = o.label.clone();
            if let Some(id) = o.track_id {
                text.push_str(&format!(" #{id}"));
            }
            if let Some(s) = o.score {
                text.push_str(&format!(" {s:.2}"));
            }
            label(img, &ascii(&text), Point::new(x1 - t / 2, y1 - t), colour, font, t)?;
        }
        if let Some(c) = &self.caption {
            let mut base = 0;
            let size = imgproc::get_text_size(&ascii(c), FONT_HERSHEY_SIMPLEX, font, t, &mut base)?;
            label(img, &ascii(c), Point::new(0, size.height + base + 2 * t), CAPTION, font, t)?;
        }
        Ok(())
    }
}

const LINE_8: i32 = imgproc::LINE_8;
/// BGR colours.
const ZONE: Scalar = Scalar::new(0.0, 200.0, 255.0, 0.0);
const LINE: Scalar = Scalar::new(255.0, 0.0, 255.0, 0.0);
const CAPTION: Scalar = Scalar::new(255.0, 255.0, 255.0, 0.0);

fn object_colour(label: &str) -> Scalar {
    match label {
        "person" => Scalar::new(0.0, 230.0, 0.0, 0.0),
        "car" | "truck" | "bus" | "motorcycle" | "bicycle" => Scalar::new(255.0, 160.0, 0.0, 0.0),
        _ => Scalar::new(0.0, 230.0, 230.0, 0.0),
    }
}

/// Text on a filled dark background whose bottom-left corner is `at` (moved inside the
/// image if it would leave it).
fn label(img: &mut Mat, text: &str, at: Point, colour: Scalar, font: f64, t: i32) -> opencv::Result<()> {
    let mut base = 0;
    let size = imgproc::get_text_size(text, FONT_HERSHEY_SIMPLEX, font, t, &mut base)?;
    let x = at.x.clamp(0, (img.cols() - size.width).max(0));
    let y = at.y.clamp(size.height + base, img.rows().max(size.height + base));
    let bg = Rect::new(x, y - size.height - base, size.width, size.height + base);
    imgproc::rectangle(img, bg, Scalar::new(0.0, 0.0, 0.0, 0.0), -1, LINE_8, 0)?;
    imgproc::put_text(img, text, Point::new(x, y - base), FONT_HERSHEY_SIMPLEX, font, colour, t, LINE_AA, false)
}

/// Hershey fonts draw ASCII only.
fn ascii(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect()
}

/// A normalised box to pixels of a `w × h` frame (clamped to the frame).
fn to_pixels(b: &[f32; 4], w: i32, h: i32) -> [f32; 4] {
    let (w, h) = (w as f32, h as f32);
    [b[0].clamp(0.0, 1.0) * w, b[1].clamp(0.0, 1.0) * h, b[2].clamp(0.0, 1.0) * w, b[3].clamp(0.0, 1.0) * h]
}

/// A normalised point to pixels; points outside the frame are clamped to its edge.
fn to_point(p: &[f32; 2], w: i32, h: i32) -> Point {
    Point::new((p[0].clamp(0.0, 1.0) * w as f32).round() as i32, (p[1].clamp(0.0, 1.0) * h as f32).round() as i32)
}

/// JPEG bytes of a BGR image.
pub fn encode_jpeg(img: &Mat, quality: u8) -> opencv::Result<Vec<u8>> {
    let mut buf = Vector::<u8>::new();
    let params = Vector::from_slice(&[opencv::imgcodecs::IMWRITE_JPEG_QUALITY, quality as i32]);
    if !opencv::imgcodecs::imencode(".jpg", img, &mut buf, &params)? {
        return Err(opencv::Error::new(opencv::core::StsError, "the JPEG encoder refused the image"));
    }
    Ok(buf.to_vec())
}
