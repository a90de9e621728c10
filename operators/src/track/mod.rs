//! Multi-object tracking: gives each detected object a stable id across frames.
//!
//! [`Tracker`] is ByteTrack over a constant-velocity Kalman filter
//! ([`kalman::BoxKalman`]) that steps by the real time between frames, so uneven frame
//! spacing (drops, motion gating) does not break identities. All its durations are in
//! seconds of event time.

pub mod bytetrack;
pub mod kalman;

pub use bytetrack::{InvalidTrackerConfig, Track, TrackState, Tracker, TrackerConfig};

#[cfg(test)]
mod tests;
