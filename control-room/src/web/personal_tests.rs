//! Personal data in everything the dashboard sends: masked for every role on every GET route
//! and every WebSocket message, whole only through a reveal with a reason, one audit entry
//! each. Alerts go the real way in: published on the bus, taken in by a running control room
//! (store, fusion, live feed), read back through the router and a WebSocket client.

use super::tests::{Login, TempDir, app_router, request, send};
use super::*;
use crate::auth::Role;
use crate::fusion::FusionConfig;
use crate::ingest::{ControlRoom, ControlRoomConfig};
use crate::store::dashboard::{AlertQuery, IncidentQuery, Sites};
use crate::workflow::ResponseTargets;
use axum::http::{Method, StatusCode};
use pipeline::alert::{Alert, SourceKind};
use pipeline::personal::CorrelationKey;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const SITE: &str = "post-p";
const WAIT: Duration = Duration::from_secs(30);

/// What the seeded alerts hold whole: none of it may leave the dashboard unrevealed.
const CLEAR: &[&str] = &[
    "01A777BC",
    "MSCU1234565",
    "301234567",
    "Ipak",
    "watch list",
    "+998901234567",
    "Amir Temur",
    "Alisher",
    "Karimov",
    "threatens",
];

/// Their masked forms (`pipeline::personal`): what everyone sees instead.
const MASKED: &[&str] = &["01****BC", "MS*******65", "30*****67", "+9*********67", "A*** T**** **"];

/// A plate read, a lane decision about the same vehicle, and a 102 call about it, as their
/// nodes send them on the personal keys (whole, with the keyed hashes fusion joins on).
fn seeded() -> Vec<Alert> {
    let key = CorrelationKey::from_bytes([7; 32]);
    let mut plate = Alert::minimal(SITE, SourceKind::Camera, "gate", "plate_read");
    plate.correlation.plate = Some("01A777BC".into());
    plate.attributes.insert("plate".into(), "01A777BC".into());
    let mut lane = Alert::minimal(SITE, SourceKind::Lane, "post1-cargo1", "lane_decision");
    lane.correlation.plate = Some("01A777BC".into());
    lane.correlation.container = Some("MSCU1234565".into());
    for (k, v) in [
        ("corridor", json!("red")),
        ("vehicle", json!("01A777BC")),
        ("reasons", json!(["plate 01A777BC on the watch list", "new importer Ipak Yo'li MChJ"])),
        ("importer_tin", json!("301234567")),
        ("importer_name", json!("Ipak Yo'li MChJ")),
    ] {
        lane.attributes.insert(k.into(), v);
    }
    let mut call = Alert::minimal(SITE, SourceKind::Call, "line-102", "call_received");
    for (k, v) in [
        ("narrative", json!("Driver of 01A777BC threatens people at the bazaar")),
        ("address", json!("Amir Temur 15")),
        ("caller_number", json!("+998901234567")),
        ("caller_name", json!("Alisher Karimov")),
        ("notes", json!(["caller gave the plate 01A777BC"])),
    ] {
        call.attributes.insert(k.into(), v);
    }
    let mut alerts = vec![plate, lane, call];
    for a in &mut alerts {
        key.seal(a);
    }
    alerts
}

/// A WebSocket client of the live feed, enough for a test: the handshake, then the server's
/// text frames (a server never masks its frames).
struct Feed(BufReader<tokio::net::TcpStream>);

impl Feed {
    async fn connect(addr: std::net::SocketAddr, login: &Login) -> Feed {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let handshake = format!(
            "GET /api/v1/ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: {}\r\n\r\n",
            login.cookie
        );
        s.write_all(handshake.as_bytes()).await.unwrap();
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("HTTP/1.1 101"), "{line}");
        while line != "\r\n" {
            line.clear();
            r.read_line(&mut line).await.unwrap();
        }
        Feed(r)
    }

    /// The next message; panics after [`WAIT`].
    async fn next(&mut self) -> String {
        let read = async {
            let mut head = [0u8; 2];
            self.0.read_exact(&mut head).await.unwrap();
            assert_eq!(head[0], 0x81, "one whole text frame");
            let len = match head[1] & 0x7f {
                126 => usize::from(self.0.read_u16().await.unwrap()),
                127 => self.0.read_u64().await.unwrap() as usize,
                n => usize::from(n),
            };
            let mut payload = vec![0; len];
            self.0.read_exact(&mut payload).await.unwrap();
            String::from_utf8(payload).unwrap()
        };
        tokio::time::timeout(WAIT, read).await.expect("a WebSocket message")
    }
}

async fn login(router: &axum::Router, passwords: &HashMap<String, String>, user: &str) -> Login {
    let body = json!({ "username": user, "password": passwords[user] });
    let a = send(router, request(&Method::POST, "/api/v1/login", None, Some(&body))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let cookie = a.headers[axum::http::header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = serde_json::from_str::<serde_json::Value>(&a.body).unwrap()["csrf_token"].as_str().unwrap().into();
    Login { cookie, csrf }
}

/// Every GET route of the policy table with its `{…}` filled with each real object it can
/// name, so a route added later is walked too. The WebSocket is read on its own.
fn get_uris(incidents: &[String], alerts: &[String]) -> Vec<String> {
    let mut uris = Vec::new();
    for (_, path, _) in policy::RULES.iter().filter(|(m, p, _)| *m == "GET" && *p != "/api/v1/ws") {
        let ids: Vec<String> = if path.starts_with("/api/v1/incidents/") {
            incidents.to_vec()
        } else if path.starts_with("/api/v1/alerts/") {
            alerts.to_vec()
        } else {
            vec![String::new()]
        };
        for id in ids {
            let uri = path.replace("{id}", &id).replace("{sha256}", &"a".repeat(64)).replace("{file}", "app.js");
            assert!(!uri.contains('{'), "{path}: fill its parameter here");
            uris.push(uri);
        }
    }
    uris
}

/// Every GET route as every role: no clear value in any answer. Returns the viewer's answers.
async fn walk(router: &axum::Router, logins: &HashMap<Role, Login>, uris: &[String]) -> HashMap<String, String> {
    let mut viewer = HashMap::new();
    for role in Role::ALL {
        for uri in uris {
            let a = send(router, request(&Method::GET, uri, Some(&logins[&role]), None)).await;
            assert!(a.status.as_u16() < 500, "GET {uri} as {}: {} {}", role.as_str(), a.status, a.body);
            for clear in CLEAR {
                assert!(!a.body.contains(clear), "GET {uri} as {} shows {clear:?}: {}", role.as_str(), a.body);
            }
            if role == Role::Viewer {
                viewer.insert(uri.clone(), a.body);
            }
        }
    }
    viewer
}

fn reveals_of(store: &dyn DashboardStore, alert: &str) -> Vec<crate::audit::Entry> {
    let target = format!("alert/{alert}");
    let entries = store.audit_entries(None, 10_000).unwrap();
    entries.into_iter().filter(|e| e.action == "reveal_personal" && e.target.as_deref() == Some(&target)).collect()
}

#[test]
fn personal_fields_are_masked_in_every_answer_and_message_for_every_role_until_an_audited_reveal() {
    let dir = std::env::temp_dir().join(format!("qorovul-web-personal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _guard = TempDir(dir.clone());
    let session = pipeline::bus::open_blocking(&pipeline::bus::BusConfig::default()).unwrap();
    let cfg = ControlRoomConfig { data_dir: dir.clone(), ..Default::default() };
    let room = ControlRoom::start(session.clone(), SITE, "cr-p", &cfg, FusionConfig::default()).unwrap();
    let store: Arc<dyn DashboardStore> =
        Arc::new(crate::store::dashboard::SqliteStore::open(&room.store_path, &ResponseTargets::default()).unwrap());
    let passwords: HashMap<String, String> =
        seed_users(store.as_ref(), &[SITE.into()]).unwrap().into_iter().map(|(u, _, p)| (u, p)).collect();
    let app = Arc::new(App {
        store: store.clone(),
        live: room.live.clone(),
        cfg: WebConfig::default(),
        targets: ResponseTargets::default(),
        evidence_dir: dir.join("evidence"),
        throttle: Default::default(),
    });
    let router = app_router(app);
    let alerts = seeded();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let mut logins = HashMap::new();
        for role in Role::ALL {
            logins.insert(role, login(&router, &passwords, role.as_str()).await);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = router.clone();
        tokio::spawn(async move { axum::serve(listener, served).await });
        let mut feed = Feed::connect(addr, &logins[&Role::Viewer]).await;
        let mut messages = vec![feed.next().await];
        assert!(messages[0].contains("\"hello\""), "{}", messages[0]);

        // In by the bus, as nodes send them: whole, on the personal keys.
        for a in &alerts {
            session.put(a.pii_key_expr(), a.to_json()).await.unwrap();
        }
        let deadline = Instant::now() + WAIT;
        while room.stats.stored.load(Ordering::Relaxed) < alerts.len() as u64 {
            assert!(Instant::now() < deadline, "the control room did not store the alerts");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let sites = Sites::All;
        let q = IncidentQuery { limit: 100, ..Default::default() };
        let incidents: Vec<String> = store.incidents(&q, &sites).unwrap().items.into_iter().map(|i| i.id).collect();
        let q = AlertQuery { limit: 100, ..Default::default() };
        let alert_ids: Vec<String> =
            store.alerts(&q, &sites).unwrap().items.iter().map(|a| a["id"].as_str().unwrap().to_string()).collect();
        for a in &alerts {
            assert!(alert_ids.contains(&a.id.to_string()), "alert {} stored", a.kind);
        }
        // An operator's action goes to every client too.
        let uri = format!("/api/v1/incidents/{}/acknowledge", incidents[0]);
        let a = send(&router, request(&Method::POST, &uri, Some(&logins[&Role::Operator]), Some(&json!({})))).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);

        // The live feed: every alert (masked) and the acknowledged incident.
        let mut seen: Vec<String> = Vec::new();
        let mut acknowledged = false;
        while !acknowledged || alerts.iter().any(|a| !seen.contains(&a.id.to_string())) {
            let m = feed.next().await;
            let v: serde_json::Value = serde_json::from_str(&m).unwrap();
            match v["type"].as_str() {
                Some("alert") => seen.push(v["alert"]["id"].as_str().unwrap().to_string()),
                Some("incident") => acknowledged |= v["summary"]["workflow"]["state"] == "acknowledged",
                _ => {}
            }
            messages.push(m);
        }
        let all = messages.join("\n");
        for clear in CLEAR {
            assert!(!all.contains(clear), "the WebSocket shows {clear:?}: {all}");
        }
        for masked in MASKED {
            assert!(all.contains(masked), "the WebSocket lacks {masked:?}: {all}");
        }

        // Every GET route, every role: masked; the viewer sees the masked forms.
        let uris = get_uris(&incidents, &alert_ids);
        let viewer = walk(&router, &logins, &uris).await;
        let shown = viewer.values().cloned().collect::<Vec<_>>().join("\n");
        for masked in MASKED {
            assert!(shown.contains(masked), "no answer to the viewer shows {masked:?}");
        }
        let lane = alerts[1].id.to_string();
        let lane_incident = incidents
            .iter()
            .find(|i| viewer[&format!("/api/v1/incidents/{i}")].contains(&lane))
            .expect("an incident holds the lane decision");
        let detail = &viewer[&format!("/api/v1/incidents/{lane_incident}")];
        assert!(detail.contains("30*****67") && detail.contains("01****BC"), "masked, not left out: {detail}");

        // Reveals: not for a viewer, not without a reason; otherwise whole, one entry each.
        let reveal = |id: &str| format!("/api/v1/alerts/{id}/reveal");
        let reason = json!({ "reason": "checking the vehicle for the duty officer" });
        let a =
            send(&router, request(&Method::POST, &reveal(&lane), Some(&logins[&Role::Viewer]), Some(&reason))).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
        for body in [json!({}), json!({ "reason": "ok" })] {
            let a = send(&router, request(&Method::POST, &reveal(&lane), Some(&logins[&Role::Operator]), Some(&body)))
                .await;
            assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", a.body);
        }
        assert!(reveals_of(store.as_ref(), &lane).is_empty(), "a refused reveal is not audited");
        // What each reveal shows whole, and the fields its audit entry names (in the order of
        // `pipeline::personal::alert_fields`).
        let expected: [(&[&str], &[&str]); 3] = [
            (&["01A777BC"], &["/correlation/plate", "/attributes/plate"]),
            (
                &["01A777BC", "MSCU1234565", "301234567", "watch list", "Ipak"],
                &[
                    "/correlation/plate",
                    "/correlation/container",
                    "/attributes/vehicle",
                    "/attributes/importer_tin",
                    "/attributes/importer_name",
                    "/attributes/reasons",
                ],
            ),
            (
                &["+998901234567", "Amir Temur 15", "Alisher Karimov", "threatens", "01A777BC"],
                &[
                    "/attributes/caller_number",
                    "/attributes/caller_name",
                    "/attributes/narrative",
                    "/attributes/address",
                    "/attributes/notes",
                ],
            ),
        ];
        for (alert, (whole, fields)) in alerts.iter().zip(expected) {
            let id = alert.id.to_string();
            let who = &logins[&Role::Operator];
            let a = send(&router, request(&Method::POST, &reveal(&id), Some(who), Some(&reason))).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
            for clear in whole {
                assert!(a.body.contains(clear), "the reveal of {} lacks {clear:?}: {}", alert.kind, a.body);
            }
            let entries = reveals_of(store.as_ref(), &id);
            assert_eq!(entries.len(), 1, "one audit entry per reveal of {}", alert.kind);
            let e = &entries[0];
            assert_eq!((e.actor.as_str(), e.site.as_deref()), ("operator", Some(SITE)));
            assert_eq!((&e.detail["reason"], &e.detail["fields"]), (&reason["reason"], &json!(fields)));
        }

        // A reveal shows one caller one alert, once: every answer is masked again, the
        // audit log (read by those who may) included.
        walk(&router, &logins, &uris).await;
    });
    room.stop().unwrap();
}
