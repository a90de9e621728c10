//! The thread that owns one camera: start, pull, loop, reconnect, report.

use super::CameraConfig;
use super::gst_pipeline::{CameraPipeline, Pulled, camera_ntp_unix_ns, sample_size};

use crate::clock::Clock;
use crate::frame::{EventTimeSource, Frame, RgbImage};
use crate::slot::Slot;
use crate::sources::{SourceEvent, SourceState, redact_uri_in, redacted_uri};
use chrono::{DateTime, TimeDelta, Utc};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the pull loop looks up from the sink to check for stop requests and errors.
const PULL_TIMEOUT: Duration = Duration::from_millis(200);

/// A running camera. Dropping it (or [`CameraHandle::stop`]) removes the camera cleanly.
pub struct CameraHandle {
    stop_tx: Sender<()>,
    slot: Arc<Slot<Arc<Frame>>>,
    state: Arc<Mutex<SourceState>>,
    thread: Option<JoinHandle<()>>,
}

impl CameraHandle {
    /// The latest state reported.
    pub fn state(&self) -> SourceState {
        self.state.lock().unwrap().clone()
    }
    /// Stops the camera and waits for its thread; its queued frames stay in the slot.
    pub fn stop(mut self) {
        self.shutdown();
    }
    fn shutdown(&mut self) {
        let _ = self.stop_tx.send(());
        self.slot.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CameraHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Everything the supervisor thread needs.
struct Camera {
    cfg: CameraConfig,
    id: Arc<str>,
    uri: String,
    /// `uri` as logs show it: without credentials ([`redacted_uri`]).
    shown_uri: String,
    live: bool,
    model_size: (u32, u32),
    slot: Arc<Slot<Arc<Frame>>>,
    events: Sender<SourceEvent>,
    state: Arc<Mutex<SourceState>>,
    clock: Arc<dyn Clock>,
    stop_rx: Receiver<()>,
    seq: u64,
}

/// How one run of the pipeline ended.
enum RunEnd {
    Stopped,
    Ended,
    Lost { error: String, had_frames: bool },
}

/// Starts a camera feeding `slot` with frames scaled to `model_size`. A config error is
/// returned at once; everything later is reported on `events`.
pub fn spawn_camera(
    cfg: CameraConfig,
    model_size: (u32, u32),
    slot: Arc<Slot<Arc<Frame>>>,
    events: Sender<SourceEvent>,
    clock: Arc<dyn Clock>,
) -> Result<CameraHandle, String> {
    cfg.validate().map_err(|e| format!("camera {:?}: {e}", cfg.id))?;
    let uri = cfg.resolved_uri().map_err(|e| format!("camera {:?}: uri: {e}", cfg.id))?;
    gstreamer::init().map_err(|e| format!("GStreamer init: {e}"))?;
    let id: Arc<str> = cfg.id.as_str().into();
    let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
    let state = Arc::new(Mutex::new(SourceState::Starting));
    let camera = Camera {
        live: super::is_live_uri(&uri),
        cfg,
        id: id.clone(),
        shown_uri: redacted_uri(&uri),
        uri,
        model_size,
        slot: slot.clone(),
        events,
        state: state.clone(),
        clock,
        stop_rx,
        seq: 0,
    };
    let thread = std::thread::Builder::new()
        .name(format!("camera-{id}"))
        .spawn(move || camera.supervise())
        .map_err(|e| format!("camera {id}: spawning its thread: {e}"))?;
    Ok(CameraHandle { stop_tx, slot, state, thread: Some(thread) })
}

impl Camera {
    /// Logs, stores and sends a state change; an error in it (GStreamer's message, which may
    /// echo the location) loses the URI's credentials first, so neither the log, the
    /// heartbeat's source states nor the observers ever see them.
    fn report(&self, state: SourceState) {
        let state = without_credentials(state, &[&self.uri, &self.cfg.uri]);
        if matches!(state, SourceState::Reconnecting { .. } | SourceState::Failed { .. }) {
            crate::metrics::global().metric("qv_source_errors_total", &[("source", &self.id)]).inc();
        }
        match &state {
            SourceState::Reconnecting { error, retry_in_secs, attempt } => {
                tracing::warn!(camera = %self.id, uri = %self.shown_uri, attempt, retry_in_secs, "source lost: {error}")
            }
            SourceState::Failed { error } => {
                tracing::error!(camera = %self.id, uri = %self.shown_uri, "source failed: {error}")
            }
            s => tracing::info!(camera = %self.id, "source {s:?}"),
        }
        *self.state.lock().unwrap() = state.clone();
        let _ = self.events.send(SourceEvent { source_id: self.id.clone(), at: self.clock.now(), state });
    }

    fn stop_requested(&self) -> bool {
        !matches!(self.stop_rx.try_recv(), Err(TryRecvError::Empty))
    }

    fn supervise(mut self) {
        let mut attempt = 0u32;
        loop {
            match self.run_once() {
                RunEnd::Stopped => {
                    self.report(SourceState::Stopped);
                    break;
                }
                RunEnd::Ended => {
                    self.report(SourceState::Ended);
                    break;
                }
                RunEnd::Lost { error, .. } if !self.live => {
                    self.report(SourceState::Failed { error });
                    break;
                }
                RunEnd::Lost { error, had_frames } => {
                    attempt = if had_frames { 1 } else { attempt + 1 };
                    let wait = self.cfg.reconnect.backoff_secs(attempt);
                    self.report(SourceState::Reconnecting { attempt, retry_in_secs: wait, error });
                    match self.stop_rx.recv_timeout(Duration::from_secs_f64(wait)) {
                        Err(RecvTimeoutError::Timeout) => self.report(SourceState::Starting),
                        _ => {
                            self.report(SourceState::Stopped);
                            break;
                        }
                    }
                }
            }
        }
        self.slot.close();
    }

    /// One life of the GStreamer pipeline, from start to loss, end or stop.
    fn run_once(&mut self) -> RunEnd {
        let lost = |error: String, had_frames| RunEnd::Lost { error, had_frames };
        let (w, h) = self.model_size;
        let sync = self.cfg.realtime && !self.live;
        let pipeline = match CameraPipeline::build(&self.uri, w, h, sync, self.cfg.rtsp_latency_ms) {
            Ok(p) => p,
            Err(e) => return lost(e, false),
        };
        if let Err(e) = pipeline.start() {
            return lost(e, false);
        }
        let stall = Duration::from_secs_f64(self.cfg.stall_secs);
        let file_start = self.clock.now();
        let mut loop_offset = TimeDelta::zero();
        let mut last_pts = TimeDelta::zero();
        // A file's first timestamp need not be 0 (B-frame delay, edit lists): positions
        // count from the first timestamp of each pass through the file.
        let mut pass_start: Option<TimeDelta> = None;
        let mut last_duration = TimeDelta::milliseconds(40);
        let mut last_frame = Instant::now();
        let mut had_frames = false;
        loop {
            if self.stop_requested() {
                return RunEnd::Stopped;
            }
            match pipeline.pull(PULL_TIMEOUT) {
                Pulled::Frame { model, full } => {
                    last_frame = Instant::now();
                    let ns = |t: gst::ClockTime| TimeDelta::nanoseconds(t.nseconds() as i64);
                    if let Some(buf) = model.buffer() {
                        last_pts = buf.pts().map(ns).unwrap_or(last_pts);
                        pass_start.get_or_insert(last_pts);
                        last_duration = buf.duration().map(ns).unwrap_or(last_duration);
                    }
                    let Some(frame) = self.make_frame(
                        model,
                        full,
                        file_start + loop_offset + last_pts - pass_start.unwrap_or_default(),
                    ) else {
                        return lost("frame without video caps or buffer".into(), had_frames);
                    };
                    if !had_frames {
                        had_frames = true;
                        self.report(SourceState::Playing);
                    }
                    if self.slot.push(Arc::new(frame)).is_err() {
                        return RunEnd::Stopped;
                    }
                }
                Pulled::Timeout => {
                    if last_frame.elapsed() > stall {
                        let what = if had_frames { "no frame for" } else { "no first frame within" };
                        return lost(format!("{what} {:.1} s", stall.as_secs_f64()), had_frames);
                    }
                }
                Pulled::Eos if !self.live && self.cfg.looping => {
                    if !had_frames {
                        return lost("file has no video frames".into(), false);
                    }
                    // The next pass continues the timeline one frame after this one ended.
                    loop_offset += last_pts - pass_start.take().unwrap_or_default() + last_duration;
                    if let Err(e) = pipeline.rewind() {
                        return lost(e, had_frames);
                    }
                }
                Pulled::Eos if !self.live => {
                    return if had_frames { RunEnd::Ended } else { lost("file has no video frames".into(), false) };
                }
                Pulled::Eos => return lost("stream ended (EOS)".into(), had_frames),
                Pulled::Error(e) => return lost(e, had_frames),
            }
        }
    }

    fn make_frame(&mut self, model: gst::Sample, full: gst::Sample, file_ts: DateTime<Utc>) -> Option<Frame> {
        let (mw, mh) = sample_size(&model)?;
        let (fw, fh) = sample_size(&full)?;
        let ingest_ts = self.clock.now();
        let (event_ts, event_time_source) = if !self.live {
            (file_ts, EventTimeSource::FilePosition)
        } else if let Some(ns) = full.buffer().and_then(camera_ntp_unix_ns) {
            (DateTime::from_timestamp_nanos(ns), EventTimeSource::CameraNtp)
        } else {
            (ingest_ts, EventTimeSource::NodeClock)
        };
        let seq = self.seq;
        self.seq += 1;
        Some(Frame {
            source_id: self.id.clone(),
            seq,
            event_ts,
            event_time_source,
            ingest_ts,
            clock: self.clock.state(),
            model_input: RgbImage { width: mw, height: mh, buffer: model.buffer_owned()? },
            full,
            full_width: fw,
            full_height: fh,
        })
    }
}

/// `state` with the credentials of each of `uris` (the URI as resolved and as configured)
/// removed from its error, and those of any other URI the error names.
fn without_credentials(state: SourceState, uris: &[&str]) -> SourceState {
    let clean = |error: String| uris.iter().fold(error, |e, uri| redact_uri_in(&e, uri));
    match state {
        SourceState::Reconnecting { attempt, retry_in_secs, error } => {
            SourceState::Reconnecting { attempt, retry_in_secs, error: clean(error) }
        }
        SourceState::Failed { error } => SourceState::Failed { error: clean(error) },
        s => s,
    }
}

use gstreamer as gst;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_error_names_the_camera_without_its_credentials() {
        let (resolved, configured) = ("rtsp://admin:hunter22@10.0.0.7:554/s1", "rtsp://admin:hunter22@10.0.0.7:554/s1");
        let error = format!("src: Could not open resource ({resolved}: 401 Unauthorized, as admin:hunter22)");
        let lost = SourceState::Reconnecting { attempt: 2, retry_in_secs: 1.0, error: error.clone() };
        let SourceState::Reconnecting { attempt: 2, error: shown, .. } =
            without_credentials(lost, &[resolved, configured])
        else {
            panic!("the state is kept");
        };
        assert!(!shown.contains("hunter22") && shown.contains("rtsp://***@10.0.0.7:554/s1"), "{shown}");
        // What heartbeats send (`edge::camera_path::CameraPath::source_health`) is this state's Debug.
        let failed = without_credentials(SourceState::Failed { error }, &[resolved]);
        assert!(!format!("{failed:?}").contains("hunter22"), "{failed:?}");
        // A plain path, resolved to a file URI, with a scheme-less `user:pass@` in it.
        let (configured, resolved) = ("user:pass1234@cam/x", "file:///srv/user:pass1234@cam/x");
        let failed = SourceState::Failed { error: format!("{resolved}: no such file") };
        let shown = format!("{:?}", without_credentials(failed, &[resolved, configured]));
        assert!(!shown.contains("pass1234"), "{shown}");
        assert_eq!(without_credentials(SourceState::Playing, &[resolved]), SourceState::Playing);
    }
}
