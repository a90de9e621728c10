//! qorovul's end-to-end tests: one binary (each extra one re-links zenoh, GStreamer and
//! ONNX Runtime). They need what `./run test` sets up: Debian's GStreamer and sample
//! video, ONNX Runtime in the cache, and `qorovul models fetch`.

mod acl_tls;
mod bad_input;
mod calls;
mod camera_path;
mod cap_export;
mod customs_lane;
mod dashboard_audit;
mod dashboard_crash;
mod dashboard_ui;
mod detect_vtest;
mod fabric;
mod hostile;
mod hostile_bus;
mod integrator_examples;
mod layout;
mod personal_data;
mod plates_gate;
mod rtsp;
mod scene_vtest;
mod sources;
mod support;
mod xray_acceptance;
mod xray_lane;
mod zenoh_alerts;
