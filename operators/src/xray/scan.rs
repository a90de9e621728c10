//! Loading one X-ray scan: a low/high energy image pair plus its metadata, from untrusted
//! bytes.
//!
//! The idea to understand first: nothing is decoded before its header has been read here
//! and judged. PNG (IHDR and the chunk chain) and TIFF (the first IFD) headers are parsed
//! by hand, so an absurd size, a truncated file or a decompression bomb (many declared
//! pixels in few bytes) is refused without allocating a pixel buffer; only then does
//! OpenCV's `imdecode` (`IMREAD_UNCHANGED`, which keeps 16-bit samples) decode the image.
//!
//! Formats: 8- and 16-bit single-channel grayscale PNG and TIFF. Scanner vendors also
//! export the WCO Unified File Format (UFF); no UFF specification is reachable from here,
//! so it is not read — a UFF file is refused as "not a PNG or TIFF".

use opencv::core::{Mat, Vector};
use opencv::imgcodecs;
use opencv::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Limits on one image file, checked on the header before decoding (`[xray.limits]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanLimits {
    /// Most pixels one image may declare (width × height).
    pub max_pixels: u64,
    /// Largest file accepted, bytes.
    pub max_file_bytes: u64,
    /// Most decoded bytes per file byte. A real scan carries detector noise and compresses
    /// a few times at most; a flat synthetic image compresses ~100×; a bomb far more.
    pub max_compression_ratio: f64,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits { max_pixels: 64_000_000, max_file_bytes: 512 << 20, max_compression_ratio: 400.0 }
    }
}

impl ScanLimits {
    /// `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_pixels == 0 {
            return Err("max_pixels: must be at least 1".into());
        }
        if self.max_file_bytes < 64 {
            return Err(format!("max_file_bytes: {} is too small for any image", self.max_file_bytes));
        }
        if !(self.max_compression_ratio.is_finite() && self.max_compression_ratio >= 1.0) {
            return Err(format!("max_compression_ratio: {} must be a number ≥ 1", self.max_compression_ratio));
        }
        Ok(())
    }
}

/// Why a scan was refused. Every variant names the file (or the field) and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScanError {
    #[error("{file}: {bytes} bytes is more than the {max} bytes allowed")]
    FileTooLarge { file: String, bytes: u64, max: u64 },
    #[error("{file}: not a PNG or TIFF image ({what})")]
    NotAnImage { file: String, what: String },
    #[error("{file}: truncated {format}: {what}")]
    Truncated { file: String, format: &'static str, what: String },
    #[error("{file}: {format} header: {what}")]
    BadHeader { file: String, format: &'static str, what: String },
    #[error("{file}: unsupported {format}: {what}")]
    Unsupported { file: String, format: &'static str, what: String },
    #[error("{file}: the image is {width}×{height}: no pixels")]
    Empty { file: String, width: u64, height: u64 },
    #[error("{file}: {width}×{height} is {} pixels, more than the {max_pixels} allowed", width * height)]
    TooLarge { file: String, width: u64, height: u64, max_pixels: u64 },
    #[error(
        "{file}: decompression bomb: {width}×{height}×{bits}-bit declares {decoded} bytes in a {file_bytes}-byte file \
         ({ratio:.0}:1, limit {max_ratio:.0}:1)"
    )]
    Bomb { file: String, width: u64, height: u64, bits: u8, decoded: u64, file_bytes: u64, ratio: f64, max_ratio: f64 },
    #[error("{file}: the image is {header}-bit but the scan declares {declared}-bit")]
    BitDepthMismatch { file: String, header: u8, declared: u8 },
    #[error("{file}: decoding failed: {what}")]
    Decode { file: String, what: String },
    #[error("low {low} is {lw}×{lh} but high {high} is {hw}×{hh}: the pair must have one size")]
    SizeMismatch { low: String, lw: u64, lh: u64, high: String, hw: u64, hh: u64 },
    #[error("scanner {id:?} is not configured ([[xray.scanners]])")]
    UnknownScanner { id: String },
    #[error("metadata {field}: {what}")]
    BadMeta { field: &'static str, what: String },
}

impl ScanError {
    /// A short label for metrics (`qv_xray_rejected_total{reason=…}`).
    pub fn reason(&self) -> &'static str {
        match self {
            ScanError::FileTooLarge { .. } => "file_too_large",
            ScanError::NotAnImage { .. } => "not_an_image",
            ScanError::Truncated { .. } => "truncated",
            ScanError::BadHeader { .. } => "bad_header",
            ScanError::Unsupported { .. } => "unsupported",
            ScanError::Empty { .. } => "empty_image",
            ScanError::TooLarge { .. } => "too_large",
            ScanError::Bomb { .. } => "decompression_bomb",
            ScanError::BitDepthMismatch { .. } => "bit_depth_mismatch",
            ScanError::Decode { .. } => "decode_failed",
            ScanError::SizeMismatch { .. } => "size_mismatch",
            ScanError::UnknownScanner { .. } => "unknown_scanner",
            ScanError::BadMeta { .. } => "bad_metadata",
        }
    }
}

/// The metadata type is the intake's (`pipeline::scans`), so a scan's sidecar is read once.
pub use pipeline::scans::ScanMeta;

/// What a header says about an image, read without decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    pub format: &'static str,
    pub width: u64,
    pub height: u64,
    /// Bits per sample: 8 or 16 once [`probe`] accepted it.
    pub bits: u8,
    /// Bytes of compressed pixel data (PNG IDAT, TIFF strips or tiles).
    pub payload_bytes: u64,
}

/// One image of the pair, decoded: `CV_8UC1` or `CV_16UC1`.
#[derive(Debug)]
pub struct ScanImage {
    /// The file name it came from (for errors and evidence).
    pub name: String,
    pub header: ImageHeader,
    pub mat: Mat,
}

/// One scan: the low and high energy images, one size, one bit depth, and the metadata.
#[derive(Debug)]
pub struct Scan {
    pub meta: ScanMeta,
    pub low: ScanImage,
    pub high: ScanImage,
}

impl Scan {
    pub fn width(&self) -> u64 {
        self.low.header.width
    }

    pub fn height(&self) -> u64 {
        self.low.header.height
    }

    /// Full-scale value of the samples: 255 or 65535.
    pub fn full_scale(&self) -> f64 {
        if self.low.header.bits == 16 { 65535.0 } else { 255.0 }
    }

    /// Checks both headers, decodes both images and checks the pair agrees with itself and
    /// with `meta`. The scanner itself is checked against the calibration by the caller
    /// ([`Analysis`](super::Analysis)).
    pub fn decode(
        meta: ScanMeta,
        low: (&str, &[u8]),
        high: (&str, &[u8]),
        limits: &ScanLimits,
    ) -> Result<Scan, ScanError> {
        if !matches!(meta.bit_depth, 8 | 16) {
            return Err(ScanError::BadMeta { field: "bit_depth", what: format!("{} is not 8 or 16", meta.bit_depth) });
        }
        if meta.scanner_id.trim().is_empty() {
            return Err(ScanError::BadMeta { field: "scanner_id", what: "empty".into() });
        }
        if let Some(p) = meta.pixel_size_mm
            && !(p.is_finite() && p > 0.0 && p < 1000.0)
        {
            return Err(ScanError::BadMeta { field: "pixel_size_mm", what: format!("{p} is not a size in mm") });
        }
        if let Some(i0) = meta.i0
            && !(i0.is_finite() && i0 > 0.0)
        {
            return Err(ScanError::BadMeta { field: "i0", what: format!("{i0} must be positive") });
        }
        let lh = checked_header(low.0, low.1, meta.bit_depth, limits)?;
        let hh = checked_header(high.0, high.1, meta.bit_depth, limits)?;
        if (lh.width, lh.height) != (hh.width, hh.height) {
            return Err(ScanError::SizeMismatch {
                low: low.0.into(),
                lw: lh.width,
                lh: lh.height,
                high: high.0.into(),
                hw: hh.width,
                hh: hh.height,
            });
        }
        if let Some(i0) = meta.i0
            && i0 > f64::from(if meta.bit_depth == 16 { u16::MAX } else { u16::from(u8::MAX) })
        {
            return Err(ScanError::BadMeta {
                field: "i0",
                what: format!("{i0} is above the {}-bit range", meta.bit_depth),
            });
        }
        let low = decode_image(low.0, low.1, lh)?;
        let high = decode_image(high.0, high.1, hh)?;
        Ok(Scan { meta, low, high })
    }

    /// [`Scan::decode`] from two files; the file size is checked before reading.
    pub fn load(meta: ScanMeta, low: &Path, high: &Path, limits: &ScanLimits) -> Result<Scan, ScanError> {
        let lb = read_limited(low, limits)?;
        let hb = read_limited(high, limits)?;
        Scan::decode(meta, (&low.display().to_string(), &lb), (&high.display().to_string(), &hb), limits)
    }
}

/// One image file on its own: size checked before reading, header judged against every limit
/// at the bit depth it declares, then decoded.
pub fn load_image(path: &Path, limits: &ScanLimits) -> Result<ScanImage, ScanError> {
    let file = path.display().to_string();
    let bytes = read_limited(path, limits)?;
    let header = checked_header(&file, &bytes, probe(&file, &bytes)?.bits, limits)?;
    decode_image(&file, &bytes, header)
}

fn read_limited(path: &Path, limits: &ScanLimits) -> Result<Vec<u8>, ScanError> {
    let file = path.display().to_string();
    let len = std::fs::metadata(path).map_err(|e| ScanError::Decode { file: file.clone(), what: e.to_string() })?.len();
    if len > limits.max_file_bytes {
        return Err(ScanError::FileTooLarge { file, bytes: len, max: limits.max_file_bytes });
    }
    std::fs::read(path).map_err(|e| ScanError::Decode { file, what: e.to_string() })
}

/// [`probe`] plus every limit and the declared bit depth.
pub fn checked_header(
    file: &str,
    bytes: &[u8],
    declared_bits: u8,
    limits: &ScanLimits,
) -> Result<ImageHeader, ScanError> {
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(ScanError::FileTooLarge {
            file: file.into(),
            bytes: bytes.len() as u64,
            max: limits.max_file_bytes,
        });
    }
    let h = probe(file, bytes)?;
    if h.width == 0 || h.height == 0 {
        return Err(ScanError::Empty { file: file.into(), width: h.width, height: h.height });
    }
    if h.width.saturating_mul(h.height) > limits.max_pixels {
        return Err(ScanError::TooLarge {
            file: file.into(),
            width: h.width,
            height: h.height,
            max_pixels: limits.max_pixels,
        });
    }
    let decoded = h.width * h.height * u64::from(h.bits / 8);
    let ratio = decoded as f64 / (bytes.len().max(1) as f64);
    if ratio > limits.max_compression_ratio {
        return Err(ScanError::Bomb {
            file: file.into(),
            width: h.width,
            height: h.height,
            bits: h.bits,
            decoded,
            file_bytes: bytes.len() as u64,
            ratio,
            max_ratio: limits.max_compression_ratio,
        });
    }
    if h.bits != declared_bits {
        return Err(ScanError::BitDepthMismatch { file: file.into(), header: h.bits, declared: declared_bits });
    }
    Ok(h)
}

fn decode_image(file: &str, bytes: &[u8], header: ImageHeader) -> Result<ScanImage, ScanError> {
    let buf = Vector::<u8>::from_slice(bytes);
    let mat = imgcodecs::imdecode(&buf, imgcodecs::IMREAD_UNCHANGED)
        .map_err(|e| ScanError::Decode { file: file.into(), what: e.message.clone() })?;
    if mat.empty() {
        return Err(ScanError::Decode { file: file.into(), what: "the decoder returned no image".into() });
    }
    let want = if header.bits == 16 { opencv::core::CV_16UC1 } else { opencv::core::CV_8UC1 };
    if mat.typ() != want || mat.cols() as u64 != header.width || mat.rows() as u64 != header.height {
        return Err(ScanError::Decode {
            file: file.into(),
            what: format!(
                "decoded {}×{} of type {} does not match the header's {}×{} {}-bit grayscale",
                mat.cols(),
                mat.rows(),
                mat.typ(),
                header.width,
                header.height,
                header.bits
            ),
        });
    }
    Ok(ScanImage { name: file.into(), header, mat })
}

/// Reads a PNG or TIFF header (the bytes decide which), without decoding pixels.
pub fn probe(file: &str, bytes: &[u8]) -> Result<ImageHeader, ScanError> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        probe_png(file, bytes)
    } else if bytes.starts_with(b"II") || bytes.starts_with(b"MM") {
        probe_tiff(file, bytes)
    } else {
        let what = if bytes.is_empty() {
            "empty file".to_string()
        } else {
            format!("starts with {:02x?}", &bytes[..bytes.len().min(8)])
        };
        Err(ScanError::NotAnImage { file: file.into(), what })
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// PNG: IHDR must come first; the chunk chain is walked (lengths only, no CRC or
/// inflation) to the IEND chunk, so a cut-off file is found before decoding.
fn probe_png(file: &str, b: &[u8]) -> Result<ImageHeader, ScanError> {
    const F: &str = "PNG";
    let trunc = |what: String| ScanError::Truncated { file: file.into(), format: F, what };
    let bad = |what: String| ScanError::BadHeader { file: file.into(), format: F, what };
    if b.len() < 8 + 8 + 13 + 4 {
        return Err(trunc(format!("{} bytes, shorter than the signature and IHDR", b.len())));
    }
    if be32(b, 8) != 13 || &b[12..16] != b"IHDR" {
        return Err(bad("the first chunk is not a 13-byte IHDR".into()));
    }
    let width = u64::from(be32(b, 16));
    let height = u64::from(be32(b, 20));
    let bits = b[24];
    let colour = b[25];
    if b[26] != 0 || b[27] != 0 || b[28] > 1 {
        return Err(bad(format!("compression {}, filter {}, interlace {} are not PNG values", b[26], b[27], b[28])));
    }
    if colour != 0 {
        let kind = match colour {
            2 => "RGB",
            3 => "palette",
            4 => "grayscale+alpha",
            6 => "RGBA",
            _ => "unknown colour type",
        };
        return Err(ScanError::Unsupported {
            file: file.into(),
            format: F,
            what: format!("colour type {colour} ({kind}); a scan is single-channel grayscale"),
        });
    }
    if !matches!(bits, 8 | 16) {
        return Err(ScanError::Unsupported {
            file: file.into(),
            format: F,
            what: format!("{bits}-bit samples (8 or 16)"),
        });
    }
    let mut at = 8usize;
    let mut idat = 0u64;
    loop {
        if at + 8 > b.len() {
            return Err(trunc(format!("the file ends at byte {} before the IEND chunk", b.len())));
        }
        let len = be32(b, at) as usize;
        let kind = &b[at + 4..at + 8];
        let end = at.checked_add(12).and_then(|x| x.checked_add(len));
        match end {
            Some(end) if end <= b.len() => {}
            _ => {
                return Err(trunc(format!(
                    "chunk {:?} at byte {at} declares {len} bytes, the file has {}",
                    String::from_utf8_lossy(kind),
                    b.len()
                )));
            }
        }
        if kind == b"IDAT" {
            idat += len as u64;
        }
        if kind == b"IEND" {
            break;
        }
        at += 12 + len;
    }
    if idat == 0 {
        return Err(trunc("no IDAT chunk: no pixel data".into()));
    }
    Ok(ImageHeader { format: F, width, height, bits, payload_bytes: idat })
}

/// TIFF (classic, not BigTIFF): the first IFD's width, height, bits, samples, compression
/// and strip or tile extents. Every strip or tile must lie inside the file.
fn probe_tiff(file: &str, b: &[u8]) -> Result<ImageHeader, ScanError> {
    const F: &str = "TIFF";
    let trunc = |what: String| ScanError::Truncated { file: file.into(), format: F, what };
    let bad = |what: String| ScanError::BadHeader { file: file.into(), format: F, what };
    let unsupported = |what: String| ScanError::Unsupported { file: file.into(), format: F, what };
    if b.len() < 8 {
        return Err(trunc(format!("{} bytes, shorter than the 8-byte header", b.len())));
    }
    let le = &b[..2] == b"II";
    let u16_at = |at: usize| -> Option<u32> {
        let s = b.get(at..at + 2)?;
        Some(u32::from(if le { u16::from_le_bytes([s[0], s[1]]) } else { u16::from_be_bytes([s[0], s[1]]) }))
    };
    let u32_at = |at: usize| -> Option<u32> {
        let s = b.get(at..at + 4)?;
        let a = [s[0], s[1], s[2], s[3]];
        Some(if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) })
    };
    match u16_at(2) {
        Some(42) => {}
        Some(43) => return Err(unsupported("BigTIFF".into())),
        other => return Err(bad(format!("magic {other:?} is not 42"))),
    }
    let ifd = u32_at(4).unwrap_or(0) as usize;
    if ifd < 8 {
        return Err(bad(format!("first IFD offset {ifd} points into the header")));
    }
    let n = u16_at(ifd)
        .ok_or_else(|| trunc(format!("the first IFD at byte {ifd} is past the end ({} bytes)", b.len())))?
        as usize;
    if ifd + 2 + 12 * n > b.len() {
        return Err(trunc(format!("the IFD at byte {ifd} has {n} entries but the file ends at byte {}", b.len())));
    }
    // Each entry: tag, type (3 SHORT, 4 LONG), count, value or offset to the values.
    let values = |e: usize| -> Result<Vec<u32>, ScanError> {
        let (typ, count) = (u16_at(e + 2).unwrap_or(0), u32_at(e + 4).unwrap_or(0) as usize);
        let size = match typ {
            3 => 2,
            4 => 4,
            _ => return Err(bad(format!("tag {} has type {typ}, expected SHORT or LONG", u16_at(e).unwrap_or(0)))),
        };
        if count > 1 << 20 {
            return Err(bad(format!("tag {} declares {count} values", u16_at(e).unwrap_or(0))));
        }
        let base = if size * count <= 4 { e + 8 } else { u32_at(e + 8).unwrap_or(0) as usize };
        (0..count)
            .map(|i| {
                let at = base + i * size;
                if size == 2 { u16_at(at) } else { u32_at(at) }.ok_or_else(|| {
                    trunc(format!(
                        "values of tag {} at byte {at} are past the end ({} bytes)",
                        u16_at(e).unwrap_or(0),
                        b.len()
                    ))
                })
            })
            .collect()
    };
    let (mut width, mut height, mut bits, mut samples, mut compression) = (None, None, vec![1u32], 1u32, 1u32);
    let (mut offsets, mut counts) = (vec![], vec![]);
    for i in 0..n {
        let e = ifd + 2 + 12 * i;
        match u16_at(e).unwrap_or(0) {
            256 => width = values(e)?.first().copied(),
            257 => height = values(e)?.first().copied(),
            258 => bits = values(e)?,
            259 => compression = values(e)?.first().copied().unwrap_or(1),
            277 => samples = values(e)?.first().copied().unwrap_or(1),
            273 | 324 => offsets = values(e)?,
            279 | 325 => counts = values(e)?,
            _ => {}
        }
    }
    let (Some(width), Some(height)) = (width, height) else {
        return Err(bad("no ImageWidth or ImageLength tag".into()));
    };
    if samples != 1 {
        return Err(unsupported(format!("{samples} samples per pixel; a scan is single-channel grayscale")));
    }
    let bits = match bits.first() {
        Some(&b @ (8 | 16)) => b as u8,
        other => return Err(unsupported(format!("{} bits per sample (8 or 16)", other.copied().unwrap_or(0)))),
    };
    if !matches!(compression, 1 | 5 | 8 | 32773 | 32946) {
        return Err(unsupported(format!("compression {compression} (none, LZW, Deflate or PackBits)")));
    }
    if offsets.is_empty() || offsets.len() != counts.len() {
        return Err(bad(format!("{} strip/tile offsets but {} byte counts", offsets.len(), counts.len())));
    }
    let mut payload = 0u64;
    for (i, (&o, &c)) in offsets.iter().zip(&counts).enumerate() {
        let end = u64::from(o) + u64::from(c);
        if end > b.len() as u64 {
            return Err(trunc(format!("strip {i} ends at byte {end}, the file has {} bytes", b.len())));
        }
        payload += u64::from(c);
    }
    let raw = u64::from(width) * u64::from(height) * u64::from(bits / 8);
    if compression == 1 && payload < raw {
        return Err(trunc(format!(
            "uncompressed strips hold {payload} bytes, {width}×{height}×{bits}-bit needs {raw}"
        )));
    }
    Ok(ImageHeader { format: F, width: u64::from(width), height: u64::from(height), bits, payload_bytes: payload })
}
