//! The `qorovul` binary's own code: the config file that gathers every component's section
//! (`config`), the verbs (`commands`, one file each) and the demo (`demo`). Everything it
//! runs lives in the libraries: `pipeline`, `operators`, `edge`, `control_room`
//! (docs/ARCHITECTURE.md).

pub mod commands;
pub mod config;
#[cfg(all(feature = "node", feature = "control-room"))]
pub mod demo;
