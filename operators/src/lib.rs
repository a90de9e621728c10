//! qorovul's compute stages: detection (ONNX Runtime), tracking (ByteTrack), rules that
//! raise alert episodes, fusion, plate text (formats, watch lists), gate identity text
//! (neighbouring countries' plates, container numbers), privacy redaction
//! (faces and person heads blurred) and evidence snapshots (redacted copy stored, original
//! sealed). Each stage is a
//! plain struct built from its config and tested on its own; the inference executor runs
//! the models.

pub mod calls;
pub mod detect;
pub mod evidence;
pub mod executor;
pub mod fusion;
pub mod gate;
pub mod motion;
pub mod plates;
pub mod redact;
pub mod risk;
pub mod rules;
pub mod sensors;
pub mod track;
pub mod xray;
