//! Embeds the web UI (`ui/`, plain files, no build step) in the binary: control rooms and
//! posts may be air-gapped, so nothing is served from anywhere else.

use std::fmt::Write;

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("dashboard/ui")
        .map(|e| e.expect("dashboard/ui entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut out = String::from(
        "/// `(file name, content type, bytes)` of every file in `dashboard/ui/`.\npub const ASSETS: &[(&str, &str, &[u8])] = &[\n",
    );
    for path in files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_name().unwrap().to_str().expect("UTF-8 file name");
        let mime = match path.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("json") => "application/json",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            _ => "application/octet-stream",
        };
        writeln!(out, "    ({name:?}, {mime:?}, include_bytes!({:?})),", path.display().to_string()).unwrap();
    }
    out.push_str("];\n");
    std::fs::write(std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("ui_assets.rs"), out).unwrap();
}
