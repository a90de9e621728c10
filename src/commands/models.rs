//! `qorovul models fetch|list|verify`: obtain every model of the manifest, convert where
//! needed, verify its sha256 and place it in the cache the binary loads from.

use operators::detect::manifest::{Manifest, ModelEntry};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub enum ModelsCmd {
    /// Obtain, convert, verify and cache every model (a cached, verified model is kept).
    Fetch {
        /// Run the conversion script even where its output is committed.
        #[arg(long)]
        reconvert: bool,
    },
    /// List the models of the manifest and whether each is cached.
    List,
    /// Re-hash the cached models against the manifest.
    Verify,
    /// Score the X-ray threat detector on this site's threat-free scans, as they are and with
    /// the generator's threats projected into them; exits non-zero below the targets.
    AcceptXray {
        /// Folder of the site's threat-free scans (`{id}_low.png|tif`, `{id}_high.…`).
        #[arg(long)]
        scans: PathBuf,
        /// Threats to project: `synth.py --kind threat --pixel-mm <the site's>` output.
        #[arg(long)]
        threats: PathBuf,
        #[arg(long, default_value_t = 0.9)]
        min_detection: f64,
        #[arg(long, default_value_t = 0.1)]
        max_false_alarms: f64,
    },
}

/// Where the repository's `models/` folder is: `QOROVUL_MODELS_DIR`, else the source tree
/// this binary was built from.
fn models_dir() -> PathBuf {
    std::env::var_os("QOROVUL_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models"))
}

pub fn run(cmd: ModelsCmd) -> Result<(), String> {
    let manifest = Manifest::builtin();
    match cmd {
        ModelsCmd::List => {
            for m in &manifest.models {
                let path = m.cached_path();
                let state = if path.exists() { "cached" } else { "missing" };
                println!(
                    "{:<12} {:<8} {:<8} {}@{}  {}  [{state}]",
                    m.name,
                    m.task,
                    m.licence,
                    m.source.package,
                    m.source.version,
                    path.display()
                );
            }
            Ok(())
        }
        ModelsCmd::Verify => {
            let mut bad = vec![];
            for m in &manifest.models {
                match sha256_file(&m.cached_path(), &m.name) {
                    Ok(h) if h == m.sha256 => println!("{}: ok", m.name),
                    Ok(h) => bad.push(format!("{}: sha256 {h}, manifest says {}", m.name, m.sha256)),
                    Err(e) => bad.push(e),
                }
            }
            if bad.is_empty() { Ok(()) } else { Err(bad.join("\n")) }
        }
        ModelsCmd::AcceptXray { scans, threats, min_detection, max_false_alarms } => {
            use operators::xray::{acceptance, threats::ThreatDetector};
            let site = acceptance::read_scans(&scans)?;
            let mut det = ThreatDetector::load(&manifest, 2)?;
            let sha = manifest.entry(operators::xray::threats::MODEL)?.sha256.clone();
            let run = acceptance::run(&mut det, &sha, &site, &acceptance::read_library(&threats)?, 1)?;
            println!("{run}");
            let shortfalls = run.shortfalls(min_detection, max_false_alarms);
            if !shortfalls.is_empty() {
                return Err(format!("not accepted: {}", shortfalls.join("; ")));
            }
            println!("accepted: set [xray_lane] threats_accepted = \"{sha}\"");
            Ok(())
        }
        ModelsCmd::Fetch { reconvert } => {
            for m in &manifest.models {
                fetch(m, reconvert)?;
            }
            Ok(())
        }
    }
}

fn fetch(m: &ModelEntry, reconvert: bool) -> Result<(), String> {
    let dest = m.cached_path();
    if !reconvert && dest.exists() {
        if sha256_file(&dest, &m.name)? == m.sha256 {
            eprintln!("{}: cached and verified at {}", m.name, dest.display());
            return Ok(());
        }
        eprintln!("{}: cached file does not match the manifest; fetching again", m.name);
    }
    let dir = models_dir();
    let source = match (&m.conversion.committed, reconvert) {
        (Some(committed), false) if dir.join(committed).exists() => dir.join(committed),
        _ => convert(m, &dir)?,
    };
    let dir = dest.parent().expect("cache path has a parent");
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let partial = dest.with_extension("partial");
    let hash = copy_hashing(&source, &partial, &m.name)?;
    if hash != m.sha256 {
        let _ = std::fs::remove_file(&partial);
        let why = if reconvert {
            " (converters such as tf2onnx are not byte-reproducible: check the new file with the model's \
             evaluation script, then commit it and its sha256 to the manifest)"
        } else {
            ""
        };
        return Err(format!(
            "{}: {} has sha256 {hash}, the manifest says {} — refusing to cache it{why}",
            m.name,
            source.display(),
            m.sha256
        ));
    }
    std::fs::rename(&partial, &dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    eprintln!("{}: verified and cached at {}", m.name, dest.display());
    Ok(())
}

/// Runs the model's reproducer script; returns the file it produced: the committed output
/// for heavy conversions, else the file the script wrote to `$QV_MODEL_OUT`.
fn convert(m: &ModelEntry, dir: &Path) -> Result<PathBuf, String> {
    let script = dir.join(&m.conversion.script);
    let out = match &m.conversion.committed {
        Some(c) => dir.join(c),
        None => {
            let out = m.cached_path().with_extension("converted");
            let parent = out.parent().expect("cache path has a parent");
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            let _ = std::fs::remove_file(&out);
            out
        }
    };
    eprintln!("{}: converting with {} (this downloads the conversion tools once)", m.name, script.display());
    let status = std::process::Command::new("bash")
        .arg(&script)
        .env("QV_MODEL_OUT", &out)
        .status()
        .map_err(|e| format!("{}: running {}: {e}", m.name, script.display()))?;
    if !status.success() {
        return Err(format!("{}: {} failed ({status})", m.name, script.display()));
    }
    if !out.exists() {
        return Err(format!("{}: {} did not produce {}", m.name, script.display(), out.display()));
    }
    Ok(out)
}

/// Copies `from` to `to`, synced; returns the copy's sha256.
fn copy_hashing(from: &Path, to: &Path, name: &str) -> Result<String, String> {
    std::fs::copy(from, to).map_err(|e| format!("{name}: {} to {}: {e}", from.display(), to.display()))?;
    std::fs::File::open(to).and_then(|f| f.sync_all()).map_err(|e| format!("{name}: {}: {e}", to.display()))?;
    sha256_file(to, name)
}

fn sha256_file(path: &Path, name: &str) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: {}: {e}", path.display()))?;
    Ok(pipeline::hash::sha256_hex(&bytes))
}
