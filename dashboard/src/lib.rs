//! The control-room service: stores every alert exactly once, acknowledges it to the edge,
//! fuses alerts into incidents and publishes them, answers history queries, fetches
//! evidence, and watches edge nodes' heartbeats. The web UI arrives with issue 4.

pub mod control_room;
pub mod evidence;
pub mod history;
pub mod store;
