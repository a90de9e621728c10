//! `qorovul serve-rtsp FILE`: serve a video file as an H.264 RTSP camera, for tests and
//! for trying the live path (reconnects, camera NTP time) without a camera.

use gstreamer as gst;
use gstreamer::glib;
use gstreamer_rtsp_server::prelude::*;

#[derive(Debug, clap::Args)]
pub struct ServeRtspArgs {
    /// Video file to serve.
    pub file: std::path::PathBuf,
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8554)]
    pub port: u16,
    /// Mount path.
    #[arg(long, default_value = "/cam")]
    pub path: String,
}

pub fn run(args: ServeRtspArgs) -> Result<(), String> {
    gst::init().map_err(|e| format!("GStreamer init: {e}"))?;
    let file = std::path::absolute(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    if !file.is_file() {
        return Err(format!("{}: no such file", file.display()));
    }
    let location =
        file.to_str().filter(|s| !s.contains('"')).ok_or_else(|| format!("{}: unusable file name", file.display()))?;
    let server = gstreamer_rtsp_server::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&args.port.to_string());
    let factory = gstreamer_rtsp_server::RTSPMediaFactory::new();
    // Short GOP so a reconnecting client gets a picture within a second.
    factory.set_launch(&format!(
        "( filesrc location=\"{location}\" ! decodebin ! videoconvert ! \
           x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! \
           rtph264pay name=pay0 pt=96 config-interval=1 )"
    ));
    factory.set_shared(true);
    server.mount_points().ok_or("RTSP server has no mount points")?.add_factory(&args.path, factory);
    let main_loop = glib::MainLoop::new(None, false);
    let _source = server.attach(None).map_err(|e| format!("RTSP server on 127.0.0.1:{}: {e}", args.port))?;
    // The socket is bound once attach returns: tell the supervising process.
    eprintln!("serving rtsp://127.0.0.1:{}{}", args.port, args.path);
    main_loop.run();
    Ok(())
}
