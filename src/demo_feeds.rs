//! What the demo plays into the feeds, through the same zenoh keys a real call-handling
//! system, patrol navigators and post sensors use: 102 calls in Uzbek (both scripts),
//! Russian and English near the demo cameras, five patrol units driving around the square,
//! a radiation portal at the gate lane whose every third vehicle carries a source, an
//! always-armed evidence-room door that opens for 10 s every 90 s, and a thermometer that goes
//! quiet for a minute every three.

use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One demo call: what is said, where, and an optional follow-up.
struct DemoCall {
    narrative: &'static str,
    language: &'static str,
    /// Metres east and north of the square camera, or an address for the gazetteer.
    at: Result<(f64, f64), &'static str>,
    update: Option<&'static str>,
}

const CALLS: &[DemoCall] = &[
    DemoCall {
        narrative: "Maydonda ikki kishi urishyapti, biri pichoq chiqardi, tez keling!",
        language: "uz",
        at: Ok((90.0, 10.0)),
        update: Some("Bitta yigit yaralandi, qon ketyapti"),
    },
    DemoCall {
        narrative: "На площади у фонтана оставили сумку, никто не подходит уже полчаса",
        language: "ru",
        at: Ok((40.0, -20.0)),
        update: None,
    },
    DemoCall {
        narrative: "Чилонзор 9-кварталда уйдан тутун чиқяпти, ичкарида болалар бор",
        language: "uz-Cyrl",
        at: Err("Chilonzor 9-kvartal, 14-uy"),
        update: Some("Олов иккинчи қаватга ўтди"),
    },
    DemoCall {
        narrative: "Two cars collided at the crossing by the square, one driver is not moving",
        language: "en",
        at: Ok((150.0, 60.0)),
        update: None,
    },
    DemoCall {
        narrative: "Qo'shnilar kechasi baland musiqa qo'yishyapti, uxlab bo'lmayapti",
        language: "uz",
        at: Err("Yunusobod 4-kvartal"),
        update: None,
    },
    DemoCall {
        narrative: "Сын 12 лет не вернулся из школы, телефон выключен, ушел в сторону площади",
        language: "ru",
        at: Ok((-60.0, 30.0)),
        update: None,
    },
];

const SQUARE: (f64, f64) = (41.3111, 69.2797);

fn offset(east: f64, north: f64) -> (f64, f64) {
    let m_per_deg = 111_195.0;
    (SQUARE.0 + north / m_per_deg, SQUARE.1 + east / (m_per_deg * SQUARE.0.to_radians().cos()))
}

/// SplitMix64: a seeded generator, so the demo plays the same way each run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A Poisson count of mean `mean` (normal approximation; means here are in the tens).
    fn poisson(&mut self, mean: f64) -> f64 {
        let (u1, u2) = (self.next().max(1e-12), self.next());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (mean + z * mean.sqrt()).round().max(0.0)
    }
}

/// Plays the demo feeds on `session` until `stop` is set.
pub fn spawn(session: zenoh::Session, site: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("demo-feeds".into())
        .spawn(move || play(&session, &site, &stop))
        .expect("spawning the demo feed thread")
}

fn put(session: &zenoh::Session, key: String, value: serde_json::Value) {
    use zenoh::Wait;
    if let Err(e) = session.put(&key, value.to_string()).wait() {
        tracing::warn!("demo feed: put on {key}: {e}");
    }
}

fn play(session: &zenoh::Session, site: &str, stop: &AtomicBool) {
    let start = Instant::now();
    let mut rng = Rng(2026);
    let calls_key = format!("qv/{site}/pii/feed/calls");
    let tel = |sensor: &str| format!("qv/{site}/feed/telemetry/{sensor}");
    let mut tick = 0u64;
    let mut pending_updates: Vec<(Instant, String, &'static str, DateTime<Utc>)> = vec![];
    let sample = Duration::from_millis(100);
    while !stop.load(Ordering::Relaxed) {
        let now = Utc::now();
        let t = start.elapsed().as_secs_f64();
        // Radiation portal at the gate lane, 10 samples/s: ~180 cps background; a vehicle
        // every 30 s for 6 s shields 20% of it; every third vehicle (the first at 40 s)
        // carries a source.
        let cycle = t % 30.0;
        let vehicle = (t / 30.0) as u64;
        let occupied = (10.0..16.0).contains(&cycle);
        let mut gamma = 180.0 * if occupied { 0.8 } else { 1.0 };
        if occupied && vehicle % 3 == 1 && (11.5..14.5).contains(&cycle) {
            gamma += 180.0 * 3.0; // well over 5 sigma of the 10-Hz samples (sigma ≈ 42 cps)
        }
        let counts = rng.poisson(gamma * 0.1) / 0.1;
        put(
            session,
            tel("rpm-lane1-gamma"),
            json!({"sensor": "rpm-lane1-gamma", "kind": "gamma_cps", "value": counts, "unit": "cps", "event_ts": now}),
        );
        if tick.is_multiple_of(5) {
            put(
                session,
                tel("rpm-lane1-occ"),
                json!({"sensor": "rpm-lane1-occ", "kind": "occupancy", "value": if occupied {1} else {0}, "unit": "bool", "event_ts": now}),
            );
        }
        if tick.is_multiple_of(10) {
            // The evidence-room door: open 10 s of every 90, the first time at 25 s.
            let open = (t % 90.0) >= 25.0 && (t % 90.0) < 35.0;
            put(
                session,
                tel("evidence-door"),
                json!({"sensor": "evidence-door", "kind": "contact", "value": if open {1} else {0}, "unit": "bool", "event_ts": now}),
            );
        }
        if tick.is_multiple_of(50) && (t % 180.0) < 120.0 {
            put(
                session,
                tel("post-thermo"),
                json!({"sensor": "post-thermo", "kind": "temperature", "value": 21.5, "unit": "C", "event_ts": now}),
            );
        }
        // Patrol units: five cars on circles around the square, one report each 2 s.
        if tick.is_multiple_of(20) {
            for i in 0..5u32 {
                let r = 300.0 + 350.0 * i as f64;
                let a = t / (60.0 + 20.0 * i as f64) + i as f64;
                let (lat, lon) = offset(r * a.cos(), r * a.sin());
                let status = match (i, (t / 60.0) as u32 % 3) {
                    (1, 0) => "busy",
                    (3, _) => "en_route",
                    _ => "available",
                };
                let unit = format!("P-{:02}", i + 1);
                put(
                    session,
                    format!("qv/{site}/feed/units/{unit}"),
                    json!({"unit": unit, "ts": now, "lat": lat, "lon": lon, "accuracy_m": 8.0, "speed_mps": 9.0, "status": status}),
                );
            }
        }
        // A call every 25 s, starting 5 s in; some get an update 10 s later.
        if tick % 250 == 50 {
            let n = (tick / 250) as usize;
            let c = &CALLS[n % CALLS.len()];
            let id = format!("102-demo-{n:04}");
            let location = match c.at {
                Ok((e, nn)) => {
                    let (lat, lon) = offset(e, nn);
                    json!({"lat": lat, "lon": lon, "uncertainty_m": 40.0, "method": "cell"})
                }
                Err(address) => json!({"address": address}),
            };
            put(
                session,
                calls_key.clone(),
                json!({
                    "call_id": id, "start_ts": now, "caller": {"number": format!("+99890{:07}", 1_234_567 + n)},
                    "location": location, "language": c.language, "narrative": c.narrative,
                }),
            );
            if let Some(u) = c.update {
                pending_updates.push((Instant::now() + Duration::from_secs(10), id, u, now));
            }
        }
        pending_updates.retain(|(when, id, text, started)| {
            if Instant::now() < *when {
                return true;
            }
            put(
                session,
                calls_key.clone(),
                json!({"call_id": id, "start_ts": started, "update_ts": Utc::now(), "narrative": text}),
            );
            false
        });
        tick += 1;
        std::thread::sleep(sample);
    }
}

/// The demo's X-ray lane: a few scans made once by the repo's generator
/// (`models/xray/synth.py`, in the pinned virtualenv) into the cache, then one dropped
/// into the lane's folder every 20 s, in turn: baggage on the hall kV scanner, cargo on
/// the lane's MeV linac (with a dense block in declared textiles, tiles, an empty box).
pub fn spawn_xray(drop_folder: std::path::PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("demo-xray".into())
        .spawn(move || {
            // Keyed by the generator and its table, so a changed generator makes new samples.
            let generator = [&include_bytes!("../models/xray/synth.py")[..], include_bytes!("../models/xray/attenuation.json")];
            let key = operators::xray::calibration::sha256_hex(&generator.concat());
            let samples = operators::detect::manifest::cache_dir().join("demo").join(format!("xray-samples-{}", &key[..12]));
            let scans = match xray_samples(&samples) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("demo X-ray lane: no sample scans ({e}); the lane waits for uploads");
                    return;
                }
            };
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let (id, scanner, container) = &scans[n % scans.len()];
                let scan_id = format!("demo-{n:04}");
                let copy = |suffix: &str| std::fs::copy(samples.join(format!("{id}_{suffix}.png")), drop_folder.join(format!("{scan_id}_{suffix}.png")));
                if copy("low").and(copy("high")).is_ok() {
                    let meta = json!({"scan_id": scan_id, "event_ts": Utc::now(), "post": "yallama", "lane": "1",
                                      "scanner_id": scanner, "bit_depth": 16, "container": container, "plate": "01A777BC"});
                    let _ = std::fs::write(drop_folder.join(format!("{scan_id}.json")), meta.to_string());
                }
                n += 1;
                for _ in 0..200 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
        .expect("spawning the demo X-ray thread")
}

/// One demo scan: sample id, scanner id, container.
type Sample = (String, &'static str, Option<&'static str>);

/// The demo's scans, made once.
fn xray_samples(dir: &std::path::Path) -> Result<Vec<Sample>, String> {
    let done = dir.join(".complete");
    let plan: [(&str, Option<&str>, &str, Option<&str>); 4] = [
        ("baggage", None, "hall-kv", None),
        ("cargo", Some("textiles_dense_block"), "lane1-mev", Some("MSCU1234565")),
        ("baggage", None, "hall-kv", None),
        ("cargo", Some("empty"), "lane1-mev", Some("TGHU7654321")),
    ];
    if !done.exists() {
        eprintln!("demo X-ray lane: making sample scans (once) in {}", dir.display());
        let venv =
            std::process::Command::new("bash").arg("models/pypi/onnx-venv.sh").output().map_err(|e| e.to_string())?;
        if !venv.status.success() {
            return Err(format!("models/pypi/onnx-venv.sh: {}", String::from_utf8_lossy(&venv.stderr)));
        }
        let python = std::path::PathBuf::from(String::from_utf8_lossy(&venv.stdout).trim()).join("bin/python");
        for (i, (kind, scenario, _, _)) in plan.iter().enumerate() {
            let out = dir.join(format!("s{i}"));
            let mut cmd = std::process::Command::new(&python);
            cmd.arg("models/xray/synth.py")
                .args(["--kind", kind, "--config", "heldout", "--seed", "3", "--count", "1", "--start"])
                .arg(i.to_string())
                .arg("--out")
                .arg(&out);
            if let Some(s) = scenario {
                cmd.args(["--scenario", s, "--width", "2400", "--height", "800"]);
            }
            let r = cmd.output().map_err(|e| e.to_string())?;
            if !r.status.success() {
                return Err(format!("synth.py: {}", String::from_utf8_lossy(&r.stderr)));
            }
            for e in std::fs::read_dir(&out).map_err(|e| e.to_string())?.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                for suffix in ["low", "high"] {
                    if name.ends_with(&format!("_{suffix}.png")) {
                        std::fs::rename(e.path(), dir.join(format!("s{i}_{suffix}.png"))).map_err(|e| e.to_string())?;
                    }
                }
            }
        }
        std::fs::write(&done, "").map_err(|e| e.to_string())?;
    }
    Ok(plan.iter().enumerate().map(|(i, (_, _, scanner, container))| (format!("s{i}"), *scanner, *container)).collect())
}
