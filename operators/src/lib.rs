//! qorovul's compute stages: detection (ONNX Runtime), motion gating, tracking (ByteTrack),
//! rules that raise alert episodes (scene, tamper, video loss, plate episodes), plate text
//! (Uzbek plates and those of the neighbours, watch lists), privacy redaction (faces and
//! person heads blurred), snapshots (redacted copy stored, original sealed), X-ray
//! analysis, customs risk and selectivity, and the two desks that decide on records: the
//! 102 call desk and the customs lane desk.
//!
//! The one idea: each stage is a plain struct built from its own config section and tested
//! on its own, with no thread, socket or clock of its own; the edge's threads drive them
//! (docs/ARCHITECTURE.md). A model session belongs to the stage that loads it.

pub mod calls;
pub mod customs;
pub mod detect;
pub mod image;
#[cfg(test)]
mod isolation;
pub mod motion;
pub mod plates;
pub mod redact;
pub mod risk;
pub mod rules;
pub mod sensors;
pub mod snapshot;
#[cfg(test)]
mod test_logs;
pub mod track;
pub mod xray;
