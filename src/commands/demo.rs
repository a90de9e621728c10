//! `qorovul demo`: the whole system on one machine, on the embedded default (one process,
//! zenoh peer on loopback): an edge node (pipeline, outbox, uplink) and a control room
//! (store, fusion, history, dashboard) on one session, through the same code as separate
//! processes.
//! Says where to look, then logs alerts, incidents and a status line.

use super::{io_runtime, shutdown_signal};
use crate::camera_path::CameraPath;
use crate::config::PipelineConfig;
use dashboard::control_room::ControlRoom;
use dashboard::web::Dashboard;
use edge::node::EdgeNode;
use pipeline::alert::Alert;
use pipeline::metrics;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use zenoh::Wait;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Pipeline config; defaults to configs/demo.toml as built in.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
}

/// The demo config built into the binary.
pub const DEMO_CONFIG: &str = include_str!("../../configs/demo.toml");

pub fn run(args: DemoArgs) -> Result<(), String> {
    let mut cfg = match &args.config {
        Some(p) => PipelineConfig::load(p)?,
        None => PipelineConfig::parse(DEMO_CONFIG, "configs/demo.toml (built in)")?,
    };
    if args.config.is_none() {
        // The built-in config keeps its data in the user's cache, not in the checkout.
        let data = operators::detect::manifest::cache_dir().join("demo");
        cfg.edge.data_dir = data.join("edge");
        cfg.control_room.data_dir = data.join("control-room");
    }
    let rt = io_runtime()?;
    let session = rt.block_on(pipeline::bus::open(&cfg.bus))?;
    let room = ControlRoom::start(session.clone(), &cfg.site, "control-room", &cfg.control_room, cfg.fusion.clone())?;
    let web = rt.block_on(Dashboard::start(
        session.clone(),
        &room,
        &cfg.site,
        "control-room",
        &cfg.web,
        &cfg.control_room.response_targets_secs,
    ))?;
    let seeded = dashboard::web::seed_users(web.store.as_ref(), std::slice::from_ref(&cfg.site))?;
    let node = EdgeNode::start(session.clone(), &cfg.site, &cfg.node, &cfg.edge)?;
    let incidents = log_incidents(&session, &cfg.site)?;
    let (alerts_tx, alerts_rx) = crossbeam_channel::unbounded::<Alert>();
    let logger = log_and_forward(alerts_rx, node.alerts())?;
    let path = CameraPath::start(&cfg, alerts_tx)?;

    let endpoint = cfg.bus.listen.first().cloned().unwrap_or_else(|| "(no listen endpoint)".into());
    println!();
    println!("  qorovul demo is running (site {:?}, node {:?})", cfg.site, cfg.node);
    for c in &cfg.cameras {
        println!("  camera {:<14} {}", c.id, c.uri);
    }
    println!("  alerts on zenoh      qv/{}/alert/**  at {endpoint}", cfg.site);
    println!("  incidents            qv/{}/incident/**", cfg.site);
    println!("  watch them           qorovul listen --connect {endpoint}");
    println!("                       (or: cargo run --release -- listen --connect {endpoint})");
    println!("  outbox               {}", cfg.edge.data_dir.join("outbox.sqlite").display());
    println!("  control-room store   {}", room.store_path.display());
    println!("  dashboard            http://{}/", web.server.addr);
    if seeded.is_empty() {
        println!("  demo users           viewer, operator, customs, supervisor, admin (passwords were shown at the");
        let folder = room.store_path.parent().unwrap_or(&room.store_path);
        println!("                       first start; delete {} to make new ones)", folder.display());
    }
    for (user, role, password) in &seeded {
        println!("  user {user:<15} password {password}  ({} — shown once)", role.as_str());
    }
    println!("  log lines            alert …, incident …, and a status line every 10 s; Ctrl-C stops");
    println!();

    let stop = Instant::now() + Duration::from_secs(args.duration.unwrap_or(u64::MAX / 4));
    let ctrl_c_rx = shutdown_signal(rt.handle());
    let mut last = (Instant::now(), analysed_total(&path));
    loop {
        let left = stop.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        if ctrl_c_rx.recv_timeout(left.min(Duration::from_secs(10))).is_ok() {
            break;
        }
        let now = (Instant::now(), analysed_total(&path));
        let fps = (now.1 - last.1) as f64 / now.0.duration_since(last.0).as_secs_f64().max(1e-3);
        last = now;
        let states = path.camera_states();
        for (id, state) in &states {
            let dropped = metrics::global().value("qv_frames_dropped_total", &[("source", id)]);
            tracing::info!(camera = %id, ?state, analysed_fps = format!("{fps:.1}"), dropped, "status");
        }
        node.set_sources(path.source_health());
        let (live, backlog) = node.outbox_depth();
        tracing::info!(
            stored = room.stats.stored.load(Ordering::Relaxed),
            incident_updates = room.stats.incident_updates.load(Ordering::Relaxed),
            outbox_live = live,
            outbox_backlog = backlog,
            "control room"
        );
    }
    println!("stopping…");
    path.shutdown();
    let _ = logger.join();
    let left = node.stop(Duration::from_secs(5))?;
    let stored = room.stats.stored.load(Ordering::Relaxed);
    rt.block_on(web.stop());
    room.stop()?;
    drop(incidents);
    rt.block_on(async { session.close().await }).map_err(|e| format!("closing the zenoh session: {e}"))?;
    println!("demo stopped: {stored} alerts stored in the control room, {left} left in the outbox");
    Ok(())
}

/// Logs each alert as the pipeline raises it, then hands it to the edge node's outbox.
fn log_and_forward(
    alerts: crossbeam_channel::Receiver<Alert>,
    outbox: crossbeam_channel::Sender<Alert>,
) -> Result<std::thread::JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name("alert-log".into())
        .spawn(move || {
            for alert in alerts.iter() {
                tracing::info!(
                    key = %alert.key_expr(),
                    phase = ?alert.phase,
                    severity = ?alert.severity,
                    objects = ?alert.objects.iter().map(|o| format!("{}#{}", o.class, o.track_id.unwrap_or(0))).collect::<Vec<_>>(),
                    "alert {}", alert.kind
                );
                if outbox.send(alert).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| format!("spawning the alert log: {e}"))
}

/// Logs the incidents the control room publishes, as an integrator would see them.
fn log_incidents(session: &zenoh::Session, site: &str) -> Result<zenoh::pubsub::Subscriber<()>, String> {
    let key = format!("qv/{site}/incident/**");
    session
        .declare_subscriber(&key)
        .callback(|s| match serde_json::from_slice::<operators::fusion::IncidentUpdate>(&s.payload().to_bytes()) {
            Ok(u) => tracing::info!(
                change = ?u.change,
                severity = ?u.incident.severity,
                members = u.incident.members.len(),
                late = u.incident.members.iter().any(|m| m.late),
                "incident {} {}", u.incident.kind, u.incident.id
            ),
            Err(e) => tracing::warn!("incident message on {} not understood: {e}", s.key_expr()),
        })
        .wait()
        .map_err(|e| format!("subscribing to {key}: {e}"))
}

fn analysed_total(path: &CameraPath) -> u64 {
    path.camera_states()
        .iter()
        .map(|(id, _)| metrics::global().value("qv_frames_analysed_total", &[("source", id)]))
        .sum()
}
