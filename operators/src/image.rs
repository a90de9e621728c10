//! OpenCV images as every stage uses them: the one mapper of OpenCV's errors into ours
//! ([`cv`]), and the full-resolution decoded picture (a GStreamer sample in the decoder's
//! own format) as a BGR image ([`sample_to_bgr`]), converted only when an alert needs a
//! snapshot or a plate a crop, never per frame.
use gstreamer as gst;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use opencv::core::{Mat, Vec3b};
use opencv::imgproc;
use opencv::prelude::*;

/// An OpenCV error as our errors say it.
pub fn cv(e: opencv::Error) -> String {
    format!("OpenCV: {e}")
}

/// The sample's picture as 8-bit BGR. Handles the planar and packed formats decoders
/// give (I420, YV12, NV12, NV21, YUY2, UYVY, RGB, BGR, RGBx, BGRx, RGBA, BGRA, GRAY8).
pub fn sample_to_bgr(sample: &gst::Sample) -> Result<Mat, String> {
    let caps = sample.caps().ok_or("frame without caps")?;
    let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| format!("frame caps {caps}: {e}"))?;
    let buffer = sample.buffer().ok_or("frame without a buffer")?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        .map_err(|e| format!("mapping the frame: {e}"))?;
    let (w, h) = (info.width() as usize, info.height() as usize);
    if w == 0 || h == 0 {
        return Err("frame is 0×0".into());
    }
    use gst_video::VideoFormat as F;
    // Copy the planes row by row (strides may pad) into one tight buffer, then convert.
    let plane = |i: u32, row_bytes: usize, rows: usize, out: &mut Vec<u8>| -> Result<(), String> {
        let data = frame.plane_data(i).map_err(|e| format!("plane {i}: {e}"))?;
        let stride = frame.plane_stride()[i as usize] as usize;
        for r in 0..rows {
            let start = r * stride;
            out.extend_from_slice(data.get(start..start + row_bytes).ok_or(format!("plane {i} is short"))?);
        }
        Ok(())
    };
    let mut tight = Vec::with_capacity(w * h * 3);
    let (rows, cols, channels, code): (usize, usize, i32, Option<i32>) = match info.format() {
        F::I420 | F::Yv12 => {
            plane(0, w, h, &mut tight)?;
            plane(1, w.div_ceil(2), h.div_ceil(2), &mut tight)?;
            plane(2, w.div_ceil(2), h.div_ceil(2), &mut tight)?;
            if w % 2 == 1 || h % 2 == 1 {
                return Err(format!("{:?} frame of odd size {w}×{h}", info.format()));
            }
            let code = if info.format() == F::I420 { imgproc::COLOR_YUV2BGR_I420 } else { imgproc::COLOR_YUV2BGR_YV12 };
            (h * 3 / 2, w, 1, Some(code))
        }
        F::Nv12 | F::Nv21 => {
            plane(0, w, h, &mut tight)?;
            plane(1, w, h / 2, &mut tight)?;
            let code = if info.format() == F::Nv12 { imgproc::COLOR_YUV2BGR_NV12 } else { imgproc::COLOR_YUV2BGR_NV21 };
            (h * 3 / 2, w, 1, Some(code))
        }
        F::Yuy2 => (plane(0, w * 2, h, &mut tight).map(|_| (h, w, 2, Some(imgproc::COLOR_YUV2BGR_YUY2))))?,
        F::Uyvy => (plane(0, w * 2, h, &mut tight).map(|_| (h, w, 2, Some(imgproc::COLOR_YUV2BGR_UYVY))))?,
        F::Bgr => (plane(0, w * 3, h, &mut tight).map(|_| (h, w, 3, None)))?,
        F::Rgb => (plane(0, w * 3, h, &mut tight).map(|_| (h, w, 3, Some(imgproc::COLOR_RGB2BGR))))?,
        F::Bgrx | F::Bgra => (plane(0, w * 4, h, &mut tight).map(|_| (h, w, 4, Some(imgproc::COLOR_BGRA2BGR))))?,
        F::Rgbx | F::Rgba => (plane(0, w * 4, h, &mut tight).map(|_| (h, w, 4, Some(imgproc::COLOR_RGBA2BGR))))?,
        F::Gray8 => (plane(0, w, h, &mut tight).map(|_| (h, w, 1, Some(imgproc::COLOR_GRAY2BGR))))?,
        other => return Err(format!("frames in {other:?} are not supported for snapshots")),
    };
    debug_assert_eq!(tight.len(), rows * cols * channels as usize);
    let flat = Mat::from_slice(&tight).map_err(cv)?;
    let src = flat.reshape(channels, rows as i32).map_err(cv)?;
    let mut bgr = Mat::default();
    match code {
        Some(code) => imgproc::cvt_color_def(&src, &mut bgr, code).map_err(cv)?,
        None => bgr = src.try_clone().map_err(cv)?,
    }
    debug_assert_eq!(bgr.typ(), Vec3b::opencv_type());
    Ok(bgr)
}
