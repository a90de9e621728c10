//! A short clip around an alert: N frames, each redacted, as one MJPEG file (JPEGs back to
//! back, which GStreamer's `jpegparse` and ffmpeg's `mjpeg` demuxer read), plus the
//! originals as one sealed MJPEG. No annotations: the snapshot carries those.

use super::picture::{MAX_SIDE, encode_jpeg};
use crate::redact::{Redactor, check_image};
use opencv::core::Mat;
use opencv::prelude::*;
use pipeline::evidence::SealKey;
use pipeline::hash::sha256_hex;

/// The most frames one clip may hold (30 s at 10 frames/s).
pub const MAX_CLIP_FRAMES: usize = 300;

/// One frame of a clip and every person box in it (pixels `[x1, y1, x2, y2]`).
#[derive(Debug, Clone, Copy)]
pub struct ClipFrame<'a> {
    pub frame: &'a Mat,
    pub persons: &'a [[f32; 4]],
}

/// The two copies of a clip.
#[derive(Debug, Clone)]
pub struct Clip {
    /// Redacted frames, JPEG after JPEG.
    pub mjpeg: Vec<u8>,
    /// Where each frame's JPEG starts in `mjpeg`.
    pub frame_offsets: Vec<usize>,
    /// sha256 of `mjpeg`, hex.
    pub sha256: String,
    /// The unredacted frames as MJPEG, sealed.
    pub sealed_original: Vec<u8>,
    /// sha256 of `sealed_original`, hex.
    pub sealed_sha256: String,
    /// sha256 of the unredacted MJPEG inside, hex.
    pub original_sha256: String,
    /// Faces the detector found over all frames.
    pub faces: usize,
}

/// Redacts and encodes `frames` (all the same size) at JPEG `quality` (1–100); the
/// originals are encoded at the same quality and sealed with `key`. Every frame is checked
/// before any is encoded; `Err` names the frame.
pub fn build_clip(frames: &[ClipFrame], redactor: &mut Redactor, key: &SealKey, quality: u8) -> Result<Clip, String> {
    if frames.is_empty() || frames.len() > MAX_CLIP_FRAMES {
        return Err(format!("clip: {} frames, expected 1–{MAX_CLIP_FRAMES}", frames.len()));
    }
    if !(1..=100).contains(&quality) {
        return Err(format!("clip: quality {quality} is not within 1–100"));
    }
    let size = (frames[0].frame.cols(), frames[0].frame.rows());
    for (i, f) in frames.iter().enumerate() {
        check_image(f.frame).map_err(|e| format!("clip frame {i}: {e}"))?;
        let s = (f.frame.cols(), f.frame.rows());
        if s != size {
            return Err(format!("clip frame {i}: {}×{}, frame 0 is {}×{}", s.0, s.1, size.0, size.1));
        }
        if s.0 > MAX_SIDE || s.1 > MAX_SIDE {
            return Err(format!("clip frame {i}: {}×{} is larger than {MAX_SIDE} px on a side", s.0, s.1));
        }
    }
    let (mut mjpeg, mut original, mut frame_offsets, mut faces) = (vec![], vec![], vec![], 0);
    for (i, f) in frames.iter().enumerate() {
        original.extend(encode_jpeg(f.frame, quality).map_err(|e| format!("clip frame {i}: {e}"))?);
        let mut copy = f.frame.try_clone().map_err(|e| format!("clip frame {i}: {e}"))?;
        faces += redactor.redact(&mut copy, f.persons).map_err(|e| format!("clip frame {i}: {e}"))?.faces.len();
        frame_offsets.push(mjpeg.len());
        mjpeg.extend(encode_jpeg(&copy, quality).map_err(|e| format!("clip frame {i}: {e}"))?);
    }
    let sealed = key.seal(&original)?;
    Ok(Clip {
        sha256: sha256_hex(&mjpeg),
        mjpeg,
        frame_offsets,
        sealed_sha256: sha256_hex(&sealed.bytes),
        sealed_original: sealed.bytes,
        original_sha256: sealed.plaintext_sha256,
        faces,
    })
}
