//! The layout docs/ARCHITECTURE.md draws, checked on the source tree: which crate may
//! depend on which, the control room free of the video stack, every `qv/…` key written in
//! one file, threads started by libraries (the binary only in its demo), the binary small,
//! long files saying why, and the desks free of threads and sockets.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The `.rs` files under `dir` (relative to the repository), sorted.
fn rust_files(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        files_under(dir).into_iter().filter(|p| p.extension().is_some_and(|x| x == "rs")).collect();
    out.sort();
    out
}

/// The library and binary sources: the crates' `src/` folders.
fn sources() -> Vec<PathBuf> {
    ["src", "pipeline/src", "operators/src", "edge/src", "control-room/src"]
        .iter()
        .flat_map(|d| rust_files(d))
        .collect()
}

/// A file's lines before its test module (`#[cfg(test)]` at the start of a line ends what
/// ships), or none for a file of tests.
fn shipped_lines(path: &Path) -> Vec<(usize, String)> {
    let name = path.file_name().unwrap().to_string_lossy();
    let in_tests_folder = path.strip_prefix(REPO).unwrap().components().any(|c| c.as_os_str() == "tests");
    if name == "tests.rs" || name.ends_with("_tests.rs") || in_tests_folder {
        return vec![];
    }
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .take_while(|(_, l)| !l.starts_with("#[cfg(test)]"))
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect()
}

fn relative(path: &Path) -> String {
    path.strip_prefix(REPO).unwrap().display().to_string()
}

/// Each workspace crate's normal dependencies on the others, from its Cargo.toml.
fn workspace_dependencies() -> BTreeMap<&'static str, (Vec<String>, toml::Table)> {
    let crates =
        [("pipeline", "pipeline"), ("operators", "operators"), ("edge", "edge"), ("control_room", "control-room")];
    crates
        .iter()
        .map(|(name, dir)| {
            let text = std::fs::read_to_string(Path::new(REPO).join(dir).join("Cargo.toml")).unwrap();
            let manifest: toml::Table = toml::from_str(&text).unwrap();
            let deps = manifest["dependencies"].as_table().unwrap().clone();
            let ours = crates.iter().map(|(n, _)| n.to_string()).filter(|n| deps.contains_key(n)).collect();
            (*name, (ours, deps))
        })
        .collect()
}

#[test]
fn crates_depend_downward_only_and_the_control_room_on_pipeline_without_video() {
    let deps = workspace_dependencies();
    assert_eq!(deps["pipeline"].0, Vec::<String>::new());
    assert_eq!(deps["operators"].0, ["pipeline"]);
    assert_eq!(deps["edge"].0, ["pipeline", "operators"]);
    assert_eq!(deps["control_room"].0, ["pipeline"], "the control room depends on neither edge nor operators");
    let pipeline = deps["control_room"].1["pipeline"].as_table().unwrap();
    assert!(pipeline.get("features").is_none(), "the control room asks pipeline for no features: {pipeline:?}");
    let workspace: toml::Table =
        toml::from_str(&std::fs::read_to_string(Path::new(REPO).join("Cargo.toml")).unwrap()).unwrap();
    let shared = &workspace["workspace"]["dependencies"]["pipeline"];
    assert!(shared.get("features").is_none() && shared.get("default-features").is_none(), "{shared:?}");
    let video = workspace_dependencies()["pipeline"].1.clone();
    for dep in ["gstreamer", "gstreamer-app", "gstreamer-video"] {
        assert_eq!(video[dep]["optional"].as_bool(), Some(true), "pipeline's {dep} is behind the `video` feature");
    }
}

#[test]
fn the_control_room_links_no_part_of_the_video_stack() {
    let out = std::process::Command::new(env!("CARGO"))
        .current_dir(REPO)
        .args(["tree", "--offline", "-p", "qorovul-control-room", "-e", "normal,build", "--prefix", "none"])
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.lines().any(|l| l.starts_with("zenoh ")), "the tree lists the control room's dependencies:\n{tree}");
    let video: Vec<&str> = tree
        .lines()
        .filter(|l| ["ort", "opencv", "gstreamer", "glib", "tokenizers"].iter().any(|p| l.starts_with(p)))
        .collect();
    assert!(video.is_empty(), "the control room depends on {video:?}");
}

/// What `cargo build --bin qorovul` with these arguments compiles: each unit of cargo's plan
/// (`--unit-graph`) with its package, as an id shared only by units compiled the same way from
/// the same dependencies. The plan is an unstable cargo output, hence `RUSTC_BOOTSTRAP`; the
/// test only reads it.
fn compiled_units(args: &[&str], ids: &mut HashMap<String, usize>) -> Vec<(usize, String)> {
    let out = std::process::Command::new(env!("CARGO"))
        .current_dir(REPO)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["build", "--offline", "--bin", "qorovul", "--unit-graph", "-Z", "unstable-options"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo build --unit-graph: {}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let units = plan["units"].as_array().unwrap();
    let mut known = vec![None; units.len()];
    (0..units.len())
        .map(|i| (unit_id(i, units, &mut known, ids), units[i]["pkg_id"].as_str().unwrap().into()))
        .collect()
}

fn unit_id(
    i: usize,
    units: &[serde_json::Value],
    known: &mut [Option<usize>],
    ids: &mut HashMap<String, usize>,
) -> usize {
    if let Some(id) = known[i] {
        return id;
    }
    let u = &units[i];
    let mut deps = Vec::new();
    for d in u["dependencies"].as_array().unwrap() {
        deps.push(unit_id(d["index"].as_u64().unwrap() as usize, units, known, ids));
    }
    deps.sort();
    let t = &u["target"];
    let key = serde_json::json!([
        u["pkg_id"],
        t["name"],
        t["kind"],
        u["profile"],
        u["platform"],
        u["mode"],
        u["features"],
        deps
    ]);
    let next = ids.len();
    let id = *ids.entry(key.to_string()).or_insert(next);
    known[i] = Some(id);
    id
}

#[test]
fn the_control_room_alone_compiles_nothing_the_full_build_compiles_again() {
    // `./run test` builds the control room alone, then everything; without the feature requests
    // in the root Cargo.toml, ~75 crates (zenoh among them) are compiled twice
    // (docs/ARCHITECTURE.md, "Build and test economy").
    let mut ids = HashMap::new();
    let room = compiled_units(&["--no-default-features", "--features", "control-room"], &mut ids);
    let full: HashSet<usize> = compiled_units(&[], &mut ids).into_iter().map(|(id, _)| id).collect();
    assert!(room.len() > 300, "the plan lists the control room's units: {}", room.len());
    let again: BTreeSet<&str> = room
        .iter()
        .filter(|(id, pkg)| !full.contains(id) && !pkg.starts_with("path+"))
        .map(|(_, pkg)| pkg.rsplit('#').next().unwrap())
        .collect();
    assert!(
        again.is_empty(),
        "compiled otherwise in the full build (ask for their features in the root Cargo.toml): {again:#?}"
    );
}

#[test]
fn every_key_expression_is_written_in_pipeline_keys() {
    // examples/ are integrators' code, written from docs/integrators.md, not from ours.
    let mut found = vec![];
    for path in sources().iter().filter(|p| !p.ends_with("pipeline/src/keys.rs")) {
        for (n, line) in shipped_lines(path) {
            if line.contains("\"qv/") {
                found.push(format!("{}:{n}: {}", relative(path), line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "keys written outside pipeline/src/keys.rs:\n{}", found.join("\n"));
    let keys = std::fs::read_to_string(Path::new(REPO).join("pipeline/src/keys.rs")).unwrap();
    assert!(keys.matches("format!(\"qv/").count() >= 10, "the check looks at the right spelling");
}

#[test]
fn the_binary_starts_threads_only_in_its_demo_and_stays_small() {
    let mut threads = vec![];
    let mut lines = 0;
    for path in rust_files("src") {
        let text = std::fs::read_to_string(&path).unwrap();
        lines += text.lines().count();
        for (n, line) in text.lines().enumerate() {
            if (line.contains("thread::spawn") || line.contains("thread::Builder"))
                && !path.starts_with(Path::new(REPO).join("src/demo"))
            {
                threads.push(format!("{}:{}: {}", relative(&path), n + 1, line.trim()));
            }
        }
    }
    assert!(threads.is_empty(), "the binary starts threads outside src/demo/:\n{}", threads.join("\n"));
    assert!(lines < 2500, "src/ is {lines} lines; the binary is glue, its work belongs in the libraries");
    let libraries: usize = ["edge/src", "operators/src"]
        .iter()
        .flat_map(|d| rust_files(d))
        .map(|p| std::fs::read_to_string(p).unwrap().matches("thread::Builder").count())
        .sum();
    assert!(libraries >= 5, "the check sees the libraries' threads ({libraries})");
}

#[test]
fn a_file_over_800_lines_says_in_its_module_doc_why_it_is_long() {
    let mut long = vec![];
    for path in sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        let n = text.lines().count();
        let name = path.file_name().unwrap().to_string_lossy();
        let is_tests = name == "tests.rs" || name.ends_with("_tests.rs");
        let doc: String = text.lines().take_while(|l| l.starts_with("//!")).collect::<Vec<_>>().join(" ");
        if n > 800 && !is_tests && !doc.contains("is long because") {
            long.push(format!("{} ({n} lines)", relative(&path)));
        }
    }
    // The UI, scripts and generators: the reason in their opening comment.
    let others = ["control-room/ui", "models", "scripts", "docs/examples"].iter().flat_map(|d| files_under(d));
    for path in others
        .filter(|p| p.extension().is_some_and(|x| ["js", "py", "sh", "html", "css"].contains(&x.to_str().unwrap())))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        let head: String = text.lines().take(30).collect::<Vec<_>>().join(" ");
        if text.lines().count() > 800 && !head.contains("is long because") {
            long.push(format!("{} ({} lines)", relative(&path), text.lines().count()));
        }
    }
    assert!(long.is_empty(), "long without a stated reason (\"… is long because …\"):\n{}", long.join("\n"));
}

/// Every file under `dir` (relative to the repository).
fn files_under(dir: &str) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut todo = vec![Path::new(REPO).join(dir)];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() { todo.push(e.path()) } else { out.push(e.path()) }
        }
    }
    out
}

#[test]
fn the_desks_and_plate_episodes_use_no_thread_socket_or_runtime() {
    let files: Vec<PathBuf> = ["operators/src/calls", "operators/src/customs", "operators/src/rules/plate_episodes"]
        .iter()
        .flat_map(|d| rust_files(d))
        .collect();
    assert!(files.len() >= 10, "{files:?}");
    let mut found = vec![];
    for path in files.iter().filter(|p| !p.ends_with("calls/embed.rs")) {
        for (n, line) in shipped_lines(path).into_iter().filter(|(_, l)| !l.trim_start().starts_with("//")) {
            if ["std::thread", "thread::", "std::net", "zenoh", "tokio", "axum"].iter().any(|w| line.contains(w)) {
                found.push(format!("{}:{n}: {}", relative(path), line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    let manifest = std::fs::read_to_string(Path::new(REPO).join("operators/Cargo.toml")).unwrap();
    for runtime in ["zenoh", "tokio", "axum"] {
        assert!(!manifest.contains(runtime), "operators depends on {runtime}");
    }
}
