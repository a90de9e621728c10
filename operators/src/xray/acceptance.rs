//! Acceptance of the X-ray threat detector on a site's own scans, by threat image projection
//! (TIP, as airports test screeners): threats the generator made alone on air (`synth.py
//! --kind threat`, noise-free transmissions) are multiplied into the site's threat-free scans
//! (transmissions multiply: Beer–Lambert), and the detector is scored at its operating point:
//! per class, the share of projected bags in which it found the threat (class right, IoU ≥
//! 0.5), and, on the untouched scans, false alarms per bag and the share of bags cleared.
//!
//! A site turns threat alarms on (`[xray_lane] threats_accepted = "<sha256>"`) only after a
//! run it accepts; until then the lane records threat findings as advisory.

use super::scan::{ScanLimits, load_image};
use super::threats::ThreatDetector;
use crate::detect::BBox;
use opencv::prelude::*;
use std::fmt;
use std::path::Path;

/// Both channels of one scan or one library threat, row-major; `top` is "no attenuation".
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub low: Vec<u16>,
    pub high: Vec<u16>,
    pub top: f32,
}

/// One threat of the projection library: its class, its transmissions (65535 = air) and its
/// box in them.
pub struct LibraryThreat {
    pub id: String,
    pub class: u32,
    pub image: Image,
    pub bbox: BBox,
}

/// One 8- or 16-bit grayscale PNG or TIFF as samples widened to `u16`, and its full scale.
fn read_gray(path: &Path, limits: &ScanLimits) -> Result<(Vec<u16>, usize, usize, f32), String> {
    let image = load_image(path, limits).map_err(|e| e.to_string())?;
    let (w, h) = (image.mat.cols() as usize, image.mat.rows() as usize);
    let cv = |e: opencv::Error| format!("{}: {e}", image.name);
    Ok(if image.header.bits == 16 {
        (image.mat.data_typed::<u16>().map_err(cv)?.to_vec(), w, h, 65535.0)
    } else {
        (image.mat.data_typed::<u8>().map_err(cv)?.iter().map(|&v| u16::from(v)).collect(), w, h, 255.0)
    })
}

/// `{id}_low.{png,tif}` and `{id}_high.…` of `dir` as one image.
pub fn read_pair(dir: &Path, id: &str) -> Result<Image, String> {
    let limits = ScanLimits::default();
    let find = |channel: &str| {
        ["png", "tif", "tiff"]
            .iter()
            .map(|ext| dir.join(format!("{id}_{channel}.{ext}")))
            .find(|p| p.exists())
            .ok_or_else(|| format!("{}: no {id}_{channel}.png or .tif", dir.display()))
    };
    let (low, w, h, top) = read_gray(&find("low")?, &limits)?;
    let (high, w2, h2, top2) = read_gray(&find("high")?, &limits)?;
    if (w, h, top) != (w2, h2, top2) {
        return Err(format!("{id}: low is {w}x{h} of {top}, high {w2}x{h2} of {top2}"));
    }
    Ok(Image { width: w, height: h, low, high, top })
}

/// The ids of `dir`'s scans (every `{id}_low.*` with its `{id}_high.*`), sorted.
pub fn scan_ids(dir: &Path) -> Result<Vec<String>, String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.rsplit_once('.').and_then(|(stem, _)| stem.strip_suffix("_low")).map(str::to_string))
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Every scan of `dir`, with its id.
pub fn read_scans(dir: &Path) -> Result<Vec<(String, Image)>, String> {
    scan_ids(dir)?.into_iter().map(|id| Ok((id.clone(), read_pair(dir, &id)?))).collect()
}

/// YOLO labels (`class cx cy w h` per line, normalised) of a `width` × `height` image, as
/// (class, box in pixels); a line that is not five numbers is refused by its number.
pub fn yolo_labels(text: &str, width: usize, height: usize) -> Result<Vec<(u32, BBox)>, String> {
    let (w, h) = (width as f32, height as f32);
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<f32> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        let [class, cx, cy, bw, bh] = f[..] else {
            return Err(format!("line {}: not `class cx cy w h`: {line:?}", n + 1));
        };
        out.push((
            class as u32,
            BBox::new((cx - bw / 2.0) * w, (cy - bh / 2.0) * h, (cx + bw / 2.0) * w, (cy + bh / 2.0) * h),
        ));
    }
    Ok(out)
}

/// The projection library `synth.py --kind threat` wrote: every `{id}_low.png`,
/// `{id}_high.png` with its one-line YOLO label `{id}.txt`.
pub fn read_library(dir: &Path) -> Result<Vec<LibraryThreat>, String> {
    let mut out = Vec::new();
    for id in scan_ids(dir)? {
        let image = read_pair(dir, &id)?;
        let label = dir.join(format!("{id}.txt"));
        let text = std::fs::read_to_string(&label).map_err(|e| format!("{}: {e}", label.display()))?;
        let labels = yolo_labels(&text, image.width, image.height).map_err(|e| format!("{}: {e}", label.display()))?;
        let [(class, bbox)] = labels[..] else {
            return Err(format!("{}: one threat per file; got {}", label.display(), labels.len()));
        };
        out.push(LibraryThreat { id, class, image, bbox });
    }
    Ok(out)
}

/// `scan` with `threat` multiplied in at (x, y), and the threat's box there.
pub fn project(scan: &Image, threat: &LibraryThreat, x: usize, y: usize) -> (Image, BBox) {
    let t = &threat.image;
    let (mut low, mut high) = (scan.low.clone(), scan.high.clone());
    for r in 0..t.height.min(scan.height.saturating_sub(y)) {
        for c in 0..t.width.min(scan.width.saturating_sub(x)) {
            let (i, j) = ((y + r) * scan.width + x + c, r * t.width + c);
            low[i] = (f32::from(low[i]) * f32::from(t.low[j]) / t.top).round() as u16;
            high[i] = (f32::from(high[i]) * f32::from(t.high[j]) / t.top).round() as u16;
        }
    }
    let b = threat.bbox;
    let (dx, dy) = (x as f32, y as f32);
    (
        Image { width: scan.width, height: scan.height, low, high, top: scan.top },
        BBox::new(b.x1 + dx, b.y1 + dy, b.x2 + dx, b.y2 + dy),
    )
}

/// Per class: bags it was projected into, bags in which it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassResult {
    pub class: &'static str,
    pub bags: usize,
    pub detected: usize,
}

impl ClassResult {
    pub fn detection(&self) -> f64 {
        self.detected as f64 / self.bags.max(1) as f64
    }
}

/// One acceptance run.
#[derive(Debug, Clone, PartialEq)]
pub struct Acceptance {
    pub model_sha256: String,
    pub threshold: f32,
    pub scans: usize,
    /// Detections on the untouched (threat-free) scans.
    pub false_alarms: usize,
    /// Untouched scans with no detection.
    pub cleared: usize,
    pub classes: Vec<ClassResult>,
}

impl Acceptance {
    pub fn false_alarms_per_bag(&self) -> f64 {
        self.false_alarms as f64 / self.scans.max(1) as f64
    }

    /// What keeps this run from the site's targets (empty: none).
    pub fn shortfalls(&self, min_detection: f64, max_false_alarms: f64) -> Vec<String> {
        let mut out: Vec<String> = self
            .classes
            .iter()
            .filter(|c| c.detection() < min_detection)
            .map(|c| format!("{} detected in {:.2} of bags, below {min_detection}", c.class, c.detection()))
            .collect();
        if self.false_alarms_per_bag() > max_false_alarms {
            out.push(format!("{:.2} false alarms per bag, above {max_false_alarms}", self.false_alarms_per_bag()));
        }
        out
    }
}

impl fmt::Display for Acceptance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "model sha256 {} at score >= {}, on {} threat-free site scans",
            self.model_sha256, self.threshold, self.scans
        )?;
        writeln!(f, "{:<16} {:>6} {:>9} {:>10}", "class", "bags", "detected", "detection")?;
        for c in &self.classes {
            writeln!(f, "{:<16} {:>6} {:>9} {:>10.3}", c.class, c.bags, c.detected, c.detection())?;
        }
        write!(
            f,
            "false alarms per threat-free bag {:.3} ({} in {} bags); bags cleared {:.1} %",
            self.false_alarms_per_bag(),
            self.false_alarms,
            self.scans,
            100.0 * self.cleared as f64 / self.scans.max(1) as f64
        )
    }
}

/// A small seeded generator (SplitMix64): placements repeat for the same seed.
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n.max(1) as u64) as usize
    }
}

/// Scores `det` on `scans` (threat-free) as they are and with one threat of each class of
/// `library` projected into each, at a place where the bag attenuates (20 tries, else the
/// last one). A threat larger than a scan is an error: the library was made for another
/// pixel size.
pub fn run(
    det: &mut ThreatDetector,
    model_sha256: &str,
    scans: &[(String, Image)],
    library: &[LibraryThreat],
    seed: u64,
) -> Result<Acceptance, String> {
    let labels = det.labels();
    let mut classes: Vec<ClassResult> =
        labels.iter().map(|&class| ClassResult { class, bags: 0, detected: 0 }).collect();
    let by_class: Vec<Vec<&LibraryThreat>> =
        (0..labels.len()).map(|c| library.iter().filter(|t| t.class as usize == c).collect()).collect();
    if let Some(c) = by_class.iter().position(Vec::is_empty) {
        return Err(format!("the threat library has no {}", labels[c]));
    }
    let mut draw = Draw(seed);
    let (mut false_alarms, mut cleared) = (0, 0);
    for (id, scan) in scans {
        let found = det.detect_scaled(&scan.low, &scan.high, scan.width, scan.height, scan.top)?;
        false_alarms += found.len();
        cleared += usize::from(found.is_empty());
        for (c, threats) in by_class.iter().enumerate() {
            let t = threats[draw.below(threats.len())];
            if t.image.width > scan.width || t.image.height > scan.height {
                return Err(format!(
                    "{}: {}x{} does not fit in scan {id} ({}x{})",
                    t.id, t.image.width, t.image.height, scan.width, scan.height
                ));
            }
            let (mut x, mut y) = (0, 0);
            for _ in 0..20 {
                x = draw.below(scan.width - t.image.width + 1);
                y = draw.below(scan.height - t.image.height + 1);
                let centre = (y + t.image.height / 2) * scan.width + x + t.image.width / 2;
                if f32::from(scan.high[centre]) < 0.9 * scan.top {
                    break;
                }
            }
            let (projected, truth) = project(scan, t, x, y);
            let found =
                det.detect_scaled(&projected.low, &projected.high, projected.width, projected.height, projected.top)?;
            classes[c].bags += 1;
            classes[c].detected +=
                usize::from(found.iter().any(|f| f.class as usize == c && f.bbox.iou(&truth) >= 0.5));
        }
    }
    Ok(Acceptance {
        model_sha256: model_sha256.to_string(),
        threshold: det.threshold(),
        scans: scans.len(),
        false_alarms,
        cleared,
        classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_read_and_a_bad_line_is_refused_by_its_number() {
        let got = yolo_labels("1 0.5 0.5 0.5 0.25\n\n", 200, 100).unwrap();
        assert_eq!(got, vec![(1, BBox::new(50.0, 37.5, 150.0, 62.5))]);
        let err = yolo_labels("0 0.5 0.5 0.1 0.1\n0 0.5 nan?\n", 10, 10).unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
    }

    #[test]
    fn a_projected_threat_multiplies_the_transmission_where_it_lies() {
        let scan = Image { width: 4, height: 3, low: vec![1000; 12], high: vec![60000; 12], top: 65535.0 };
        let threat = LibraryThreat {
            id: "t".into(),
            class: 1,
            image: Image { width: 2, height: 1, low: vec![32768, 65535], high: vec![0, 65535], top: 65535.0 },
            bbox: BBox::new(0.0, 0.0, 1.0, 1.0),
        };
        let (out, b) = project(&scan, &threat, 2, 1);
        assert_eq!(b, BBox::new(2.0, 1.0, 3.0, 2.0));
        assert_eq!((out.low[6], out.high[6]), (500, 0), "half the light, and none");
        assert_eq!((out.low[7], out.high[7]), (1000, 60000), "air in the threat's image changes nothing");
        assert_eq!(out.low.iter().filter(|&&v| v != 1000).count(), 1);
    }
}
