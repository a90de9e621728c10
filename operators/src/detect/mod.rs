//! Object detection: the model manifest, the ONNX Runtime environment, output decoders
//! (CenterNet, YOLOv8/YOLO11) and the [`Detector`] that ties them to frames.

pub mod decode;
mod detection;
mod detector;
pub mod manifest;
pub mod runtime;

pub use detection::{BBox, Detection};
pub use detector::{Detector, DetectorConfig};
pub use manifest::{Manifest, ModelEntry};
