//! 102 emergency calls: the desk ([`CallDesk`]) that turns call records into
//! `call_received` episodes, and what it uses — what kind of incident a call likely is and
//! how urgent (triage: keyword lexicons plus multilingual sentence embeddings), where it is
//! and which cameras see that place (and what they raised), and which patrol units are
//! nearest.

mod config;
mod desk;
pub mod embed;
pub mod fleet;
pub mod place;
#[cfg(test)]
mod tests;
pub mod text;
pub mod triage;

pub use config::CallsConfig;
pub use desk::{CallDesk, severity_of};
