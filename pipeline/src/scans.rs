//! X-ray scan intake: a scan is a low/high energy image pair plus its metadata (post, lane,
//! scanner, energies, pixel size, vehicle plate / container / declaration). Scanners drop
//! them in a watched folder, or integrators upload them over HTTP; both routes end in a
//! [`ScanInput`] of raw bytes. Decoding, and the header checks that refuse bombs and
//! absurd sizes before decoding, belong to the X-ray operator; this module only gathers
//! the files, checks the metadata and bounds what it reads.
//!
//! Folder layout, per scan: `{id}.json` (metadata), and the two images it names
//! (default `{id}_low.png` / `{id}_high.png`). The metadata file is the commit point:
//! scanners write the images first and the `.json` last (or rename it into place), so a
//! scan is taken only once it is whole. Taken scans move to `done/`, refused ones to
//! `rejected/` with a `{id}.reason.txt` beside them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Any one file of a scan larger than this is refused without reading it.
pub const MAX_FILE_BYTES: u64 = 512 << 20;
/// Metadata larger than this is refused.
pub const MAX_META_BYTES: u64 = 64 << 10;

/// kV (baggage, parcels) or MeV (cargo, vehicles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScannerType {
    Kv,
    Mev,
}

impl ScannerType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScannerType::Kv => "kv",
            ScannerType::Mev => "mev",
        }
    }
}

/// Who and what a scan is about, as the scanner's sidecar states it (untrusted until
/// [`ScanMeta::parse`] and the X-ray operator's scanner check).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanMeta {
    /// Unique per scan at its post; names the files and the alerts' episode.
    #[serde(default)]
    pub scan_id: String,
    /// When the vehicle or bag went through.
    #[serde(default)]
    pub event_ts: DateTime<Utc>,
    pub post: String,
    pub lane: String,
    /// Must name a configured `[[xray.scanners]]` entry.
    pub scanner_id: String,
    /// If given, must be the configured scanner's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanner_type: Option<ScannerType>,
    /// Low and high effective energies, keV; if given, must be the configured ones (±1 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energies_kev: Option<[f64; 2]>,
    /// Pixel size, mm; overrides the scanner's (belt or drive speed varies per scan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_size_mm: Option<f64>,
    /// Bits per sample the sender says its images have (8 or 16).
    pub bit_depth: u8,
    /// Raw value of unattenuated air in this scan; the scanner's air level if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i0: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declaration_id: Option<String>,
    /// File names of the images in the drop folder; default `{scan_id}_low.png` etc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_file: Option<String>,
}

/// Why a scan was not taken in; `reason()` is the metrics label.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntakeError {
    #[error("{file}: {message}")]
    Meta { file: String, message: String },
    #[error("{file}: {bytes} bytes, over the {limit}-byte limit")]
    TooLarge { file: String, bytes: u64, limit: u64 },
    #[error("{file}: {message}")]
    Io { file: String, message: String },
}

impl IntakeError {
    pub fn reason(&self) -> &'static str {
        match self {
            IntakeError::Meta { .. } => "metadata",
            IntakeError::TooLarge { .. } => "too_large",
            IntakeError::Io { .. } => "io",
        }
    }
}

impl ScanMeta {
    /// Parses and checks metadata; `file` names it in errors.
    pub fn parse(bytes: &[u8], file: &str) -> Result<ScanMeta, IntakeError> {
        let bad = |message: String| IntakeError::Meta { file: file.into(), message };
        let m: ScanMeta = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let chunk = |s: &str| s.len() <= 128 && crate::keys::is_segment(s);
        for (field, v) in [("scan_id", &m.scan_id), ("post", &m.post), ("lane", &m.lane), ("scanner_id", &m.scanner_id)]
        {
            if !chunk(v) {
                return Err(bad(format!("{field}: {v:?} must be 1–128 letters, digits, '_', '.', '-'")));
            }
        }
        if !matches!(m.bit_depth, 8 | 16) {
            return Err(bad(format!("bit_depth: {} is not 8 or 16", m.bit_depth)));
        }
        if let Some([lo, hi]) = m.energies_kev
            && !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi > lo)
        {
            return Err(bad(format!("energies_kev: [{lo}, {hi}] must be two positive numbers, low < high")));
        }
        if let Some(p) = m.pixel_size_mm.filter(|p| !(p.is_finite() && *p > 0.0 && *p <= 100.0)) {
            return Err(bad(format!("pixel_size_mm: {p} is not in (0, 100]")));
        }
        for (field, f) in [("low_file", &m.low_file), ("high_file", &m.high_file)] {
            if let Some(f) = f.as_deref().filter(|f| f.contains(['/', '\\']) || f.starts_with('.')) {
                return Err(bad(format!("{field}: {f:?} must be a plain file name in the scan's folder")));
            }
        }
        Ok(m)
    }

    pub fn low_file(&self) -> String {
        self.low_file.clone().unwrap_or_else(|| format!("{}_low.png", self.scan_id))
    }

    pub fn high_file(&self) -> String {
        self.high_file.clone().unwrap_or_else(|| format!("{}_high.png", self.scan_id))
    }
}

/// One scan as taken in: metadata and the two files' bytes, not yet decoded.
#[derive(Debug, Clone)]
pub struct ScanInput {
    pub meta: ScanMeta,
    pub low: Vec<u8>,
    pub high: Vec<u8>,
}

/// Reads a file, refusing it unread when larger than `limit`.
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, IntakeError> {
    let file = path.display().to_string();
    let len =
        std::fs::metadata(path).map_err(|e| IntakeError::Io { file: file.clone(), message: e.to_string() })?.len();
    if len > limit {
        return Err(IntakeError::TooLarge { file, bytes: len, limit });
    }
    std::fs::read(path).map_err(|e| IntakeError::Io { file, message: e.to_string() })
}

/// A scanner's drop folder.
pub struct ScanFolder {
    dir: PathBuf,
}

/// What one look at the folder found: scans to analyse and scans refused (already moved
/// to `rejected/` with their reason).
#[derive(Debug, Default)]
pub struct Found {
    pub scans: Vec<ScanInput>,
    pub refused: Vec<(String, IntakeError)>,
}

impl ScanFolder {
    pub fn new(dir: &Path) -> Result<Self, String> {
        for sub in ["", "done", "rejected"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        Ok(Self { dir: dir.to_path_buf() })
    }

    /// Takes every complete scan (its `.json` present) in name order. Each is moved out of
    /// the folder, so a scan is taken once even across restarts.
    pub fn take(&self) -> Found {
        let mut found = Found::default();
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return found };
        let mut metas: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
            .collect();
        metas.sort();
        for meta_path in metas {
            let stem = meta_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            match self.read_one(&meta_path) {
                Ok(scan) => {
                    self.park(&meta_path, &[scan.meta.low_file(), scan.meta.high_file()], "done", None);
                    found.scans.push(scan);
                }
                Err((files, e)) => {
                    self.park(&meta_path, &files, "rejected", Some(&e.to_string()));
                    found.refused.push((stem, e));
                }
            }
        }
        found
    }

    fn read_one(&self, meta_path: &Path) -> Result<ScanInput, (Vec<String>, IntakeError)> {
        let name = meta_path.display().to_string();
        let bytes = read_bounded(meta_path, MAX_META_BYTES).map_err(|e| (vec![], e))?;
        let meta = ScanMeta::parse(&bytes, &name).map_err(|e| (vec![], e))?;
        let files = vec![meta.low_file(), meta.high_file()];
        let low = read_bounded(&self.dir.join(meta.low_file()), MAX_FILE_BYTES).map_err(|e| (files.clone(), e))?;
        let high = read_bounded(&self.dir.join(meta.high_file()), MAX_FILE_BYTES).map_err(|e| (files.clone(), e))?;
        Ok(ScanInput { meta, low, high })
    }

    /// Moves the metadata and its images into `sub/`, with the reason beside them.
    fn park(&self, meta_path: &Path, files: &[String], sub: &str, reason: Option<&str>) {
        let to = self.dir.join(sub);
        let stem = meta_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        for f in files.iter().map(|f| self.dir.join(f)).chain([meta_path.to_path_buf()]) {
            if let Some(n) = f.file_name().filter(|_| f.exists())
                && let Err(e) = std::fs::rename(&f, to.join(n))
            {
                tracing::warn!("scan folder: moving {} to {sub}/: {e}", f.display());
            }
        }
        if let Some(r) = reason {
            let _ = std::fs::write(to.join(format!("{stem}.reason.txt")), format!("{r}\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str) -> serde_json::Value {
        serde_json::json!({"scan_id": id, "event_ts": "2026-11-22T10:00:00Z", "post": "yallama", "lane": "cargo-1",
            "scanner_id": "linac-1", "scanner_type": "mev", "bit_depth": 16, "energies_kev": [2000.0, 3500.0], "pixel_size_mm": 5.0,
            "container": "MSCU1234565"})
    }

    #[test]
    fn metadata_errors_name_the_field() {
        let bad = |v: serde_json::Value| ScanMeta::parse(v.to_string().as_bytes(), "s.json").unwrap_err().to_string();
        let mut m = meta("s1");
        m["energies_kev"] = serde_json::json!([6.0, 4.0]);
        assert!(bad(m).starts_with("s.json: energies_kev:"));
        let mut m = meta("s1");
        m["bit_depth"] = 12.into();
        assert!(bad(m).contains("bit_depth: 12"));
        let mut m = meta("../etc");
        m["low_file"] = "../../x.png".into();
        assert!(bad(m).contains("scan_id"));
        let mut m = meta("s1");
        m["low_file"] = "../../x.png".into();
        assert!(bad(m).contains("low_file"));
        let mut m = meta("s1");
        m["scanner_type"] = "ct".into();
        assert!(bad(m).contains("unknown variant"));
        assert!(ScanMeta::parse(meta("s1").to_string().as_bytes(), "s.json").is_ok());
    }

    #[test]
    fn complete_scans_are_taken_once_and_bad_ones_parked_with_the_reason() {
        let dir = std::env::temp_dir().join(format!("qv-scans-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let folder = ScanFolder::new(&dir).unwrap();
        // a: whole; b: images but no metadata yet (still being written); c: metadata names
        // a missing image; d: metadata that is not JSON.
        for (f, body) in [("a_low.png", "L"), ("a_high.png", "H"), ("b_low.png", "L"), ("b_high.png", "H")] {
            std::fs::write(dir.join(f), body).unwrap();
        }
        std::fs::write(dir.join("a.json"), meta("a").to_string()).unwrap();
        std::fs::write(dir.join("c.json"), meta("c").to_string()).unwrap();
        std::fs::write(dir.join("d.json"), "{not json").unwrap();
        let found = folder.take();
        assert_eq!(found.scans.len(), 1);
        assert_eq!((found.scans[0].meta.scan_id.as_str(), found.scans[0].low.as_slice()), ("a", b"L".as_slice()));
        let refused: Vec<(&str, &str)> = found.refused.iter().map(|(s, e)| (s.as_str(), e.reason())).collect();
        assert_eq!(refused, [("c", "io"), ("d", "metadata")]);
        assert!(dir.join("done/a.json").exists() && dir.join("done/a_high.png").exists());
        assert!(std::fs::read_to_string(dir.join("rejected/c.reason.txt")).unwrap().contains("c_low.png"));
        assert!(dir.join("b_low.png").exists(), "an incomplete scan waits");
        assert!(folder.take().scans.is_empty(), "nothing is taken twice");
        std::fs::write(dir.join("b.json"), meta("b").to_string()).unwrap();
        assert_eq!(folder.take().scans[0].meta.scan_id, "b");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
