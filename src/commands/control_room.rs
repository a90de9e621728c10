//! `qorovul control-room`: takes in the alerts of every post, stores each once,
//! acknowledges it, fuses alerts into incidents and publishes them, answers history
//! queries, raises an alert when a node falls silent, and serves the dashboard.

use super::{io_runtime, shutdown_signal};
use crate::config::PipelineConfig;
use control_room::ControlRoom;
use control_room::auth::{self, Role, User};
use control_room::store::dashboard::{NewUser, Sites};
use control_room::web::Dashboard;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct ControlRoomArgs {
    /// The control room's config (site, node, bus, `[control_room]`, `[fusion]`).
    #[arg(long)]
    pub config: PathBuf,
}

pub fn run(args: ControlRoomArgs) -> Result<(), String> {
    let cfg = PipelineConfig::load(&args.config)?;
    let rt = io_runtime()?;
    let session = rt.block_on(pipeline::bus::open(&cfg.bus))?;
    let room = ControlRoom::start(session.clone(), &cfg.site, &cfg.node, &cfg.control_room, cfg.fusion.clone())?;
    let web = rt.block_on(Dashboard::start(
        session.clone(),
        &room,
        &cfg.site,
        &cfg.node,
        &cfg.web,
        &cfg.control_room.response_targets_secs,
    ))?;
    // A new control room has no users: its first administrator is made here, once.
    if web.store.users(&Sites::All)?.is_empty() {
        let admin = User {
            username: "admin".into(),
            display_name: "Administrator".into(),
            role: Role::Admin,
            sites: vec!["*".into()],
            language: "en".into(),
        };
        let password = auth::random_password()?;
        web.store.create_user(&NewUser { user: admin, password_hash: auth::hash_password(&password)? })?;
        eprintln!("first start: user \"admin\" created with password {password} (shown once; change it)");
    }
    eprintln!(
        "control room {} running; store {}; dashboard http://{}/",
        cfg.node,
        room.store_path.display(),
        web.server.addr
    );
    let stop = shutdown_signal(rt.handle());
    while stop.recv_timeout(Duration::from_secs(10)).is_err() {
        let s = &room.stats;
        tracing::info!(
            stored = s.stored.load(Ordering::Relaxed),
            duplicates = s.duplicates.load(Ordering::Relaxed),
            dead_letters = s.dead_letters.load(Ordering::Relaxed),
            incident_updates = s.incident_updates.load(Ordering::Relaxed),
            "status"
        );
    }
    rt.block_on(web.stop());
    room.stop()?;
    rt.block_on(async { session.close().await }).map_err(|e| format!("closing the zenoh session: {e}"))?;
    eprintln!("control room stopped");
    Ok(())
}
