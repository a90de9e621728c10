//! The control-room service: stores every alert exactly once, acknowledges it to the edge,
//! fuses alerts into incidents and publishes them, answers history queries, fetches
//! evidence, watches edge nodes' heartbeats, and serves the operators' dashboard.

pub mod audit;
pub mod auth;
pub mod control_room;
pub mod evidence;
pub mod history;
pub mod live;
pub mod migrations;
pub mod privacy;
pub mod retention;
pub mod store;
pub mod web;
pub mod web_store;
pub mod workflow;
