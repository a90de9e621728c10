//! A decoded video frame, allocated once by GStreamer and shared by reference.
//!
//! Ownership: the camera source's pull thread creates the `Frame` and hands an
//! `Arc<Frame>` to the stream's slot; after that it is read-only. The two buffers are
//! GStreamer's own (ref-counted, never copied): the model-size RGB image the detector
//! reads, and the full-resolution decoded picture kept for evidence.

use crate::alert::ClockState;
use chrono::{DateTime, Utc};
use gstreamer as gst;
use std::sync::Arc;

/// Where a frame's event time came from, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTimeSource {
    /// The camera's own NTP time from RTCP sender reports.
    CameraNtp,
    /// The node's clock when the frame arrived (live sources without RTCP time).
    NodeClock,
    /// The file's start on the node clock plus the frame's position in the file.
    FilePosition,
}

/// An RGB image packed row by row, 3 bytes a pixel, no padding.
#[derive(Debug, Clone)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub buffer: gst::Buffer,
}

impl RgbImage {
    /// Read access to the pixels without copying.
    pub fn map(&self) -> Result<gst::buffer::MappedBuffer<gst::buffer::Readable>, gst::glib::BoolError> {
        self.buffer.clone().into_mapped_buffer_readable().map_err(|_| gst::glib::bool_error!("buffer not readable"))
    }
}

/// One frame of one stream.
#[derive(Debug)]
pub struct Frame {
    pub source_id: Arc<str>,
    /// Counts frames of this source from 0, across reconnects and loops.
    pub seq: u64,
    pub event_ts: DateTime<Utc>,
    pub event_time_source: EventTimeSource,
    pub ingest_ts: DateTime<Utc>,
    pub clock: ClockState,
    /// Scaled and converted by GStreamer to the detector's input size.
    pub model_input: RgbImage,
    /// The decoded full-resolution picture (native format; see its caps) for evidence.
    pub full: gst::Sample,
    pub full_width: u32,
    pub full_height: u32,
}

impl Frame {
    /// Event time in seconds since the Unix epoch, for trackers and rules.
    pub fn t_secs(&self) -> f64 {
        self.event_ts.timestamp_micros() as f64 / 1e6
    }
}
