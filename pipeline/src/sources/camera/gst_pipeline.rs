//! The GStreamer half of a camera: one pipeline, two appsinks fed by one tee.
//!
//! ```text
//! uridecodebin ─► tee ─┬─► queue ─► videoscale ─► W×H ─► videoconvert ─► RGB ─► appsink "model"
//!                      └─► queue ─────────────────────────────────────────────────► appsink "full"
//! ```
//! The model branch scales the decoder's YUV before converting the smaller frame to RGB:
//! on vtest.avi that is about 0.7 ms of CPU a frame less than `videoconvertscale`, which
//! converts first (`cargo bench --bench video` prints both as bare decode alone).
//! Neither branch drops (no leaky queue, no QoS), so the two sinks yield the same frames
//! in the same order and the pull thread pairs them one to one. Dropping, when inference
//! falls behind, happens later in the stream's slot, where it is counted.

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::time::Duration;

/// What one pull gave.
pub(super) enum Pulled {
    Frame {
        model: gst::Sample,
        full: gst::Sample,
    },
    /// Nothing within the timeout; the pipeline is still healthy.
    Timeout,
    Eos,
    Error(String),
}

pub(super) struct CameraPipeline {
    pipeline: gst::Pipeline,
    model_sink: gst_app::AppSink,
    full_sink: gst_app::AppSink,
    bus: gst::Bus,
}

/// How long the full-resolution branch may lag the model branch for one frame.
const FULL_BRANCH_TIMEOUT: Duration = Duration::from_secs(2);

impl CameraPipeline {
    /// Builds (does not start) the pipeline for `uri`, scaling to `width`×`height` RGB.
    pub fn build(uri: &str, width: u32, height: u32, sync: bool, rtsp_latency_ms: u32) -> Result<Self, String> {
        gst::init().map_err(|e| format!("GStreamer init: {e}"))?;
        let description = format!(
            "uridecodebin name=src ! video/x-raw ! tee name=t \
             t. ! queue max-size-buffers=2 max-size-bytes=0 max-size-time=0 \
                ! videoscale qos=false ! video/x-raw,width={width},height={height} \
                ! videoconvert qos=false ! video/x-raw,format=RGB \
                ! appsink name=model max-buffers=2 drop=false qos=false sync={sync} \
             t. ! queue max-size-buffers=2 max-size-bytes=0 max-size-time=0 \
                ! appsink name=full max-buffers=2 drop=false qos=false sync={sync}"
        );
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| {
                format!("building the GStreamer pipeline (are gstreamer1.0-plugins-base/-good installed?): {e}")
            })?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "GStreamer description did not make a pipeline".to_string())?;
        let by_name = |name: &str| pipeline.by_name(name).ok_or_else(|| format!("pipeline element {name} missing"));
        let src = by_name("src")?;
        src.set_property("uri", uri);
        // RTSP over TCP (UDP rarely survives NAT and firewalls at posts), with the camera's
        // NTP time from RTCP sender reports attached to each buffer.
        src.connect("source-setup", false, move |args| {
            let source = args[1].get::<gst::Element>().ok()?;
            let factory = source.factory().map(|f| f.name().to_string()).unwrap_or_default();
            if factory == "rtspsrc" {
                source.set_property_from_str("protocols", "tcp");
                source.set_property("latency", rtsp_latency_ms);
                source.set_property("add-reference-timestamp-meta", true);
                source.set_property("tcp-timeout", 5_000_000u64);
            }
            None
        });
        let sink =
            |name: &str| by_name(name)?.downcast::<gst_app::AppSink>().map_err(|_| format!("{name} is not an appsink"));
        let model_sink = sink("model")?;
        let full_sink = sink("full")?;
        let bus = pipeline.bus().ok_or("pipeline has no bus")?;
        Ok(Self { pipeline, model_sink, full_sink, bus })
    }

    /// Sets the pipeline playing; an immediate failure comes back with the bus's reason.
    pub fn start(&self) -> Result<(), String> {
        if self.pipeline.set_state(gst::State::Playing).is_err() {
            return Err(self.take_error().unwrap_or_else(|| "pipeline refused to start".into()));
        }
        Ok(())
    }

    /// Waits up to `timeout` for the next frame.
    pub fn pull(&self, timeout: Duration) -> Pulled {
        let Some(model) = self.model_sink.try_pull_sample(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64))
        else {
            if let Some(err) = self.take_error() {
                return Pulled::Error(err);
            }
            return if self.model_sink.is_eos() { Pulled::Eos } else { Pulled::Timeout };
        };
        let full_timeout = gst::ClockTime::from_nseconds(FULL_BRANCH_TIMEOUT.as_nanos() as u64);
        match self.full_sink.try_pull_sample(full_timeout) {
            Some(full) => Pulled::Frame { model, full },
            None => {
                Pulled::Error(self.take_error().unwrap_or_else(|| "full-resolution branch produced no frame".into()))
            }
        }
    }

    /// Back to the start of a file (loop).
    pub fn rewind(&self) -> Result<(), String> {
        self.pipeline
            .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, gst::ClockTime::ZERO)
            .map_err(|e| format!("rewinding for loop: {e}"))
    }

    /// The first error waiting on the bus, as "element: message (detail)".
    fn take_error(&self) -> Option<String> {
        while let Some(msg) = self.bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(err) = msg.view() {
                let from = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
                let detail = err
                    .debug()
                    .map(|d| d.lines().last().unwrap_or_default().to_string())
                    .filter(|d| !d.is_empty())
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                return Some(format!("{from}: {}{detail}", err.error()));
            }
        }
        None
    }
}

impl Drop for CameraPipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Width and height from a sample's video caps.
pub(super) fn sample_size(sample: &gst::Sample) -> Option<(u32, u32)> {
    let s = sample.caps()?.structure(0)?;
    Some((s.get::<i32>("width").ok()? as u32, s.get::<i32>("height").ok()? as u32))
}

/// The camera's NTP time of a buffer (RTCP sender reports), as Unix nanoseconds.
pub(super) fn camera_ntp_unix_ns(buffer: &gst::BufferRef) -> Option<i64> {
    // NTP counts from 1900; Unix from 1970.
    const NTP_TO_UNIX_SECS: u64 = 2_208_988_800;
    buffer
        .iter_meta::<gst::ReferenceTimestampMeta>()
        .find(|m| m.reference().structure(0).is_some_and(|s| s.name() == "timestamp/x-ntp"))
        .and_then(|m| m.timestamp().nseconds().checked_sub(NTP_TO_UNIX_SECS * 1_000_000_000))
        .map(|ns| ns as i64)
}
