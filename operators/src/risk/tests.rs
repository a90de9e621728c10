//! Customs risk on hand-made cases and on simulated traffic. The configuration is the
//! shipped `configs/customs.toml`; variants are made by editing its text, as an operator
//! would.

use super::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::BTreeMap;

fn cfg() -> RiskConfig {
    RiskConfig::from_toml(BUILTIN_CONFIG).expect("configs/customs.toml loads")
}

/// The shipped config with `from` replaced by `to` (which must occur).
fn cfg_edited(from: &str, to: &str) -> RiskConfig {
    assert!(BUILTIN_CONFIG.contains(from), "{from:?} not in configs/customs.toml");
    RiskConfig::from_toml(&BUILTIN_CONFIG.replacen(from, to, 1)).expect("edited config loads")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 10, 0, 0).single().unwrap()
}

const CARGO: &str = "post1-cargo1";

/// The test post's draw secret (a real post's is random, in its history).
fn secret() -> DrawSecret {
    DrawSecret::from_bytes([7; 32])
}

/// `base`, or `base-N`, whichever first is not drawn for random inspection on any lane.
fn undrawn(_cfg: &RiskConfig, base: &str) -> String {
    (0..)
        .map(|i| if i == 0 { base.to_string() } else { format!("{base}-{i}") })
        .find(|id| random_draw(&secret(), id) >= 0.10)
        .unwrap()
}

/// An id drawn for random inspection at the global rate.
fn drawn(cfg: &RiskConfig, base: &str) -> String {
    (0..).map(|i| format!("{base}-{i}")).find(|id| random_draw(&secret(), id) < cfg.selectivity.random_rate).unwrap()
}

fn line(hs: &str, description: &str, net_kg: f64, value_usd: f64) -> GoodsLine {
    GoodsLine { hs_code: hs.into(), description: description.into(), net_kg, value_usd }
}

fn declaration(id: &str, tin: &str, goods: Vec<GoodsLine>) -> Declaration {
    Declaration {
        id: id.into(),
        importer_tin: tin.into(),
        importer_name: Some("Test Importer LLC".into()),
        submitted: t0() - Duration::hours(5),
        origin: "CN".into(),
        route: vec!["KZ".into()],
        goods,
        plates: vec!["01A123BC".into()],
        containers: vec!["MSCU1234565".into()],
        empty: false,
    }
}

/// Women's dresses at the reference value (16 USD/kg).
fn textiles(cfg: &RiskConfig, id: &str) -> Declaration {
    declaration(&undrawn(cfg, id), "301234567", vec![line("6204420000", "women's dresses, cotton", 4200.0, 67_200.0)])
}

/// Eight years active, 300 declarations, 30 inspections that found nothing.
fn reliable(tin: &str) -> ImporterRecord {
    ImporterRecord {
        tin: tin.into(),
        first_seen: Some(t0() - Duration::days(8 * 365)),
        declarations: 300,
        inspections: 30,
        hits: 0,
        random_inspections: 6,
        random_hits: 0,
        amendments: 1,
    }
}

fn clean_xray() -> XraySummary {
    XraySummary {
        scan_id: "S1".into(),
        findings: vec![],
        threats: vec![],
        threats_error: None,
        advisory_threats: vec![],
    }
}

fn radiation(result: RadiationResult, peak_sigma: Option<f64>) -> RadiationSummary {
    RadiationSummary { portal: "rpm1".into(), result, peak_sigma }
}

fn inputs(d: Declaration, importer: ImporterRecord) -> Inputs {
    Inputs {
        lane: CARGO.into(),
        at: t0(),
        identity: Identity {
            plates: d.plates.clone(),
            containers: d.containers.clone(),
            manual: false,
            issues: vec![],
            officer: None,
        },
        random_draw: Some(random_draw(&secret(), &d.id)),
        declaration: Some(d),
        declaration_notes: vec![],
        importer: Some(importer),
        xray: Some(clean_xray()),
        radiation: Some(radiation(RadiationResult::Clean, None)),
    }
}

fn with_finding(mut i: Inputs, kind: &str) -> Inputs {
    i.xray.as_mut().unwrap().findings.push(XrayFinding { kind: kind.into(), severity: "high".into() });
    i
}

fn show(d: &Decision) -> String {
    d.reasons.iter().map(|r| format!("  [{:?}] {}: {}", r.corridor, r.rule, r.text)).collect::<Vec<_>>().join("\n")
}

// 1 -------------------------------------------------------------------------------------

#[test]
fn reliable_importer_clean_scan_is_green() {
    let cfg = cfg();
    let d = decide(&inputs(textiles(&cfg, "G1"), reliable("301234567")), &cfg);
    println!("{:?} {:?}\n{}", d.corridor, d.action, show(&d));
    assert_eq!(d.corridor, Corridor::Green);
    assert_eq!(d.action, Action::Release);
    assert!(!d.random);
    assert_eq!(d.reasons.len(), 1, "green has its one green reason and nothing else");
    let r = d.reliability.as_ref().unwrap();
    assert_eq!(r.band, Band::High);
    assert_eq!(d.reasons[0].rule, "reliability");
    assert!(d.reasons[0].text.contains(&format!("{:.1}", r.score)), "{}", d.reasons[0].text);
}

// 2 -------------------------------------------------------------------------------------

#[test]
fn dense_block_in_textiles_is_red_first_even_for_reliable_importer() {
    let cfg = cfg();
    for kind in ["xray_anomaly", "xray_dense_region"] {
        let d = decide(&with_finding(inputs(textiles(&cfg, "X1"), reliable("301234567")), kind), &cfg);
        println!("{kind}: {:?}\n{}", d.corridor, show(&d));
        assert_eq!(d.corridor, Corridor::Red);
        assert_eq!(d.action, Action::Inspection);
        assert_eq!(d.reasons[0].rule, "xray_finding");
        assert_eq!(d.reasons[0].corridor, Corridor::Red);
        assert!(d.reasons[0].text.contains("HS 6204420000"), "{}", d.reasons[0].text);
        assert!(d.reasons[0].text.contains("dense"), "{}", d.reasons[0].text);
        // The importer is still reliable; the finding outranks it.
        assert_eq!(d.reliability.as_ref().unwrap().band, Band::High);
        assert_eq!(d.reasons.last().unwrap().rule, "reliability");
    }
}

#[test]
fn threats_red_by_class_and_not_looked_for_is_yellow() {
    let cfg = cfg();
    let mut i = inputs(textiles(&cfg, "T1"), reliable("301234567"));
    i.xray.as_mut().unwrap().threats = vec!["dense_organic".into(), "gun".into()];
    let d = decide(&i, &cfg);
    assert_eq!(d.corridor, Corridor::Red);
    assert!(d.reasons[0].text.contains("gun"), "{}", show(&d));
    assert!(d.reasons.iter().any(|r| r.corridor == Corridor::Yellow && r.text.contains("dense_organic")));

    let mut i = inputs(textiles(&cfg, "T2"), reliable("301234567"));
    i.xray.as_mut().unwrap().threats_error = Some("model not loaded".into());
    let d = decide(&i, &cfg);
    assert_eq!(d.corridor, Corridor::Yellow, "{}", show(&d));
    assert!(d.reasons[0].text.contains("threats not looked for"));
}

#[test]
fn advisory_threats_are_named_but_do_not_move_the_corridor() {
    let cfg = cfg();
    let clean = decide(&inputs(textiles(&cfg, "T3"), reliable("301234567")), &cfg);
    let mut i = inputs(textiles(&cfg, "T3"), reliable("301234567"));
    i.xray.as_mut().unwrap().advisory_threats = vec!["gun".into()];
    let d = decide(&i, &cfg);
    assert_eq!(d.corridor, clean.corridor, "{}", show(&d));
    let r = d.reasons.iter().find(|r| r.rule == "xray_threat").expect("named");
    assert!(r.corridor == Corridor::Green && r.text.contains("advisory") && r.text.contains("gun"), "{}", show(&d));
    // what is recorded for replay is unchanged for scans without advisory threats
    let json = serde_json::to_value(clean_xray()).unwrap();
    assert!(json.get("advisory_threats").is_none(), "{json}");
}

// 3 -------------------------------------------------------------------------------------

#[test]
fn radiation_alarm_on_tiles_is_secondary_radiation_on_textiles_red() {
    let cfg = cfg();
    let tiles = declaration(
        &undrawn(&cfg, "R1"),
        "301234567",
        vec![line("6907210000", "porcelain floor tiles", 18_000.0, 12_600.0)],
    );
    let mut i = inputs(tiles, reliable("301234567"));
    i.radiation = Some(radiation(RadiationResult::Alarm, Some(8.2)));
    let d = decide(&i, &cfg);
    println!("tiles: {:?} {:?}\n{}", d.corridor, d.action, show(&d));
    assert_eq!(d.corridor, Corridor::Yellow);
    assert_eq!(d.action, Action::SecondaryRadiation);
    assert_eq!(d.reasons[0].rule, "radiation");
    assert!(d.reasons[0].text.contains("porcelain floor tiles (HS 6907210000)"), "{}", d.reasons[0].text);

    // The same alarm on textiles: red.
    let mut i = inputs(textiles(&cfg, "R2"), reliable("301234567"));
    i.radiation = Some(radiation(RadiationResult::Alarm, Some(8.2)));
    let d = decide(&i, &cfg);
    println!("textiles: {:?} {:?}\n{}", d.corridor, d.action, show(&d));
    assert_eq!(d.corridor, Corridor::Red);
    assert_eq!(d.action, Action::Inspection);
    assert_eq!(d.reasons[0].rule, "radiation");

    // Tiles with a line of textiles are not all NORM: red.
    let mixed = declaration(
        &undrawn(&cfg, "R3"),
        "301234567",
        vec![line("690721", "tiles", 18_000.0, 12_600.0), line("620442", "dresses", 100.0, 1600.0)],
    );
    let mut i = inputs(mixed, reliable("301234567"));
    i.radiation = Some(radiation(RadiationResult::Alarm, Some(8.2)));
    assert_eq!(decide(&i, &cfg).corridor, Corridor::Red);

    // An alarm on tiles far stronger than NORM explains: red.
    let tiles = declaration(&undrawn(&cfg, "R4"), "301234567", vec![line("690721", "tiles", 18_000.0, 12_600.0)]);
    let mut i = inputs(tiles, reliable("301234567"));
    i.radiation = Some(radiation(RadiationResult::Alarm, Some(60.0)));
    assert_eq!(decide(&i, &cfg).corridor, Corridor::Red);

    // Incomplete, or missing on a lane with a portal: yellow.
    let mut i = inputs(textiles(&cfg, "R5"), reliable("301234567"));
    i.radiation = Some(radiation(RadiationResult::Incomplete, None));
    assert_eq!(decide(&i, &cfg).corridor, Corridor::Yellow);
    i.radiation = None;
    let d = decide(&i, &cfg);
    assert_eq!(d.corridor, Corridor::Yellow);
    assert_eq!(d.reasons[0].rule, "sensor_missing", "{}", show(&d));
    let mut i = inputs(textiles(&cfg, "R6"), reliable("301234567"));
    i.xray = None;
    assert_eq!(decide(&i, &cfg).corridor, Corridor::Yellow);
    // The light lane has no scanner: no scan is fine there.
    i.lane = "post1-light1".into();
    let d = decide(&i, &cfg);
    if !d.random {
        assert_eq!(d.corridor, Corridor::Green, "{}", show(&d));
    }
}

// 4 -------------------------------------------------------------------------------------

#[test]
fn simulated_lanes_random_rate_and_corridor_bands() {
    let cfg = cfg();
    let rates: Vec<f64> = cfg.lanes.iter().map(|l| cfg.random_rate(l)).collect();
    assert!(rates.len() >= 2 && rates.windows(2).any(|w| w[0] != w[1]), "two lanes with different random rates");
    for (i, lane) in cfg.lanes.iter().enumerate() {
        let mut monitor = LaneRates::new(cfg.selectivity.band_min_decisions, 1_000_000);
        let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
        let n = 10_000;
        for inputs in Population::new(&cfg, &lane.id, 1000 + i as u64).unwrap().take(n) {
            let d = decide(&inputs, &cfg);
            for r in &d.reasons {
                if r.corridor != Corridor::Green {
                    *by_rule.entry(format!("{}/{}", r.rule, r.corridor.as_str())).or_default() += 1;
                }
            }
            monitor.observe(&d);
        }
        let r = monitor.rates();
        let want = cfg.random_rate(lane);
        println!(
            "lane {} ({}, random {:.1} %): {} decisions — green {:.2} %, yellow {:.2} %, red {:.2} %, random {:.2} %",
            lane.id,
            lane.kind,
            100.0 * want,
            r.decisions,
            100.0 * r.green,
            100.0 * r.yellow,
            100.0 * r.red,
            100.0 * r.random
        );
        println!("  bands: green {:?}, yellow {:?}, red {:?}; reasons {by_rule:?}", lane.green, lane.yellow, lane.red);
        assert_eq!(r.decisions, n as u64);
        assert!((r.random - want).abs() <= 0.005, "random rate {} against {want}", r.random);
        assert_eq!(monitor.out_of_band(lane), Vec::<String>::new());
        for (name, rate, [lo, hi]) in
            [("green", r.green, lane.green), ("yellow", r.yellow, lane.yellow), ("red", r.red, lane.red)]
        {
            assert!(lo <= rate && rate <= hi, "{name} rate {rate} outside [{lo}, {hi}]");
        }
    }
}

#[test]
fn lane_rates_flag_a_corridor_out_of_band() {
    let cfg = cfg();
    let lane = cfg.lane(CARGO).unwrap();
    let mut m = LaneRates::new(100, 200);
    let green = decide(&inputs(textiles(&cfg, "B1"), reliable("301234567")), &cfg);
    let red = decide(&with_finding(inputs(textiles(&cfg, "B2"), reliable("301234567")), "xray_void"), &cfg);
    for _ in 0..99 {
        m.observe(&green);
    }
    assert!(m.out_of_band(lane).is_empty(), "not checked below band_min_decisions");
    m.observe(&green);
    let out = m.out_of_band(lane);
    assert!(out.iter().any(|s| s.contains("red rate 0.0 %")), "{out:?}");
    assert!(out.iter().any(|s| s.contains("green rate 100.0 %")), "{out:?}");
    // A window: 200 red decisions push the green ones out.
    for _ in 0..200 {
        m.observe(&red);
    }
    assert_eq!(m.rates().red, 1.0);
    assert_eq!(m.total(), 300);
}

// 5 -------------------------------------------------------------------------------------

#[test]
fn replay_from_json_is_identical_and_names_what_a_rule_change_changes() {
    let cfg = cfg();
    let i = with_finding(inputs(textiles(&cfg, "P1"), reliable("301234567")), "xray_void");
    let models = BTreeMap::from([("xray_threats".to_string(), "ab12".to_string())]);
    let record = make_record("post1", i, &cfg, models);
    assert_eq!(record.decision.corridor, Corridor::Red);
    let json = serde_json::to_string_pretty(&record).unwrap();
    assert!(json.trim_start().starts_with("{\n  \"schema_version\": \"1.0\""), "schema_version first");
    let back: DecisionRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(back, record, "the record survives JSON exactly");
    let r = replay(&back, &cfg);
    assert!(r.identical && r.same_decision, "{:?}", r.differences);
    assert!(r.differences.is_empty());

    // A finding kind moved from red to yellow.
    let void = "    \"xray_void\",              # a hollow in the load: a hidden compartment\n";
    assert!(BUILTIN_CONFIG.contains(void));
    let text =
        BUILTIN_CONFIG.replacen(void, "", 1).replacen("yellow_findings = []", "yellow_findings = [\"xray_void\"]", 1);
    let moved = RiskConfig::from_toml(&text).unwrap();
    assert_ne!(moved.rules_sha256(), cfg.rules_sha256());
    let r = replay(&back, &moved);
    println!("moved xray_void to yellow:\n  {}", r.differences.join("\n  "));
    assert!(!r.identical && !r.same_decision);
    assert_eq!(r.decision.corridor, Corridor::Yellow);
    assert!(r.differences.iter().any(|d| d == "corridor: red → yellow"), "{:?}", r.differences);
    assert!(r.differences.iter().any(|d| d.starts_with("rules_sha256: recorded ")), "{:?}", r.differences);
    assert!(r.differences.iter().any(|d| d.starts_with("action: inspection → document_check")), "{:?}", r.differences);
    assert!(r.differences.iter().any(|d| d.starts_with("reasons[0]: ")), "{:?}", r.differences);

    // A reliability threshold raised: the reliable importer is no longer green.
    let green = make_record("post1", inputs(textiles(&cfg, "P2"), reliable("301234567")), &cfg, BTreeMap::new());
    assert_eq!(green.decision.corridor, Corridor::Green);
    let stricter = cfg_edited("high_at = 65.0", "high_at = 90.0");
    let r = replay(&green, &stricter);
    println!("high_at 70 → 90:\n  {}", r.differences.join("\n  "));
    assert!(r.differences.iter().any(|d| d == "corridor: green → yellow"), "{:?}", r.differences);
    assert!(r.differences.iter().any(|d| d == "reliability.band: high → medium"), "{:?}", r.differences);
    assert!(r.differences.iter().any(|d| d.starts_with("rules_sha256: ")), "{:?}", r.differences);

    // A comment edited: same rules, same decision, another file.
    let commented = cfg_edited("# Fraction of declared vehicles", "# The fraction of declared vehicles");
    assert_eq!(commented.rules_sha256(), cfg.rules_sha256());
    let r = replay(&green, &commented);
    assert!(r.same_decision && !r.identical);
    assert_eq!(r.differences.len(), 1);
    assert!(r.differences[0].starts_with("config_sha256: "), "{:?}", r.differences);
}

#[test]
fn rules_hash_covers_rules_not_bands() {
    let cfg = cfg();
    assert_eq!(cfg.rules_sha256(), cfg.clone().rules_sha256());
    assert_eq!(cfg.rules_sha256().len(), 64);
    let bands = cfg_edited("red = [0.04, 0.15]", "red = [0.04, 0.16]");
    assert_eq!(bands.rules_sha256(), cfg.rules_sha256(), "bands only feed monitoring");
    for (from, to) in [
        ("random_rate = 0.05", "random_rate = 0.06"),
        ("prior_weight = 10.0", "prior_weight = 12.0"),
        ("norm_alarm_max_sigma = 25.0", "norm_alarm_max_sigma = 30.0"),
        ("ref_usd_per_kg = 16.0", "ref_usd_per_kg = 17.0"),
        ("xray = false", "xray = true"),
    ] {
        assert_ne!(cfg_edited(from, to).rules_sha256(), cfg.rules_sha256(), "{from} → {to}");
    }
    // Changed in code, too.
    let mut c = cfg.clone();
    c.selectivity.red_threats.pop();
    assert_ne!(c.rules_sha256(), cfg.rules_sha256());
    assert_eq!(c.config_sha256(), cfg.config_sha256());
}

// 6 -------------------------------------------------------------------------------------

fn body(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v = serde_json::json!({
        "id": "26001/20250303/0000001",
        "importer_tin": "301234567",
        "importer_name": "Tashkent Textile LLC",
        "submitted": "2025-03-03T05:00:00Z",
        "origin": "CN",
        "route": ["KZ"],
        "goods": [
            { "hs_code": "6204420000", "description": "women's dresses", "net_kg": 4200.0, "value_usd": 67200.0 },
            { "hs_code": "610910", "description": "t-shirts", "net_kg": 300, "value_usd": 3600 }
        ],
        "plates": ["01A123BC"],
        "containers": ["MSCU1234565"]
    });
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn declaration_refusals_name_the_field_and_value() {
    let cfg = cfg();
    let ok = parse_declaration(&body(|_| {}), &cfg.hs).unwrap();
    assert!(ok.notes.is_empty());
    assert!(!ok.declaration.empty);
    assert_eq!(ok.declaration.goods[1].net_kg, 300.0);

    let e = parse_declaration(&body(|v| v["goods"][0]["net_kg"] = (-5.0).into()), &cfg.hs).unwrap_err();
    println!("{e}");
    assert_eq!(e.field(), "goods[0].net_kg");
    assert_eq!(e.code(), "bad_weight");
    assert!(e.to_string().starts_with("goods[0].net_kg: -5"), "{e}");

    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"{not json".to_vec(), "body", "not_json"),
        (b"[1, 2]".to_vec(), "body", "not_json"),
        (body(|v| v["colour"] = "red".into()), "colour", "unknown_field"),
        (body(|v| v["goods"][1]["price"] = 1.into()), "goods[1].price", "unknown_field"),
        (body(|v| drop(v.as_object_mut().unwrap().remove("id"))), "id", "missing_field"),
        (body(|v| v["id"] = "26001 0001".into()), "id", "bad_id"),
        (body(|v| v["id"] = "x".repeat(65).into()), "id", "bad_id"),
        (body(|v| v["importer_tin"] = "30123456".into()), "importer_tin", "bad_tin"),
        (body(|v| v["importer_tin"] = 301234567.into()), "importer_tin", "wrong_type"),
        (body(|v| v["goods"][1]["net_kg"] = 0.into()), "goods[1].net_kg", "bad_weight"),
        (body(|v| v["goods"][1]["net_kg"] = 150_000.into()), "goods[1].net_kg", "bad_weight"),
        (body(|v| v["goods"][1]["net_kg"] = "300".into()), "goods[1].net_kg", "wrong_type"),
        (body(|v| v["goods"][0]["value_usd"] = (-1).into()), "goods[0].value_usd", "bad_value"),
        (body(|v| v["goods"] = serde_json::json!([])), "goods", "no_goods"),
        (body(|v| v["goods"][1]["hs_code"] = "61091".into()), "goods[1].hs_code", "bad_hs_code"),
        (body(|v| v["goods"][1]["hs_code"] = "61091000001".into()), "goods[1].hs_code", "bad_hs_code"),
        (body(|v| v["origin"] = "cn".into()), "origin", "bad_country"),
        (body(|v| v["route"] = serde_json::json!(["KZ", "KAZ"])), "route[1]", "bad_country"),
        (body(|v| v["submitted"] = "yesterday".into()), "submitted", "wrong_type"),
        (
            body(|v| {
                v["plates"] = serde_json::json!([]);
                v["containers"] = serde_json::json!([]);
            }),
            "plates",
            "no_vehicle",
        ),
        (body(|v| v["plates"] = serde_json::json!(vec!["01A123BC"; 9])), "plates", "too_many"),
        (body(|v| v["containers"] = serde_json::json!(vec!["MSCU1234565"; 9])), "containers", "too_many"),
        (body(|v| v["empty"] = true.into()), "empty", "empty_with_goods"),
        (vec![b' '; MAX_BODY_BYTES_TEST + 1], "body", "too_large"),
    ];
    for (bytes, field, code) in cases {
        let e = parse_declaration(&bytes, &cfg.hs).expect_err(&format!("{field} {code} refused"));
        assert_eq!((e.field(), e.code()), (field, code), "{e}");
    }
    // Declared empty with no goods is fine; NaN (not JSON, but possible in memory) is refused.
    let empty = parse_declaration(
        &body(|v| {
            v["empty"] = true.into();
            v["goods"] = serde_json::json!([]);
        }),
        &cfg.hs,
    )
    .unwrap();
    assert!(empty.declaration.empty);
    let mut d = ok.declaration.clone();
    d.goods[0].net_kg = f64::NAN;
    assert_eq!(check_declaration(d, &cfg.hs).unwrap_err().field(), "goods[0].net_kg");
}

const MAX_BODY_BYTES_TEST: usize = declaration::MAX_BODY_BYTES;

#[test]
fn bad_inputs_are_never_green() {
    let cfg = cfg();
    // An HS code nobody lists: accepted with a note, then yellow with that reason.
    let checked = parse_declaration(
        &body(|v| {
            v["id"] = undrawn(&cfg, "U1").into();
            v["goods"][1]["hs_code"] = "999999".into();
        }),
        &cfg.hs,
    )
    .unwrap();
    assert_eq!(checked.notes.len(), 1);
    assert_eq!(checked.notes[0].code, "unknown_hs_code");
    assert_eq!(checked.notes[0].field, "goods[1].hs_code");
    let mut i = inputs(checked.declaration, reliable("301234567"));
    i.declaration_notes = checked.notes;
    let d = decide(&i, &cfg);
    println!("unknown HS: {:?}\n{}", d.corridor, show(&d));
    assert_eq!(d.corridor, Corridor::Yellow);
    assert_eq!(d.action, Action::DocumentCheck);
    assert!(d.reasons.iter().any(|r| r.rule == "declaration_note" && r.text.contains("999999")));

    // A scan with no declaration.
    let mut i = inputs(textiles(&cfg, "N1"), reliable("301234567"));
    i.declaration = None;
    i.importer = None;
    let d = decide(&i, &cfg);
    println!("no declaration: {:?}\n{}", d.corridor, show(&d));
    assert_eq!(d.corridor, Corridor::Yellow);
    assert_eq!(d.action, Action::ManualReview);
    assert!(!d.random && d.reliability.is_none());
    assert!(d.reasons[0].text.contains("no declaration") && d.reasons[0].text.contains("scan S1"));

    // One plate, two declarations.
    let mut i = inputs(textiles(&cfg, "N2"), reliable("301234567"));
    i.identity.issues.push("plate 01A123BC matches declarations D1 and D2".into());
    let d = decide(&i, &cfg);
    assert_eq!(d.corridor, Corridor::Yellow);
    assert_eq!(d.action, Action::ManualReview);
    assert_eq!(d.reasons[0].text, "plate 01A123BC matches declarations D1 and D2");

    // Manual review wins over secondary radiation; red wins over both.
    let tiles = declaration(&undrawn(&cfg, "N3"), "301234567", vec![line("690721", "tiles", 18_000.0, 12_600.0)]);
    let mut i = inputs(tiles, reliable("301234567"));
    i.radiation = Some(radiation(RadiationResult::Alarm, Some(7.0)));
    i.identity.issues.push("container MSCU1234565 not on the declaration".into());
    let d = decide(&i, &cfg);
    assert_eq!((d.corridor, d.action), (Corridor::Yellow, Action::ManualReview));
    let d = decide(&with_finding(i, "xray_void"), &cfg);
    assert_eq!((d.corridor, d.action), (Corridor::Red, Action::Inspection));

    // An unconfigured lane: yellow.
    let mut i = inputs(textiles(&cfg, "N4"), reliable("301234567"));
    i.lane = "lane-nobody-knows".into();
    let d = decide(&i, &cfg);
    assert_ne!(d.corridor, Corridor::Green, "{}", show(&d));
    assert!(d.reasons.iter().any(|r| r.rule == "lane_unknown"));
}

#[test]
fn random_selection_is_deterministic_and_independent() {
    let cfg = cfg();
    let id = drawn(&cfg, "D");
    let d = declaration(&id, "301234567", vec![line("6204420000", "dresses", 4200.0, 67_200.0)]);
    let dec = decide(&inputs(d.clone(), reliable("301234567")), &cfg);
    assert!(dec.random);
    assert_eq!(dec.corridor, Corridor::Red);
    assert!(dec.reasons.iter().any(|r| r.rule == "random" && r.text == "random selection (2.0 %)"), "{}", show(&dec));
    // The same id is drawn again, and on the light lane (5 %) too.
    assert!(decide(&inputs(d.clone(), reliable("301234567")), &cfg).random);
    let mut light = inputs(d, reliable("301234567"));
    light.lane = "post1-light1".into();
    assert!(decide(&light, &cfg).random);
    // Without a draw, a declaration is never released unseen.
    let mut none = inputs(textiles(&cfg, "N1"), reliable("301234567"));
    assert_eq!(decide(&none, &cfg).corridor, Corridor::Green);
    none.random_draw = None;
    let dec = decide(&none, &cfg);
    assert_eq!(dec.corridor, Corridor::Yellow, "{}", show(&dec));
    assert!(dec.reasons.iter().any(|r| r.rule == "random" && r.text.starts_with("no random draw")), "{}", show(&dec));
}

/// `k` of `n` within 4 binomial standard deviations of rate `p`.
fn within_4_sigma(k: usize, n: usize, p: f64) -> bool {
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    (k as f64 - n as f64 * p).abs() <= 4.0 * sigma
}

/// Must show 2 (issue 17): the draw holds each lane's rate, and no declaration id a
/// declarant chooses predicts it without the post's secret.
#[test]
fn the_random_draw_holds_each_lane_s_rate_and_no_chosen_id_predicts_it_without_the_post_s_secret() {
    let cfg = cfg();
    let (post, other) = (History::in_memory(), History::in_memory());
    const N: usize = 20_000;
    // Per lane, through the rules: the fraction drawn is the lane's own rate.
    for lane in [CARGO, "post1-light1"] {
        let rate = cfg.random_rate(cfg.lane(lane).unwrap());
        let d = declaration("X", "301234567", vec![line("6204420000", "dresses", 4200.0, 67_200.0)]);
        let mut i = inputs(d, reliable("301234567"));
        i.lane = lane.into();
        let drawn = (0..N)
            .filter(|k| {
                let id = format!("{lane}/{k}");
                i.random_draw = Some(post.random_draw(&id));
                i.declaration.as_mut().unwrap().id = id;
                decide(&i, &cfg).random
            })
            .count();
        println!("{lane}: {drawn} of {N} drawn at rate {rate}");
        assert!(within_4_sigma(drawn, N, rate), "{lane}: {drawn} of {N} at rate {rate}");
    }
    let rate = cfg.selectivity.random_rate;
    let ids: Vec<String> = (0..N).map(|k| format!("26001/20261122/{k:07}")).collect();
    // The ids one post never draws are drawn at the full rate by another post (or after a
    // new secret): knowing which ids escaped once tells nothing about the next draw.
    let escaped: Vec<&String> = ids.iter().filter(|id| post.random_draw(id) >= rate).collect();
    let caught = escaped.iter().filter(|id| other.random_draw(id) < rate).count();
    assert!(within_4_sigma(caught, escaped.len(), rate), "{caught} of {}", escaped.len());
    // The keyless prediction (sha256 of the public seed the repository used to ship, and
    // the id) agrees with the post's draw no better than chance.
    let keyless = |id: &str| {
        use sha2::Digest;
        let h = sha2::Sha256::digest(format!("demo-seed-change-me-2025{id}"));
        u64::from_be_bytes(h[..8].try_into().unwrap()) as f64 / 2f64.powi(64)
    };
    let chosen: Vec<&String> = ids.iter().filter(|id| keyless(id) >= rate).collect();
    let drawn = chosen.iter().filter(|id| post.random_draw(id) < rate).count();
    assert!(within_4_sigma(drawn, chosen.len(), rate), "{drawn} of {} ids chosen as 'never drawn'", chosen.len());
    // Two posts' draws are independent, and every draw survives JSON exactly.
    let same = ids.iter().filter(|id| (post.random_draw(id) < rate) == (other.random_draw(id) < rate)).count();
    assert!(within_4_sigma(same, N, rate * rate + (1.0 - rate) * (1.0 - rate)), "{same}");
    for id in &ids[..200] {
        let x = post.random_draw(id);
        assert_eq!(serde_json::from_str::<f64>(&serde_json::to_string(&x).unwrap()).unwrap(), x);
    }
}

// 7 -------------------------------------------------------------------------------------

#[test]
fn history_inspections_flow_back_into_reliability() {
    let cfg = cfg();
    let mut h = History::in_memory();
    let tin = "305550001";
    let mut first = declaration(&undrawn(&cfg, "H1"), tin, vec![line("6204420000", "dresses", 4200.0, 67_200.0)]);
    first.submitted = t0() - Duration::days(3 * 365);
    h.record_declaration(&first).unwrap();
    let mut declarations = vec![first];
    for k in 2..=12 {
        let mut d =
            declaration(&undrawn(&cfg, &format!("H{k}")), tin, vec![line("6204420000", "dresses", 4200.0, 67_200.0)]);
        d.submitted = t0() - Duration::days(30 * (13 - k));
        h.record_declaration(&d).unwrap();
        declarations.push(d);
    }
    // Ten clean inspections.
    for d in &declarations[..10] {
        let r = InspectionResult { declaration_id: d.id.clone(), ts: t0(), found: false, what: None, officer: None };
        h.record_inspection(&r, "A-17", t0()).unwrap();
    }
    let before = h.importer(tin).unwrap();
    assert_eq!((before.declarations, before.inspections, before.hits), (12, 10, 0));
    assert_eq!(before.first_seen, Some(declarations[0].submitted));
    let next = declaration(&undrawn(&cfg, "H13"), tin, vec![line("6204420000", "dresses", 4200.0, 67_200.0)]);
    let s_before = decide(&inputs(next.clone(), before.clone()), &cfg).reliability.unwrap();

    // A hit, as JSON from the officer's system.
    let hit = InspectionResult::from_json(
        format!(
            r#"{{"declaration_id": "{}", "ts": "2025-03-03T12:00:00Z", "found": true, "what": "undeclared cigarettes", "officer": "A-17"}}"#,
            declarations[10].id
        )
        .as_bytes(),
    )
    .unwrap();
    h.record_inspection(&hit, "A-17", t0()).unwrap();
    let after = h.importer(tin).unwrap();
    assert_eq!((after.inspections, after.hits), (11, 1));
    let s_after = decide(&inputs(next, after), &cfg).reliability.unwrap();
    println!("reliability before the hit {}, after {}", s_before.score, s_after.score);
    assert!(s_after.score < s_before.score - 5.0, "{} → {}", s_before.score, s_after.score);

    // Refusals.
    let unknown = InspectionResult { declaration_id: "NOPE".into(), ts: t0(), found: true, what: None, officer: None };
    let e = h.record_inspection(&unknown, "A-17", t0()).unwrap_err();
    assert!(e.contains("declaration_id") && e.contains("NOPE"), "{e}");
    let e = InspectionResult::from_json(br#"{"declaration_id": "H1", "ts": "2025-03-03T12:00:00Z", "found": "yes"}"#)
        .unwrap_err();
    assert!(e.contains("found") || e.contains("invalid type"), "{e}");
    let e = InspectionResult::from_json(
        br#"{"declaration_id": "H1", "ts": "2025-03-03T12:00:00Z", "found": true, "x": 1}"#,
    )
    .unwrap_err();
    assert!(e.contains("unknown field `x`"), "{e}");
}

#[test]
fn history_hit_rates_separate_random_and_targeted() {
    let cfg = cfg();
    let mut h = History::in_memory();
    let made = |h: &mut History, id: String, finding: bool| -> DecisionRecord {
        let d = declaration(&id, "307770001", vec![line("6204420000", "dresses", 4200.0, 67_200.0)]);
        h.record_declaration(&d).unwrap();
        let mut i = inputs(d, reliable("307770001"));
        if finding {
            i = with_finding(i, "xray_void");
        }
        let r = make_record("post1", i, &cfg, BTreeMap::new());
        h.save_decision(&r).unwrap();
        r
    };
    let random_a = made(&mut h, drawn(&cfg, "RA"), false);
    let random_b = made(&mut h, drawn(&cfg, "RB"), false);
    let targeted = made(&mut h, undrawn(&cfg, "TA"), true);
    assert!(random_a.decision.random && random_b.decision.random && !targeted.decision.random);
    assert_eq!(targeted.decision.corridor, Corridor::Red);
    let result = |r: &DecisionRecord, found: bool| InspectionResult {
        declaration_id: r.inputs.declaration.as_ref().unwrap().id.clone(),
        ts: t0(),
        found,
        what: None,
        officer: None,
    };
    assert_eq!(h.record_inspection(&result(&random_a, true), "A-17", t0()), Ok(Some(0)));
    // The same result from the same officer again is a redelivery, not an amendment.
    assert_eq!(h.record_inspection(&result(&random_a, true), "A-17", t0()), Ok(None));
    h.record_inspection(&result(&random_b, true), "A-17", t0()).unwrap();
    h.record_inspection(&result(&targeted, true), "A-17", t0()).unwrap();
    // A corrected result is an amendment: both kept, the latest counted, never twice.
    assert_eq!(h.record_inspection(&result(&random_a, false), "B-02", t0()), Ok(Some(1)));
    let kept = h.inspections(&random_a.inputs.declaration.as_ref().unwrap().id).unwrap();
    assert_eq!(
        kept.iter().map(|k| (k.result.found, k.recorded_by.as_deref())).collect::<Vec<_>>(),
        [(true, Some("A-17")), (false, Some("B-02"))]
    );
    let rates = h.hit_rates().unwrap();
    println!("{rates:?}");
    assert_eq!((rates.random.inspected, rates.random.found, rates.random.rate), (2, 1, Some(0.5)));
    assert_eq!((rates.targeted.inspected, rates.targeted.found, rates.targeted.rate), (1, 1, Some(1.0)));
    let imp = h.importer("307770001").unwrap();
    assert_eq!((imp.inspections, imp.hits, imp.random_inspections, imp.random_hits), (3, 2, 2, 1));

    // Records come back whole, and the latest per declaration.
    assert_eq!(h.decision(&targeted.id).unwrap().as_ref(), Some(&targeted));
    let tid = targeted.inputs.declaration.as_ref().unwrap().id.clone();
    let mut later = targeted.inputs.clone();
    later.at += Duration::minutes(5);
    let mut second = make_record("post1", later, &cfg, BTreeMap::new());
    second.decided_at = targeted.decided_at + Duration::minutes(5);
    h.save_decision(&second).unwrap();
    assert_eq!(h.decision_for(&tid).unwrap().unwrap().id, second.id);
    assert!(h.save_decision(&second).unwrap_err().contains("already stored"));
    assert_eq!(h.decision("nope").unwrap(), None);
    assert_eq!(h.decision_for("nope").unwrap(), None);
}

#[test]
fn history_amendments_and_persistence() {
    let dir = std::env::temp_dir().join(format!("qorovul-risk-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("history.sqlite");
    {
        let mut h = History::open(&path).unwrap();
        let mut d = declaration("AM1", "308880001", vec![line("6204420000", "dresses", 4200.0, 67_200.0)]);
        h.record_declaration(&d).unwrap();
        h.record_declaration(&d).unwrap(); // re-sent unchanged: nothing
        assert_eq!(h.importer("308880001").unwrap().amendments, 0);
        d.goods[0].value_usd = 30_000.0; // amended
        h.record_declaration(&d).unwrap();
        let mut other = d.clone();
        other.importer_tin = "309990001".into();
        let e = h.record_declaration(&other).unwrap_err();
        assert_eq!(e, "id: \"AM1\" belongs to another importer", "the owner is not named");
    }
    let draw = |h: &History| (0..50).map(|k| h.random_draw(&format!("AM{k}"))).collect::<Vec<_>>();
    let first = draw(&History::open(&path).unwrap());
    let h = History::open(&path).unwrap();
    assert_eq!(draw(&h), first, "the post's secret is kept in its history");
    assert_ne!(draw(&History::in_memory()), first, "another post's secret is its own");
    let r = h.importer("308880001").unwrap();
    assert_eq!((r.declarations, r.amendments), (1, 1));
    let nobody = h.importer("300000000").unwrap();
    assert_eq!(nobody, ImporterRecord { tin: "300000000".into(), ..ImporterRecord::default() });
    drop(h);
    std::fs::remove_dir_all(&dir).unwrap();
}

// 8 -------------------------------------------------------------------------------------

#[test]
fn reliability_factors_add_up_and_move_the_right_way() {
    let cfg = cfg();
    let d = textiles(&cfg, "F1");
    let rc = &cfg.reliability;
    let s = |d: &Declaration, h: &ImporterRecord| reliability::score(d, h, rc, &cfg.hs, t0());
    let check_sum = |r: &Reliability| {
        let sum: f64 = r.factors.iter().map(|f| f.points).sum();
        assert!((r.baseline + sum - r.score).abs() < 1e-9, "{} + {sum} ≠ {}", r.baseline, r.score);
        for f in &r.factors {
            assert_eq!(f.points, (f.points * 1000.0).round() / 1000.0, "{} rounded to 3 decimals", f.name);
        }
    };

    let established = s(&d, &reliable("301234567"));
    check_sum(&established);
    for f in &established.factors {
        println!("  {:<12} {:+8.3}  {}", f.name, f.points, f.value);
    }
    println!("  score {} ({:?})", established.score, established.band);

    // A new importer, all else equal, scores lower.
    let mut new = reliable("301234567");
    new.first_seen = Some(t0() - Duration::days(60));
    let newer = s(&d, &new);
    check_sum(&newer);
    assert!(newer.score < established.score - 10.0, "{} vs {}", newer.score, established.score);
    let never = s(&d, &ImporterRecord { tin: "301234567".into(), ..Default::default() });
    assert_eq!(never.factors.iter().find(|f| f.name == "time_active").unwrap().points, -rc.new_max_penalty);

    // Under-valuation lowers the score, more the lower it goes, capped.
    let mut cheap = d.clone();
    cheap.goods[0].value_usd = 67_200.0 * 0.3;
    let mut cheaper = d.clone();
    cheaper.goods[0].value_usd = 67_200.0 * 0.1;
    let mut free = d.clone();
    free.goods[0].value_usd = 0.0;
    let (a, b, c) =
        (s(&cheap, &reliable("301234567")), s(&cheaper, &reliable("301234567")), s(&free, &reliable("301234567")));
    for r in [&a, &b, &c] {
        check_sum(r);
    }
    assert!(established.score > a.score && a.score > b.score && b.score >= c.score);
    let value = |r: &Reliability| r.factors.iter().find(|f| f.name == "value").unwrap().points;
    assert!((value(&a) - (-rc.value_points_per_ln * (rc.value_ratio_low / 0.3).ln())).abs() < 1e-3, "{}", value(&a));
    assert_eq!(value(&c), -rc.value_max_penalty);

    // Beta smoothing: 1 hit of 1 costs points, but not as many as 5 of 5.
    let mut one = reliable("301234567");
    (one.inspections, one.hits) = (1, 1);
    let mut five = reliable("301234567");
    (five.inspections, five.hits) = (5, 5);
    let (one, five) = (s(&d, &one), s(&d, &five));
    assert!(one.score < established.score && five.score < one.score, "{} {}", one.score, five.score);
    assert!(one.band != Band::Low, "one hit of one alone is not Low: {}", one.score);

    // A route through a risk-listed country loses points; amendments too.
    let mut via = d.clone();
    via.route = vec!["AF".into(), "TM".into()];
    assert!(s(&via, &reliable("301234567")).score < established.score);
    let mut amended = reliable("301234567");
    amended.amendments = 150;
    assert!(s(&d, &amended).score < established.score);

    // The clamp is a factor of its own, so the sum still holds.
    let mut worst = d.clone();
    worst.origin = "AF".into();
    worst.goods[0].value_usd = 0.0;
    let mut bad = ImporterRecord {
        tin: "301234567".into(),
        inspections: 20,
        hits: 20,
        amendments: 5,
        declarations: 5,
        ..Default::default()
    };
    bad.first_seen = None;
    let floor = s(&worst, &bad);
    check_sum(&floor);
    assert_eq!(floor.score, 0.0);
    assert_eq!(floor.band, Band::Low);
    assert_eq!(floor.factors.last().unwrap().name, "bounds");
}

// Config ---------------------------------------------------------------------------------

#[test]
fn config_refuses_naming_the_field() {
    let cases = [
        (
            "random_rate = 0.05",
            "random_rate = 0.01",
            "lanes[1] \"post1-light1\".random_rate: 0.01 is below selectivity.random_rate 0.02",
        ),
        ("baseline = 70.0", "baseline = 70.0\ncolour = 1", "unknown field `colour`"),
        ("low_below = 40.0", "low_below = 80.0", "reliability.low_below: 80 is above high_at 65"),
        ("code = \"0803\"", "code = \"08031\"", "hs.code[0] \"08031\".code: an HS code here has 4 or 6 digits"),
        ("ref_usd_per_kg = 0.8", "ref_usd_per_kg = -0.8", "hs.code[0] \"0803\".ref_usd_per_kg"),
        (
            "yellow_findings = []",
            "yellow_findings = [\"xray_void\"]",
            "selectivity.yellow_findings: \"xray_void\" is also in red_findings",
        ),
        (
            "random_rate = 0.02\n",
            "random_rate = 0.02\nrandom_seed = \"demo-seed-change-me-2025\"\n",
            "selectivity.random_seed: no longer read; the random draw is keyed by the post's own secret",
        ),
        ("risk_countries = [\"AF\"]", "risk_countries = [\"Afghanistan\"]", "reliability.risk_countries[0]"),
        (
            "red = [0.06, 0.18]",
            "red = [0.01, 0.03]",
            "lanes[1] \"post1-light1\".red: the high 0.03 is below the random rate 0.05",
        ),
        ("id = \"post1-light1\"", "id = \"post1-cargo1\"", "lanes[1] \"post1-cargo1\".id: another lane has this id"),
    ];
    for (from, to, want) in cases {
        assert!(BUILTIN_CONFIG.contains(from), "{from}");
        let e = RiskConfig::from_toml(&BUILTIN_CONFIG.replacen(from, to, 1)).unwrap_err();
        assert!(e.contains(want), "{from} → {to}: {e}");
    }
}

#[test]
fn hs_table_longest_prefix_and_xray_declaration() {
    let cfg = cfg();
    assert_eq!(cfg.hs.lookup("6907210000").unwrap().code, "690721");
    assert_eq!(cfg.hs.lookup("6907300000").unwrap().code, "6907");
    assert_eq!(cfg.hs.lookup("8517130000").unwrap().name, "Smartphones");
    assert!(cfg.hs.lookup("999999").is_none());
    assert!((25..=60).contains(&cfg.hs.entries.len()));
    // Every chapter the X-ray mix table knows has an entry.
    let xray = crate::xray::HsTable::from_toml(crate::xray::BUILTIN_HS).unwrap();
    for ch in xray.chapters.keys() {
        assert!(cfg.hs.entries.iter().any(|e| e.code[..2] == format!("{ch:02}")), "chapter {ch:02}");
    }
    let d = textiles(&cfg, "XR");
    let x = d.for_xray();
    assert_eq!(x.id.as_deref(), Some(d.id.as_str()));
    assert_eq!((x.goods[0].hs_chapter, x.goods[0].kg, x.empty), (62, 4200.0, false));
}

#[test]
fn simulated_declarations_pass_the_parser() {
    let cfg = cfg();
    let mut notes = 0;
    for i in Population::new(&cfg, CARGO, 7).unwrap().take(500) {
        let Some(d) = &i.declaration else { continue };
        let checked = parse_declaration(&serde_json::to_vec(d).unwrap(), &cfg.hs).unwrap();
        assert_eq!(&checked.declaration, d);
        assert_eq!(checked.notes, i.declaration_notes);
        notes += checked.notes.len();
    }
    assert!(notes > 0, "some unknown HS codes");
    // The same seed, the same traffic.
    let a: Vec<Inputs> = Population::new(&cfg, CARGO, 9).unwrap().take(50).collect();
    let b: Vec<Inputs> = Population::new(&cfg, CARGO, 9).unwrap().take(50).collect();
    assert_eq!(a, b);
    assert!(Population::new(&cfg, "nope", 1).is_err());
}

#[test]
fn a_history_from_before_amendments_is_migrated_and_keeps_counting() {
    let dir = std::env::temp_dir().join(format!("qorovul-risk-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("history.sqlite");
    {
        // The old layout: one overwritten row per declaration, a free-text officer.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE importers (tin TEXT PRIMARY KEY, first_seen TEXT NOT NULL);
             CREATE TABLE declarations (id TEXT PRIMARY KEY, tin TEXT NOT NULL, submitted TEXT NOT NULL,
                 content_sha256 TEXT NOT NULL, amended INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE inspections (declaration_id TEXT PRIMARY KEY, tin TEXT NOT NULL, ts TEXT NOT NULL,
                 random INTEGER NOT NULL, found INTEGER NOT NULL, what TEXT, officer TEXT);
             INSERT INTO importers VALUES ('308880002', '2024-01-01T00:00:00.000000Z');
             INSERT INTO declarations VALUES ('OLD1', '308880002', '2024-01-01T00:00:00.000000Z', 'x', 0);
             INSERT INTO inspections VALUES ('OLD1', '308880002', '2024-01-02T00:00:00.000000Z', 0, 1, 'cigarettes', 'A-17');",
        )
        .unwrap();
    }
    let mut h = History::open(&path).unwrap();
    let imp = h.importer("308880002").unwrap();
    assert_eq!((imp.declarations, imp.inspections, imp.hits), (1, 1, 1));
    let kept = h.inspections("OLD1").unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].result.officer.as_deref(), kept[0].recorded_by.as_deref()), (Some("A-17"), None));
    // New results append to it.
    let r = InspectionResult { declaration_id: "OLD1".into(), ts: t0(), found: false, what: None, officer: None };
    assert_eq!(h.record_inspection(&r, "B-02", t0()), Ok(Some(1)));
    assert_eq!(h.importer("308880002").unwrap().hits, 0, "the latest result counts");
    drop(h);
    // Opened again: nothing migrated twice.
    let h = History::open(&path).unwrap();
    assert_eq!(h.inspections("OLD1").unwrap().len(), 2);
    drop(h);
    std::fs::remove_dir_all(&dir).unwrap();
}
