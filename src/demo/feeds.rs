//! What the demo plays into the feeds, through the same zenoh keys a real call-handling
//! system, patrol navigators, post sensors and the customs declaration system use: 102
//! calls in Uzbek (both scripts), Russian and English near the demo cameras, five patrol
//! units driving around the square, an always-armed evidence-room door that opens for 10 s
//! every 90 s, a thermometer that goes quiet for a minute every three, and the customs
//! lane: a truck every 40 s with its declaration, its X-ray scan and its pass through the
//! radiation portal (every third, ceramic tiles, sets the portal off).

use chrono::{DateTime, Utc};
use pipeline::alert::GeoPoint;

use pipeline::credentials::{self, CredentialFile, Identity, Kind, Signer};
use pipeline::feed::FeedKind;
use pipeline::keys;
use pipeline::rng::SplitMix64;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// Seconds between the demo lane's trucks.
pub const LANE_CYCLE_SECS: f64 = 40.0;

/// The radiation portal's state as the lane thread sets it: empty, a truck in it, a truck
/// carrying a source in it.
pub type Portal = Arc<AtomicU8>;
const PORTAL_EMPTY: u8 = 0;
const PORTAL_TRUCK: u8 = 1;
const PORTAL_SOURCE: u8 = 2;

/// One demo call: what is said (two as people type: Russian in Latin letters, Uzbek sans apostrophes), where, a follow-up.
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
        narrative: "na ploshadi u fontana ostavili sumku bez hozyaina, nikto ne podhodit uzhe polchasa",
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
        narrative: "qoshnilar kechasi baland musiqa qoyishyapti uxlab bolmayapti",
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

const SQUARE: GeoPoint = GeoPoint { lat: 41.3111, lon: 69.2797 };

fn offset(east: f64, north: f64) -> (f64, f64) {
    let p = pipeline::geo::offset_m(SQUARE, east, north);
    (p.lat, p.lon)
}

/// A Poisson count of mean `mean` (normal approximation; means here are in the tens).
fn poisson(rng: &mut SplitMix64, mean: f64) -> f64 {
    let (u1, u2) = (rng.unit().max(1e-12), rng.unit());
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (mean + z * mean.sqrt()).round().max(0.0)
}

/// Plays the demo feeds on `session` until `stop` is set; `portal` is the lane thread's.
pub fn spawn(
    session: zenoh::Session,
    senders: Senders,
    site: String,
    portal: Portal,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("demo-feeds".into())
        .spawn(move || play(&session, &senders, &site, &portal, &stop))
        .expect("spawning the demo feed thread")
}

/// Puts a record on a feed key, signed by the demo identity that may post to that feed.
fn put(session: &zenoh::Session, senders: &Senders, key: String, value: serde_json::Value) {
    let feed = key.split('/').skip_while(|s| *s != "feed").nth(1).unwrap_or_default();
    let signer = senders.0.iter().find(|(segment, _)| segment == feed).map(|(_, s)| s).ok_or("no identity posts");
    if let Err(e) = signer.map_err(String::from).and_then(|s| s.put(session, &key, value.to_string())) {
        tracing::warn!("demo feed: {e}");
    }
}

/// The demo's devices and integrations, each with a signing key of its own, scoped in the
/// node's credentials file to its feed (the portal gateway to its sensors), by key segment.
#[derive(Clone)]
pub struct Senders(Arc<Vec<(String, Signer)>>);

impl Senders {
    /// Writes a fresh credentials file for this run (the demo's node reads it) with one
    /// identity per feed the demo plays, and a token for a person trying the HTTP routes;
    /// returns the signers and that token.
    pub fn make(file: &std::path::Path, sensors: Vec<String>) -> Result<(Senders, String), String> {
        let now = Utc::now();
        let mut f = CredentialFile::default();
        let mut signers = vec![];
        // (identity, routes, sources); its feeds' key segments are the routes' names.
        let who: [(&str, Vec<FeedKind>, Vec<String>); 5] = [
            ("call-centre", vec![FeedKind::Calls], vec!["*".into()]),
            ("fleet", vec![FeedKind::Units], vec!["*".into()]),
            ("portal-gateway", vec![FeedKind::Telemetry], sensors),
            ("customs-system", vec![FeedKind::Declarations], vec!["*".into()]),
            ("customs-archive", vec![FeedKind::DeclarationImports, FeedKind::Inspections], vec!["*".into()]),
        ];
        for (name, routes, sources) in who {
            let kind = if name == "portal-gateway" { Kind::Device } else { Kind::Integration };
            let segments: Vec<String> = routes.iter().map(|r| keys::feed_segment(*r).to_string()).collect();
            let identity = Identity::new(name, kind, routes, sources);
            let signer = Signer { name: name.into(), key: credentials::signing_key(&f.issue_key(identity, now)?)? };
            signers.extend(segments.into_iter().map(|s| (s, signer.clone())));
        }
        let token =
            f.issue(Identity::new("demo-operator", Kind::Person, FeedKind::ALL.to_vec(), vec!["*".into()]), now)?;
        f.save(file)?;
        Ok((Senders(Arc::new(signers)), token))
    }
}

fn play(session: &zenoh::Session, senders: &Senders, site: &str, portal: &AtomicU8, stop: &AtomicBool) {
    let start = Instant::now();
    let mut rng = SplitMix64::new(2026);
    let calls_key = keys::calls_feed(site);
    let tel = |sensor: &str| keys::sensor_feed(site, sensor);
    let mut tick = 0u64;
    let mut pending_updates: Vec<(Instant, String, &'static str, DateTime<Utc>)> = vec![];
    let sample = Duration::from_millis(100);
    while !stop.load(Ordering::Relaxed) {
        let now = Utc::now();
        let t = start.elapsed().as_secs_f64();
        // Radiation portal at the gate lane, 10 samples/s: ~180 cps background; a truck in
        // it (the lane thread says when) shields 20 % of it; a load of tiles adds a source.
        let state = portal.load(Ordering::Relaxed);
        let occupied = state != PORTAL_EMPTY;
        let mut gamma = 180.0 * if occupied { 0.8 } else { 1.0 };
        if state == PORTAL_SOURCE {
            gamma += 180.0 * 3.0; // well over 5 sigma of the 10-Hz samples (sigma ≈ 42 cps)
        }
        let counts = poisson(&mut rng, gamma * 0.1) / 0.1;
        put(
            session,
            senders,
            tel("rpm-lane1-gamma"),
            json!({"sensor": "rpm-lane1-gamma", "kind": "gamma_cps", "value": counts, "unit": "cps", "event_ts": now}),
        );
        if tick.is_multiple_of(5) {
            put(
                session,
                senders,
                tel("rpm-lane1-occ"),
                json!({"sensor": "rpm-lane1-occ", "kind": "occupancy", "value": if occupied {1} else {0}, "unit": "bool", "event_ts": now}),
            );
        }
        if tick.is_multiple_of(10) {
            // The evidence-room door: open 10 s of every 90, the first time at 25 s.
            let open = (t % 90.0) >= 25.0 && (t % 90.0) < 35.0;
            put(
                session,
                senders,
                tel("evidence-door"),
                json!({"sensor": "evidence-door", "kind": "contact", "value": if open {1} else {0}, "unit": "bool", "event_ts": now}),
            );
        }
        if tick.is_multiple_of(50) && (t % 180.0) < 120.0 {
            put(
                session,
                senders,
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
                    senders,
                    keys::unit_feed(site, &unit),
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
                senders,
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
                senders,
                calls_key.clone(),
                json!({"call_id": id, "start_ts": started, "update_ts": Utc::now(), "narrative": text}),
            );
            false
        });
        tick += 1;
        std::thread::sleep(sample);
    }
}

/// One demo truck's story: its importer, what it declares, and what the lane sees.
struct Truck {
    importer: (&'static str, &'static str),
    /// HS code, description, declared kg (when the scan's own is not known), USD per kg.
    goods: (&'static str, &'static str, f64, f64),
    /// The generator's cargo scenario of its scan.
    scenario: &'static str,
    container: &'static str,
    /// It carries a source through the portal.
    source: bool,
}

const TEXTILES: (&str, &str) = ("301234567", "Toshkent To'qimachilik MChJ");
const TILES: (&str, &str) = ("302345678", "Samarqand Keramika AJ");

/// In turn: clean textiles from a long-standing importer (green), the same importer's
/// textiles with a dense block inside (red, the scan's reason first), ceramic tiles that
/// set the portal off (secondary radiation inspection, not red: tiles are naturally
/// radioactive).
const TRUCKS: [Truck; 3] = [
    Truck {
        importer: TEXTILES,
        goods: ("520812", "Cotton woven fabric, bleached", 7800.0, 3.9),
        scenario: "textiles_clean",
        container: "CSQU3054383",
        source: false,
    },
    Truck {
        importer: TEXTILES,
        goods: ("520812", "Cotton woven fabric, dyed", 7600.0, 3.9),
        scenario: "textiles_dense_block",
        container: "MSCU1234566",
        source: false,
    },
    Truck {
        importer: TILES,
        goods: ("690721", "Glazed ceramic floor tiles", 18_500.0, 0.6),
        scenario: "tiles",
        container: "TCLU7002003",
        source: true,
    },
];

/// The demo's customs lane, played until `stop`: first the importers' past (declarations
/// over the last three years and their clean inspections, as a customs system's history
/// would be loaded), then a truck every [`LANE_CYCLE_SECS`]: its declaration on the feed,
/// 2 s later its X-ray scan in the lane's drop folder (made once by the repo's generator,
/// `models/xray/synth.py`, into the cache), from 10 s to 16 s in the radiation portal; and
/// a baggage scan on the hall's kV scanner between trucks. The gate camera reads the
/// trucks' plate (`01 A 777 BC`).
pub fn spawn_lane(
    session: zenoh::Session,
    senders: Senders,
    site: String,
    drop_folder: Option<std::path::PathBuf>,
    portal: Portal,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("demo-lane".into())
        .spawn(move || {
            let declarations = keys::declarations_feed(&site);
            let (imports, inspections) = (keys::declaration_imports_feed(&site), keys::inspections_feed(&site));
            history(&session, &senders, &imports, &inspections);
            let samples = drop_folder.as_ref().and_then(|_| {
                // Keyed by the generator and its table, so a changed generator makes new samples.
                let generator =
                    [&include_bytes!("../../models/xray/synth.py")[..], include_bytes!("../../models/xray/attenuation.json")];
                let key = pipeline::hash::sha256_hex(generator.concat());
                let dir = operators::detect::manifest::cache_dir().join("demo").join(format!("xray-samples-v3-{}", &key[..12]));
                xray_samples(&dir)
                    .inspect_err(|e| tracing::warn!("demo X-ray lane: no sample scans ({e}); trucks pass unscanned"))
                    .ok()
                    .map(|s| (dir, s))
            });
            let start = Instant::now();
            let wait_until = |secs: f64| {
                while start.elapsed().as_secs_f64() < secs {
                    if stop.load(Ordering::Relaxed) {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                true
            };
            // Declaration ids are this run's own: the history outlives a demo run.
            let run = Utc::now().format("%y%m%d%H%M%S").to_string();
            for k in 0usize.. {
                let t0 = k as f64 * LANE_CYCLE_SECS;
                let truck = &TRUCKS[k % TRUCKS.len()];
                let id = format!("DEMO-{run}-{k:04}");
                let (code, description, kg, usd_per_kg) = truck.goods;
                // The weight the generator's truth says the load has, as an honest importer declares.
                let kg = samples
                    .as_ref()
                    .and_then(|(_, scans)| scans.iter().find(|s| s.0 == truck.scenario))
                    .and_then(|s| s.2["declared"]["declared_kg"].as_f64())
                    .unwrap_or(kg);
                put(
                    &session,
                    &senders,
                    declarations.clone(),
                    json!({"id": id, "importer_tin": truck.importer.0, "importer_name": truck.importer.1,
                           "submitted": Utc::now(), "origin": if truck.source { "IR" } else { "TR" },
                           "route": ["TR", "IR", "TM"], "plates": ["01A777BC"], "containers": [truck.container],
                           "goods": [{"hs_code": code, "description": description, "net_kg": kg, "value_usd": (kg * usd_per_kg).round()}]}),
                );
                if !wait_until(t0 + 2.0) {
                    return;
                }
                if let (Some(folder), Some((dir, scans))) = (&drop_folder, &samples)
                    && let Some((_, sample, truth)) = scans.iter().find(|s| s.0 == truck.scenario)
                {
                    let scan_id = format!("lane-{run}-{k:05}");
                    drop_scan(folder, dir, sample, truth, &scan_id, "lane1-mev", Some(truck.container), &id);
                }
                if !wait_until(t0 + 10.0) {
                    return;
                }
                portal.store(if truck.source { PORTAL_SOURCE } else { PORTAL_TRUCK }, Ordering::Relaxed);
                let left = wait_until(t0 + 16.0);
                portal.store(PORTAL_EMPTY, Ordering::Relaxed);
                if !left || !wait_until(t0 + 22.0) {
                    return;
                }
                if let (Some(folder), Some((dir, scans))) = (&drop_folder, &samples)
                    && let Some((_, sample, truth)) = scans.iter().find(|s| s.0 == "baggage")
                {
                    drop_scan(folder, dir, sample, truth, &format!("hall-{run}-{k:05}"), "hall-kv", None, "");
                }
                if !wait_until(t0 + LANE_CYCLE_SECS) {
                    return;
                }
            }
        })
        .expect("spawning the demo lane thread")
}

/// The demo importers' past: declarations over the last three years, some inspected and
/// found clean, loaded by the customs archive's identity on the import route (the lane
/// feed refuses past declarations).
fn history(session: &zenoh::Session, senders: &Senders, declarations: &str, inspections: &str) {
    for (n, (importer, years, inspected)) in [(TEXTILES, 3.0, 5), (TILES, 2.0, 2)].into_iter().enumerate() {
        for i in 0..12 {
            let id = format!("PAST-{n}-{i:03}");
            // Fixed dates, so a second demo run sends the same declarations: duplicates, not new.
            let since =
                chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("a date").and_hms_opt(9, 0, 0).expect("a time");
            let days = (years * 365.0 * (12 - i) as f64 / 12.0) as i64;
            let submitted = (since - chrono::Duration::days(days)).and_utc();
            let goods = &TRUCKS[if n == 0 { 0 } else { 2 }].goods;
            put(
                session,
                senders,
                declarations.to_string(),
                json!({"id": id, "importer_tin": importer.0, "importer_name": importer.1, "submitted": submitted,
                       "origin": "TR", "route": ["TR", "IR", "TM"], "plates": [format!("01B{:03}CD", 100 + i)],
                       "goods": [{"hs_code": goods.0, "description": goods.1, "net_kg": goods.2, "value_usd": (goods.2 * goods.3).round()}]}),
            );
            if i < inspected {
                put(
                    session,
                    senders,
                    inspections.to_string(),
                    json!({"declaration_id": id, "ts": submitted + chrono::Duration::hours(3), "found": false}),
                );
            }
        }
    }
}

/// Copies a sample scan into the drop folder as scan `scan_id`, its metadata last (the
/// folder watcher takes a scan when its `.json` is there), with the generator's pixel
/// size (the mass estimate scales with it).
#[allow(clippy::too_many_arguments)]
fn drop_scan(
    folder: &std::path::Path,
    samples: &std::path::Path,
    sample: &str,
    truth: &serde_json::Value,
    scan_id: &str,
    scanner: &str,
    container: Option<&str>,
    declaration_id: &str,
) {
    let copy = |suffix: &str| {
        std::fs::copy(samples.join(format!("{sample}_{suffix}.png")), folder.join(format!("{scan_id}_{suffix}.png")))
    };
    if copy("low").and(copy("high")).is_ok() {
        let mut meta = json!({"scan_id": scan_id, "event_ts": Utc::now(), "post": "yallama", "lane": "1",
                              "scanner_id": scanner, "bit_depth": 16, "container": container,
                              "pixel_size_mm": truth["pixel_mm"].as_f64()});
        if !declaration_id.is_empty() {
            meta["plate"] = "01A777BC".into();
            meta["declaration_id"] = declaration_id.into();
        }
        let _ = std::fs::write(folder.join(format!("{scan_id}.json")), meta.to_string());
    }
}

/// The demo's scans, made once: `(scenario or "baggage", sample id, the generator's truth)`.
fn xray_samples(dir: &std::path::Path) -> Result<Vec<(&'static str, String, serde_json::Value)>, String> {
    let done = dir.join(".complete");
    let plan: [(&str, Option<&str>); 4] = [
        ("cargo", Some("textiles_clean")),
        ("cargo", Some("textiles_dense_block")),
        ("cargo", Some("tiles")),
        ("baggage", None),
    ];
    if !done.exists() {
        eprintln!("demo X-ray lane: making sample scans (once) in {}", dir.display());
        let venv =
            std::process::Command::new("bash").arg("models/pypi/onnx-venv.sh").output().map_err(|e| e.to_string())?;
        if !venv.status.success() {
            return Err(format!("models/pypi/onnx-venv.sh: {}", String::from_utf8_lossy(&venv.stderr)));
        }
        let python = std::path::PathBuf::from(String::from_utf8_lossy(&venv.stdout).trim()).join("bin/python");
        for (i, (kind, scenario)) in plan.iter().enumerate() {
            let out = dir.join(format!("s{i}"));
            let mut cmd = std::process::Command::new(&python);
            // Baggage from the held-out config (the threat model never saw it); cargo from
            // the config the mass estimate is measured on, so an honest weight reads as one.
            let config = if scenario.is_some() { "test" } else { "heldout" };
            cmd.arg("models/xray/synth.py")
                .args(["--kind", kind, "--config", config, "--seed", "3", "--count", "1", "--start"])
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
                if name.ends_with(".json") {
                    std::fs::rename(e.path(), dir.join(format!("s{i}.json"))).map_err(|e| e.to_string())?;
                }
            }
        }
        std::fs::write(&done, "").map_err(|e| e.to_string())?;
    }
    let truth = |i: usize| -> serde_json::Value {
        let bytes = std::fs::read(dir.join(format!("s{i}.json"))).unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or_default()
    };
    Ok(plan
        .iter()
        .enumerate()
        .map(|(i, (_, scenario))| (scenario.unwrap_or("baggage"), format!("s{i}"), truth(i)))
        .collect())
}
