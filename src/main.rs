//! The `qorovul` command: thin glue over the libraries.

use clap::{Parser, Subcommand};
#[cfg(feature = "node")]
use qorovul::commands::{analyze, edge, models, replay_decision, serve_rtsp};
#[cfg(feature = "control-room")]
use qorovul::commands::{audit, control_room};
use qorovul::commands::{check_config, credentials, listen, router};
#[cfg(all(feature = "node", feature = "control-room"))]
use qorovul::demo;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "qorovul", version, about = "Real-time video and sensor analytics for public safety and customs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole system on this machine: sample video through detect, track, rules, zenoh.
    #[cfg(all(feature = "node", feature = "control-room"))]
    Demo(demo::DemoArgs),
    /// Run an edge node: the pipeline, its durable outbox and uplink, heartbeats.
    #[cfg(feature = "node")]
    Edge(edge::EdgeArgs),
    /// Run a control room: store, acknowledge, fuse into incidents, history, node health, dashboard.
    #[cfg(feature = "control-room")]
    ControlRoom(control_room::ControlRoomArgs),
    /// Analyse one video source and print its alerts as JSON lines.
    #[cfg(feature = "node")]
    Analyze(analyze::AnalyzeArgs),
    /// Check a pipeline config file and say what is wrong (file, line, field).
    CheckConfig { file: PathBuf },
    /// Obtain, convert, verify and cache the models.
    #[cfg(feature = "node")]
    #[command(subcommand)]
    Models(models::ModelsCmd),
    /// Issue, list, rotate and revoke who may write to a node's feeds; officer tokens.
    #[command(subcommand)]
    Credentials(credentials::CredentialsCmd),
    /// Subscribe to alerts on zenoh and print them as JSON lines.
    Listen(listen::ListenArgs),
    /// Run a zenoh router joining edge nodes and control rooms.
    Router(router::RouterArgs),
    /// Check the control room's audit chain against its exported, signed heads.
    #[cfg(feature = "control-room")]
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Make a past customs lane decision again from its record, and report any difference.
    #[cfg(feature = "node")]
    ReplayDecision(replay_decision::ReplayDecisionArgs),
    /// Serve a video file as an RTSP camera on 127.0.0.1 (testing without a camera).
    #[cfg(feature = "node")]
    ServeRtsp(serve_rtsp::ServeRtspArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,zenoh=warn,zenoh_transport=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(all(feature = "node", feature = "control-room"))]
        Command::Demo(a) => demo::run(a),
        #[cfg(feature = "node")]
        Command::Analyze(a) => analyze::run(a),
        #[cfg(feature = "node")]
        Command::Edge(a) => edge::run(a),
        #[cfg(feature = "control-room")]
        Command::ControlRoom(a) => control_room::run(a),
        #[cfg(feature = "control-room")]
        Command::Audit(a) => audit::run(a),
        Command::CheckConfig { file } => check_config::run(&file),
        #[cfg(feature = "node")]
        Command::Models(cmd) => models::run(cmd),
        Command::Listen(a) => listen::run(a),
        Command::Credentials(cmd) => credentials::run(cmd),
        #[cfg(feature = "node")]
        Command::ServeRtsp(a) => serve_rtsp::run(a),
        Command::Router(a) => router::run(a),
        #[cfg(feature = "node")]
        Command::ReplayDecision(a) => replay_decision::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
