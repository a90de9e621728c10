//! Test clips made by code (Standards: generated test data is generated in the repo).
//!
//! The "static lobby" clip: a fixed camera on vtest.avi's plaza where, most of the time,
//! nothing moves — the case motion gating is for. It is built from vtest.avi itself:
//! - the empty plaza: the per-pixel median of frames spread over the whole video (people
//!   move, the plaza does not, so the median has no one in it);
//! - motion: during `motion_windows`, the real vtest frames, people walking;
//! - a person standing still: a crop of one man from vtest frame 0, pasted where he stood,
//!   for `still_secs` (the loitering case: one still person, no motion around him).
//!
//! Written as MJPEG in AVI at 10 frames a second, so the camera source decodes it like
//! any file.

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::path::Path;

pub const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
const W: usize = 768;
const H: usize = 576;
pub const FPS: u32 = 10;

/// The man in black in vtest frame 0, `[x1, y1, x2, y2]` in pixels (marked by hand on
/// the frame; he stands on the road right of the lamp post).
const STILL_CROP: [usize; 4] = [632, 232, 694, 332];

/// What the static clip holds, for tests and benchmarks to check against.
#[derive(Debug, Clone)]
pub struct StaticClip {
    pub secs: f64,
    /// Seconds `[from, to)` with people walking (real vtest frames).
    pub motion_windows: Vec<(f64, f64)>,
    /// Seconds `[from, to)` the still person stands there.
    pub still_secs: (f64, f64),
    /// The still person's box, normalised `[x1, y1, x2, y2]`.
    pub still_box: [f32; 4],
}

impl StaticClip {
    /// 120 s: walking people during 5–17 s and 95–107 s (20% of the time), a man standing
    /// still from 30 s to 90 s.
    pub fn standard() -> Self {
        let [x1, y1, x2, y2] = STILL_CROP;
        Self {
            secs: 120.0,
            motion_windows: vec![(5.0, 17.0), (95.0, 107.0)],
            still_secs: (30.0, 90.0),
            still_box: [x1 as f32 / W as f32, y1 as f32 / H as f32, x2 as f32 / W as f32, y2 as f32 / H as f32],
        }
    }

    /// Share of the clip's time with walking people.
    pub fn motion_share(&self) -> f64 {
        self.motion_windows.iter().map(|(a, b)| b - a).sum::<f64>() / self.secs
    }

    /// Writes the clip to `path` unless a file is already there.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        if path.exists() {
            return Ok(());
        }
        gst::init().map_err(|e| format!("GStreamer: {e}"))?;
        let frames = decode_bgr(VTEST)?;
        if frames.len() < 400 {
            return Err(format!("{VTEST}: {} frames decoded, expected ~795", frames.len()));
        }
        let background = median(&frames, 31);
        let still = &frames[0];
        let n = (self.secs * FPS as f64).round() as usize;
        let partial = path.with_extension("partial");
        let mut writer = MjpegWriter::start(&partial)?;
        let mut walk = 100usize; // vtest frame shown next in a motion window
        let mut frame = vec![0u8; W * H * 3];
        for i in 0..n {
            let t = i as f64 / FPS as f64;
            if self.motion_windows.iter().any(|(a, b)| (*a..*b).contains(&t)) {
                frame.copy_from_slice(&frames[walk % frames.len()]);
                walk += 1;
            } else {
                frame.copy_from_slice(&background);
            }
            if (self.still_secs.0..self.still_secs.1).contains(&t) {
                paste(&mut frame, still, STILL_CROP);
            }
            writer.push(&frame, i as u64)?;
        }
        writer.finish()?;
        std::fs::rename(&partial, path).map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn paste(dst: &mut [u8], src: &[u8], [x1, y1, x2, y2]: [usize; 4]) {
    for y in y1..y2 {
        let row = (y * W + x1) * 3..(y * W + x2) * 3;
        dst[row.clone()].copy_from_slice(&src[row]);
    }
}

/// Per-pixel median of `k` frames spread evenly over the video.
fn median(frames: &[Vec<u8>], k: usize) -> Vec<u8> {
    let picks: Vec<&Vec<u8>> = (0..k).map(|i| &frames[i * (frames.len() - 1) / (k - 1)]).collect();
    let mut out = vec![0u8; W * H * 3];
    let mut v = vec![0u8; k];
    for (p, o) in out.iter_mut().enumerate() {
        for (j, f) in picks.iter().enumerate() {
            v[j] = f[p];
        }
        v.sort_unstable();
        *o = v[k / 2];
    }
    out
}

/// Every frame of `path` as packed BGR at 768×576.
fn decode_bgr(path: &str) -> Result<Vec<Vec<u8>>, String> {
    let desc = format!(
        "filesrc location={path} ! decodebin ! videoconvert ! videoscale ! \
         video/x-raw,format=BGR,width={W},height={H} ! appsink name=sink sync=false"
    );
    let pipeline = gst::parse::launch(&desc).map_err(|e| format!("{path}: {e}"))?;
    let pipeline = pipeline.downcast::<gst::Pipeline>().map_err(|_| "not a pipeline".to_string())?;
    let sink = pipeline.by_name("sink").and_then(|s| s.downcast::<gst_app::AppSink>().ok()).ok_or("no appsink")?;
    pipeline.set_state(gst::State::Playing).map_err(|e| format!("{path}: {e}"))?;
    let mut frames = vec![];
    let result = loop {
        match sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
            Some(sample) => {
                let buf = sample.buffer().ok_or("sample without buffer")?;
                let map = buf.map_readable().map_err(|e| format!("{e}"))?;
                if map.len() < W * H * 3 {
                    break Err(format!("{path}: frame of {} bytes", map.len()));
                }
                frames.push(map[..W * H * 3].to_vec());
            }
            None if sink.is_eos() => break Ok(()),
            None => break Err(format!("{path}: no frame for 10 s (see the GStreamer log)")),
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result.map(|_| frames)
}

/// The "gate lane" clip: a car drives up to a customs gate camera with an Uzbek plate.
/// Built from Debian's `licenseplate_motion.jpg` (the back of a real car) with the plate
/// area covered by a plate rendered by code (`operators::plates::render`), scaled up
/// frame by frame as the car approaches, then an empty lane while the car has passed.
pub struct GateClip {
    /// The plate the car carries, e.g. `01 A 777 BC`.
    pub plate: String,
    pub secs_approach: f64,
    pub secs_empty: f64,
}

pub const CAR_PHOTO: &str = "/usr/share/doc/opencv-doc/examples/data/licenseplate_motion.jpg";

impl GateClip {
    pub fn standard() -> Self {
        Self { plate: "01 A 777 BC".into(), secs_approach: 6.0, secs_empty: 2.0 }
    }

    /// Writes the clip to `path` unless a file is already there.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        use opencv::core::{Mat, Rect, Scalar, Size};
        use opencv::prelude::*;
        use opencv::{imgcodecs, imgproc};
        let cv = |e: opencv::Error| format!("gate clip: {e}");
        if path.exists() {
            return Ok(());
        }
        gst::init().map_err(|e| format!("GStreamer: {e}"))?;
        let mut car = imgcodecs::imread(CAR_PHOTO, imgcodecs::IMREAD_COLOR).map_err(cv)?;
        if car.empty() {
            return Err(format!("{CAR_PHOTO}: missing or unreadable (Debian package opencv-doc)"));
        }
        let plate = operators::plates::normalise(&self.plate).map_err(|e| format!("gate clip plate: {e:?}"))?;
        let mut renderer = operators::plates::render::Renderer::new()?;
        let rendered = renderer.plate_image(&plate, 0, 30.0)?;
        // The photo's plate sits at about (214, 236)–(374, 290); ours covers it.
        let area = Rect::new(206, 238, 176, 40);
        let mut scaled = Mat::default();
        imgproc::resize(&rendered, &mut scaled, area.size(), 0.0, 0.0, imgproc::INTER_AREA).map_err(cv)?;
        let mut roi = Mat::roi_mut(&mut car, area).map_err(cv)?;
        scaled.copy_to(&mut roi).map_err(cv)?;

        let fps = FPS as f64;
        let approach = (self.secs_approach * fps).round() as usize;
        let empty = (self.secs_empty * fps).round() as usize;
        let partial = path.with_extension("partial");
        let mut writer = MjpegWriter::start(&partial)?;
        let mut bytes = vec![0u8; W * H * 3];
        for i in 0..approach + empty {
            let mut frame =
                Mat::new_rows_cols_with_default(H as i32, W as i32, opencv::core::CV_8UC3, Scalar::all(70.0))
                    .map_err(cv)?;
            // The lane: edge lines and a kerb, so the empty view is not a flat grey (which
            // the tamper rule would rightly call covered).
            for (x, w) in [(60, 10), (698, 10)] {
                imgproc::rectangle(
                    &mut frame,
                    Rect::new(x, 0, w, H as i32),
                    Scalar::all(225.0),
                    -1,
                    imgproc::LINE_8,
                    0,
                )
                .map_err(cv)?;
            }
            for y in (0..H as i32).step_by(48) {
                imgproc::rectangle(
                    &mut frame,
                    Rect::new(0, y, 40, 24),
                    Scalar::new(40.0, 140.0, 200.0, 0.0),
                    -1,
                    imgproc::LINE_8,
                    0,
                )
                .map_err(cv)?;
            }
            if i < approach {
                // From 45% to 100% of the photo's size, bottom edge sliding down.
                let k = 0.45 + 0.55 * i as f64 / (approach - 1).max(1) as f64;
                let size = Size::new((car.cols() as f64 * k) as i32, (car.rows() as f64 * k) as i32);
                let mut small = Mat::default();
                imgproc::resize(&car, &mut small, size, 0.0, 0.0, imgproc::INTER_AREA).map_err(cv)?;
                let x = (W as i32 - size.width) / 2;
                let y = (H as i32 - size.height).min((60.0 + 94.0 * k) as i32).max(0);
                let mut roi = Mat::roi_mut(&mut frame, Rect::new(x, y, size.width, size.height)).map_err(cv)?;
                small.copy_to(&mut roi).map_err(cv)?;
            }
            bytes.copy_from_slice(frame.data_bytes().map_err(cv)?);
            writer.push(&bytes, i as u64)?;
        }
        writer.finish()?;
        std::fs::rename(&partial, path).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// BGR frames in, an MJPEG AVI file out.
struct MjpegWriter {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
}

impl MjpegWriter {
    fn start(path: &Path) -> Result<Self, String> {
        let desc = format!(
            "appsrc name=src format=time caps=video/x-raw,format=BGR,width={W},height={H},framerate={FPS}/1 ! \
             videoconvert ! jpegenc quality=85 ! avimux ! filesink location={}",
            path.display()
        );
        let pipeline = gst::parse::launch(&desc).map_err(|e| format!("{e}"))?;
        let pipeline = pipeline.downcast::<gst::Pipeline>().map_err(|_| "not a pipeline".to_string())?;
        let src = pipeline.by_name("src").and_then(|s| s.downcast::<gst_app::AppSrc>().ok()).ok_or("no appsrc")?;
        src.set_block(true);
        pipeline.set_state(gst::State::Playing).map_err(|e| format!("{e}"))?;
        Ok(Self { pipeline, src })
    }

    fn push(&mut self, bgr: &[u8], i: u64) -> Result<(), String> {
        let mut buf = gst::Buffer::from_slice(bgr.to_vec());
        {
            let b = buf.get_mut().expect("new buffer is writable");
            let dur = gst::ClockTime::SECOND / FPS as u64;
            b.set_pts(dur * i);
            b.set_duration(dur);
        }
        self.src.push_buffer(buf).map(|_| ()).map_err(|e| format!("writing the clip: {e:?}"))
    }

    fn finish(self) -> Result<(), String> {
        self.src.end_of_stream().map_err(|e| format!("{e:?}"))?;
        let bus = self.pipeline.bus().ok_or("no bus")?;
        let result = match bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::Eos, gst::MessageType::Error])
        {
            Some(m) => match m.view() {
                gst::MessageView::Eos(_) => Ok(()),
                gst::MessageView::Error(e) => Err(format!("writing the clip: {}", e.error())),
                _ => Ok(()),
            },
            None => Err("writing the clip: no end of stream within 60 s".into()),
        };
        let _ = self.pipeline.set_state(gst::State::Null);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gate clip's plate is the configured one and readable: the plate reader reads it
    /// on the clip's last approach frame as decoded from the file.
    #[test]
    fn the_gate_clip_is_written_and_its_plate_reads_back() {
        let dir = std::env::temp_dir().join(format!("qv-gate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gate.avi");
        let clip = GateClip::standard();
        clip.write(&path).unwrap();
        let frames = decode_bgr(&path.display().to_string()).unwrap();
        assert_eq!(frames.len(), 80, "6 s approach + 2 s empty at 10 frames a second");
        let last = &frames[59];
        use opencv::prelude::*;
        let flat = opencv::core::Mat::from_slice(last).unwrap();
        let img = flat.reshape(3, H as i32).unwrap().try_clone().unwrap();
        if let Ok(p) = std::env::var("QV_KEEP_FRAME") {
            opencv::imgcodecs::imwrite_def(&p, &img).unwrap();
        }
        let cfg = operators::plates::ocr::PlateReaderConfig::default();
        let mut reader =
            operators::plates::ocr::PlateReader::load(&cfg, &operators::detect::Manifest::builtin()).unwrap();
        let read = reader.read_plate(&img).expect("the plate reads");
        assert_eq!(read.plate.as_ref().unwrap().text, operators::plates::normalise(&clip.plate).unwrap().text);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
