//! qorovul's compute stages: detection (ONNX Runtime), tracking (ByteTrack), and rules
//! that raise alert episodes. Each stage is a plain struct built from its config and
//! tested on its own; the inference executor runs the models.

pub mod detect;
pub mod executor;
pub mod fusion;
pub mod rules;
pub mod track;
