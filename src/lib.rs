//! qorovul: the assembled system. `config` reads a pipeline file; `camera_path` wires
//! cameras, the inference executor and analytics; `xray_path` the X-ray lane; `lanes` starts
//! both over a node's one inference executor; `customs_path` the customs lane decision;
//! `commands` are the CLI's verbs.

pub mod calls_path;
pub mod camera_path;
pub mod clips;
pub mod commands;
pub mod config;
pub mod customs_path;
pub mod demo_feeds;
pub mod evidence_path;
pub mod feeds;
pub mod lanes;
pub mod plates_path;
pub mod xray_path;
