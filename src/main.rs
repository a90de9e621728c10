//! The `qorovul` command: thin glue over the libraries.

use clap::{Parser, Subcommand};
use qorovul::commands::{
    analyze, audit, control_room, demo, edge, listen, models, replay_decision, router, serve_rtsp,
};
use qorovul::config::PipelineConfig;
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
    Demo(demo::DemoArgs),
    /// Run an edge node: the pipeline, its durable outbox and uplink, heartbeats.
    Edge(edge::EdgeArgs),
    /// Run a control room: store, acknowledge, fuse into incidents, history, node health, dashboard.
    ControlRoom(control_room::ControlRoomArgs),
    /// Analyse one video source and print its alerts as JSON lines.
    Analyze(analyze::AnalyzeArgs),
    /// Check a pipeline config file and say what is wrong (file, line, field).
    CheckConfig { file: PathBuf },
    /// Obtain, convert, verify and cache the models.
    #[command(subcommand)]
    Models(models::ModelsCmd),
    /// Subscribe to alerts on zenoh and print them as JSON lines.
    Listen(listen::ListenArgs),
    /// Run a zenoh router joining edge nodes and control rooms.
    Router(router::RouterArgs),
    /// Check the control room's audit chain against its exported, signed heads.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Make a past customs lane decision again from its record, and report any difference.
    ReplayDecision(replay_decision::ReplayDecisionArgs),
    /// Serve a video file as an RTSP camera on 127.0.0.1 (testing without a camera).
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
        Command::Demo(a) => demo::run(a),
        Command::Analyze(a) => analyze::run(a),
        Command::Edge(a) => edge::run(a),
        Command::ControlRoom(a) => control_room::run(a),
        Command::Audit(a) => audit::run(a),
        Command::CheckConfig { file } => PipelineConfig::load(&file).map(|cfg| {
            println!(
                "{}: ok — site {:?}, {} camera(s), model {:?}",
                file.display(),
                cfg.site,
                cfg.cameras.len(),
                cfg.detector.model
            );
        }),
        Command::Models(cmd) => models::run(cmd),
        Command::Listen(a) => listen::run(a),
        Command::ServeRtsp(a) => serve_rtsp::run(a),
        Command::Router(a) => router::run(a),
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
