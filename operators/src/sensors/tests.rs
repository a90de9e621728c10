//! Sensor rules on generated data: Poisson count series from a seeded generator (the code
//! below is the only source of the data), scripted contacts and silences. Every alert is
//! checked against the alert JSON Schema and the episode contract.
//!
//! Source strengths are in sigma of one sample at the background: a "5σ source" adds
//! `5·sqrt(B/T)` cps to the mean rate (B = 200 cps, T = 0.1 s: sigma 44.7 cps).

use super::*;
use crate::rules::ts_from_secs;
use chrono::{DateTime, Utc};
use pipeline::alert::{Phase, Severity};
use pipeline::rng::SplitMix64;
use std::collections::HashSet;
use uuid::Uuid;

/// 2024-06-03 00:00:00 UTC, a Monday (05:00 in Tashkent).
const T0: f64 = 1_717_372_800.0;
const PERIOD: f64 = 0.1;
const GAMMA_BG: f64 = 200.0;
const NEUTRON_BG: f64 = 2.0;

fn at(t: f64) -> DateTime<Utc> {
    ts_from_secs(T0 + t)
}

/// Seconds after `T0` of an alert's event time.
fn secs(a: &Alert) -> f64 {
    a.event_ts.timestamp_micros() as f64 * 1e-6 - T0
}

/// Poisson counts: Knuth's product of uniforms for small means, a rounded normal above 60.
fn poisson(rng: &mut SplitMix64, mean: f64) -> u64 {
    if mean > 60.0 {
        return (mean + mean.sqrt() * rng.gauss()).round().max(0.0) as u64;
    }
    let limit = (-mean).exp();
    let mut k = 0;
    let mut p = rng.unit();
    while p > limit {
        k += 1;
        p *= rng.unit();
    }
    k
}

/// Checks every alert against the JSON Schema and each episode's life: one begin first,
/// nothing after its end.
struct Checker {
    schema: jsonschema::Validator,
    begun: HashSet<Uuid>,
    ended: HashSet<Uuid>,
}

impl Checker {
    fn new() -> Checker {
        let schema: serde_json::Value = serde_json::from_str(pipeline::alert::JSON_SCHEMA).unwrap();
        Checker { schema: jsonschema::validator_for(&schema).unwrap(), begun: HashSet::new(), ended: HashSet::new() }
    }

    fn check(&mut self, alerts: &[Alert]) {
        for a in alerts {
            let json: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
            let errors: Vec<String> =
                self.schema.iter_errors(&json).map(|e| format!("{e} at {}", e.instance_path())).collect();
            assert!(errors.is_empty(), "{} does not fit the schema: {errors:?}", a.to_json());
            assert_eq!(a.source.kind, pipeline::alert::SourceKind::Sensor);
            assert!(!self.ended.contains(&a.episode), "a message after the end: {}", a.to_json());
            match a.phase {
                Phase::Begin => assert!(self.begun.insert(a.episode), "two begins: {}", a.to_json()),
                Phase::Update => assert!(self.begun.contains(&a.episode), "update before begin"),
                Phase::End => {
                    assert!(self.begun.contains(&a.episode), "end before begin");
                    self.ended.insert(a.episode);
                }
            }
        }
    }
}

// ---------------------------------------------------------------- radiation portal

const PORTAL: &str = r#"
[[sensor]]
id = "rpm1-gamma"
name = "Lane 1 RPM gamma"
kind = "gamma_cps"
silent_after_secs = 5

[[radiation_portal]]
id = "rpm1"
name = "Lane 1 RPM"
location = { lat = 41.0, lon = 69.0 }
gamma_sensor = "rpm1-gamma"
neutron_sensor = "rpm1-neutron"
occupancy_sensor = "rpm1-occ"
"#;

/// What the portal sees at one instant.
#[derive(Clone, Copy)]
struct Scene {
    gamma_cps: f64,
    neutron_cps: f64,
    occupied: bool,
}

fn empty(gamma_cps: f64) -> Scene {
    Scene { gamma_cps, neutron_cps: NEUTRON_BG, occupied: false }
}

/// A portal fed on a 10 Hz grid from a scripted scene.
struct Portal {
    sensors: Sensors,
    rng: SplitMix64,
    checker: Checker,
    alerts: Vec<Alert>,
    readings: Vec<PortalReading>,
    /// Every gamma sample sent: (seconds after `T0`, cps).
    gamma: Vec<(f64, f64)>,
    step: u64,
    occupied: Option<bool>,
    /// `false`: every sample at its mean rate.
    noise: bool,
}

impl Portal {
    fn new(seed: u64) -> Portal {
        Portal::with_config(seed, PORTAL)
    }

    fn with_config(seed: u64, toml_text: &str) -> Portal {
        let cfg: SensorsConfig = toml::from_str(toml_text).unwrap();
        Portal {
            sensors: Sensors::new(&cfg, "post-1", Map::new()).unwrap(),
            rng: SplitMix64::new(seed),
            checker: Checker::new(),
            alerts: vec![],
            readings: vec![],
            gamma: vec![],
            step: 0,
            occupied: None,
            noise: true,
        }
    }

    fn t(&self) -> f64 {
        self.step as f64 * PERIOD
    }

    /// Runs the grid up to (not including) `until` seconds after `T0`.
    fn run(&mut self, until: f64, scene: impl Fn(f64) -> Scene) {
        while self.t() < until - 1e-9 {
            let t = self.t();
            let s = scene(t);
            let mut out = SensorsOutput::default();
            if self.occupied != Some(s.occupied) {
                self.occupied = Some(s.occupied);
                let occ = Telemetry::new("rpm1-occ", "occupancy", f64::from(u8::from(s.occupied)), "bool", at(t));
                self.sensors.observe(&occ, &mut out).unwrap();
            }
            let (g, n) = if self.noise {
                let g = poisson(&mut self.rng, s.gamma_cps * PERIOD) as f64 / PERIOD;
                (g, poisson(&mut self.rng, s.neutron_cps * PERIOD) as f64 / PERIOD)
            } else {
                (s.gamma_cps, s.neutron_cps)
            };
            self.gamma.push((t, g));
            self.sensors.observe(&Telemetry::new("rpm1-gamma", "gamma_cps", g, "cps", at(t)), &mut out).unwrap();
            self.sensors.observe(&Telemetry::new("rpm1-neutron", "neutron_cps", n, "cps", at(t)), &mut out).unwrap();
            self.sensors.tick(at(t), &mut out);
            self.checker.check(&out.alerts);
            self.alerts.extend(out.alerts);
            self.readings.extend(out.readings);
            self.step += 1;
        }
    }

    fn rpm(&self) -> &RadiationPortal {
        self.sensors.portal("rpm1").unwrap()
    }

    fn background(&self) -> f64 {
        self.rpm().background_cps(Channel::Gamma).unwrap()
    }

    fn alarms(&self) -> Vec<&Alert> {
        self.alerts.iter().filter(|a| a.kind == "radiation_alarm").collect()
    }
}

/// Sigma of one gamma sample at the nominal background.
fn sigma() -> f64 {
    (GAMMA_BG / PERIOD).sqrt()
}

/// Two minutes of empty portal to learn the background, then a vehicle in the portal for
/// `[120, 128)` s carrying a source of `strength` sigma for `[123, 126)`, counts shielded
/// by `dip` (fraction) while it is in.
fn vehicle(strength: f64, dip: f64) -> impl Fn(f64) -> Scene {
    move |t| {
        let occupied = (120.0..128.0).contains(&t);
        let mut gamma = GAMMA_BG * if occupied { 1.0 - dip } else { 1.0 };
        if (123.0..126.0).contains(&t) {
            gamma += strength * sigma();
        }
        Scene { gamma_cps: gamma, neutron_cps: NEUTRON_BG, occupied }
    }
}

fn print_alarm(label: &str, a: &Alert) {
    let x = &a.attributes;
    println!(
        "{label}: {} {:?} at t={:.1} s: background {} cps, sigma {} cps, threshold {} cps, peak {} cps = {} sigma, {} samples over",
        x["channel"],
        a.phase,
        secs(a),
        x["background_cps"],
        x["sigma_cps"],
        x["threshold_cps"],
        x["peak_cps"],
        x["peak_nsigma"],
        x["samples_over"]
    );
}

#[test]
fn a_5_sigma_source_in_a_passing_vehicle_alarms_at_the_third_sample_over() {
    let mut p = Portal::new(1);
    p.run(120.0, |_| empty(GAMMA_BG));
    let (b, s) = (p.background(), p.rpm().sigma_cps(Channel::Gamma).unwrap());
    assert!((b - GAMMA_BG).abs() < 5.0, "learnt background {b}");
    p.run(140.0, vehicle(5.0, 0.0));

    // Independently: the first run of 3 samples over b + 5 s inside the source's window.
    let threshold = b + 5.0 * s;
    let mut run = 0;
    let mut expected = None;
    for &(t, cps) in p.gamma.iter().filter(|(t, _)| *t >= 120.0) {
        run = if cps >= threshold { run + 1 } else { 0 };
        if run == 3 {
            expected = Some(t);
            break;
        }
    }
    let expected = expected.expect("the generated series has 3 samples in a row over 5 sigma");
    let alarms = p.alarms();
    let begin = alarms.iter().find(|a| a.phase == Phase::Begin).expect("an alarm");
    print_alarm("5σ source", begin);
    assert_eq!(begin.event_ts, at(expected), "begin at the 3rd consecutive sample over the alarm level");
    let t = secs(begin);
    assert!((123.2 - 1e-6..126.0).contains(&t), "begin {t} s within the source, after 3 samples");
    assert!(((t / PERIOD).round() * PERIOD - t).abs() < 1e-6, "begin {t} s lies on the sample grid");
    assert_eq!(begin.severity, Severity::High);
    assert_eq!(begin.attributes["channel"], "gamma");
    assert_eq!(begin.attributes["background_cps"], serde_json::json!((b * 1000.0).round() / 1000.0));
    assert!(begin.attributes["peak_nsigma"].as_f64().unwrap() >= 5.0);
    assert!(begin.attributes["samples_over"].as_u64().unwrap() >= 3);
    let end = alarms.iter().find(|a| a.phase == Phase::End).expect("the alarm ends once the vehicle has left");
    assert!(secs(end) >= 128.0, "ends after the vehicle left, at {}", secs(end));
    print_alarm("  end", end);

    assert_eq!(p.readings.len(), 1);
    let r = &p.readings[0];
    println!(
        "  reading: {:?}, gamma max {:?} sigma, neutron max {:?} sigma, background {:?} cps",
        r.result,
        r.gamma.max_nsigma,
        r.neutron.as_ref().unwrap().max_nsigma,
        r.gamma.background_cps
    );
    assert_eq!(r.result, ReadingResult::Alarm);
    assert!(r.gamma.alarmed && !r.neutron.as_ref().unwrap().alarmed);
    assert_eq!((r.occupancy_start, r.occupancy_end), (at(120.0), at(128.0)));
    let info: Vec<&Alert> = p.alerts.iter().filter(|a| a.kind == "radiation_reading").collect();
    assert_eq!(info.iter().map(|a| a.phase).collect::<Vec<_>>(), [Phase::Begin, Phase::End]);
    assert!(info.iter().all(|a| a.severity == Severity::Info && a.event_ts == at(128.0)));
    assert_eq!(info[0].attributes["result"], "alarm");
    assert_eq!(info[0].episode, info[1].episode);
}

/// The alarm level itself, on noise-free counts (every sample at its mean rate): a source
/// just under 5σ never alarms, one just over alarms at its third sample. Whether a 4σ
/// source alarms on *Poisson* counts is a matter of chance; see [`alarm_rates_over_seeds`].
#[test]
fn at_mean_rates_a_4_sigma_source_does_not_alarm_and_5_sigma_does() {
    for (strength, alarms) in [(4.0, false), (4.99, false), (5.01, true)] {
        let mut p = Portal::new(0);
        p.noise = false;
        p.run(140.0, vehicle(strength, 0.0));
        let r = &p.readings[0];
        println!(
            "mean rates, {strength}σ source: background {:.1} cps, sigma {:.2} cps, max {:?} sigma, {:?}",
            p.background(),
            p.rpm().sigma_cps(Channel::Gamma).unwrap(),
            r.gamma.max_nsigma,
            r.result
        );
        assert_eq!(!p.alarms().is_empty(), alarms, "{strength}σ");
        if alarms {
            assert_eq!(p.alarms()[0].event_ts, at(123.2));
            assert_eq!(r.result, ReadingResult::Alarm);
        } else {
            assert_eq!(r.result, ReadingResult::Clean);
        }
    }
}

#[test]
fn slow_background_drift_does_not_alarm_and_is_followed() {
    let mut p = Portal::new(3);
    p.run(120.0, |_| empty(GAMMA_BG));
    let before = p.background();
    // +30 % over ten minutes, then steady for a minute.
    p.run(780.0, |t| empty(GAMMA_BG * (1.0 + 0.3 * ((t - 120.0) / 600.0).clamp(0.0, 1.0))));
    let after = p.background();
    println!("drift +30 %/10 min: background {before:.1} → {after:.1} cps (true 200 → 260), no alarm");
    assert!(p.alarms().is_empty(), "{:?}", p.alarms());
    assert!((after - 260.0).abs() < 8.0, "background follows the drift: {after}");
}

#[test]
fn the_shielding_dip_does_not_lower_the_background_and_a_source_after_it_alarms() {
    let mut p = Portal::new(4);
    p.run(120.0, |_| empty(GAMMA_BG));
    let before = p.background();
    // The vehicle shields: −20 % for 8 s, no source.
    p.run(129.0, vehicle(0.0, 0.2));
    let frozen = p.background();
    assert_eq!(frozen, before, "frozen while occupied and for the hold-off after");
    p.run(130.0, |_| empty(GAMMA_BG));
    let after = p.background();
    let r = &p.readings[0];
    println!(
        "shielding dip -20 % for 8 s: background {before:.3} before, {frozen:.3} at the end of the hold-off, {after:.3} 1 s later; reading {:?}, gamma max {:?} sigma",
        r.result, r.gamma.max_nsigma
    );
    assert!((after - before).abs() < 1.0, "{before} → {after}");
    assert_eq!(r.result, ReadingResult::Clean);
    assert!(r.gamma.max_nsigma.unwrap() < 3.0);
    assert!(p.alarms().is_empty());

    // A second vehicle right after, shielding as much, with a 7σ source for 3 s.
    p.run(150.0, |t| {
        let occupied = (130.0..138.0).contains(&t);
        let mut gamma = GAMMA_BG * if occupied { 0.8 } else { 1.0 };
        if (132.0..135.0).contains(&t) {
            gamma += 7.0 * sigma();
        }
        Scene { gamma_cps: gamma, neutron_cps: NEUTRON_BG, occupied }
    });
    let alarms = p.alarms();
    let begin = alarms.first().expect("the source after the dip alarms");
    print_alarm("source after the dip", begin);
    assert!((132.2 - 1e-6..135.0).contains(&secs(begin)));
    assert_eq!(begin.attributes["background_cps"], serde_json::json!((after * 1000.0).round() / 1000.0));
    assert_eq!(p.readings[1].result, ReadingResult::Alarm);
}

#[test]
fn a_neutron_source_alarms_on_the_neutron_channel() {
    let mut p = Portal::new(5);
    p.run(140.0, |t| {
        let mut s = vehicle(0.0, 0.0)(t);
        if (123.0..126.0).contains(&t) {
            s.neutron_cps += 100.0;
        }
        s
    });
    let bn = p.rpm().background_cps(Channel::Neutron).unwrap();
    let alarms = p.alarms();
    let begin = alarms.iter().find(|a| a.phase == Phase::Begin).expect("a neutron alarm");
    print_alarm("neutron +100 cps", begin);
    assert_eq!(begin.attributes["channel"], "neutron");
    assert!((123.2 - 1e-6..126.0).contains(&secs(begin)));
    assert!((bn - NEUTRON_BG).abs() < 1.0, "neutron background {bn}");
    assert!(alarms.iter().all(|a| a.attributes["channel"] == "neutron"));
    let r = &p.readings[0];
    assert_eq!(r.result, ReadingResult::Alarm);
    assert!(r.neutron.as_ref().unwrap().alarmed && !r.gamma.alarmed);
}

/// How often each source strength alarms over many seeds: the figures behind the single
/// seeded runs above (a source right at the alarm level alarms about as often as not on
/// any one sample; k = 3 over a 3 s pass lifts that).
#[test]
fn alarm_rates_over_seeds() {
    let runs = 100;
    let mut rates = vec![];
    for strength in [0.0, 4.0, 5.0, 6.0, 7.0] {
        let mut alarmed = 0;
        for seed in 0..runs {
            let mut p = Portal::new(1000 + seed);
            // A shorter warm-up: 30 s of background.
            p.run(30.0, |_| empty(GAMMA_BG));
            p.run(50.0, |t| vehicle(strength, 0.0)(t + 90.0));
            alarmed += u32::from(!p.alarms().is_empty());
        }
        let rate = f64::from(alarmed) / runs as f64;
        println!("source {strength}σ for 3 s, n = 5, k = 3: alarmed in {alarmed}/{runs} runs");
        rates.push(rate);
    }
    assert_eq!(rates[0], 0.0, "no false alarm on background alone");
    assert!(rates[1] <= 0.35, "4σ: {}", rates[1]);
    assert!(rates[2] >= 0.7, "5σ: {}", rates[2]);
    assert!(rates[3] >= 0.95 && rates[4] >= 0.99, "6σ: {}, 7σ: {}", rates[3], rates[4]);
}

// ---------------------------------------------------------------- alarm contacts

/// Tashkent (UTC+5); the store door may be opened on weekdays 08:00–18:00.
const CONTACT: &str = r#"
utc_offset_hours = 5
[[alarm_contact]]
sensor = "store-door"
name = "Evidence store door"
allowed = [{ days = ["mon", "tue", "wed", "thu", "fri"], from = "08:00", to = "18:00" }]
"#;

/// Monday `h` o'clock local (UTC+5), in seconds after `T0`.
fn local(h: f64) -> f64 {
    (h - 5.0) * 3600.0
}

fn door(sensors: &mut Sensors, checker: &mut Checker, t: f64, open: bool) -> Vec<Alert> {
    let mut out = SensorsOutput::default();
    let r = Telemetry::new("store-door", "contact", f64::from(u8::from(open)), "", at(t));
    sensors.observe(&r, &mut out).unwrap();
    checker.check(&out.alerts);
    out.alerts
}

#[test]
fn a_contact_opened_while_armed_alarms_until_closed() {
    let cfg: SensorsConfig = toml::from_str(CONTACT).unwrap();
    let mut s = Sensors::new(&cfg, "post-1", Map::new()).unwrap();
    let mut c = Checker::new();
    assert!(door(&mut s, &mut c, local(22.0), false).is_empty());
    // 23:00 local is 18:00 UTC: armed (outside 08:00–18:00 local).
    let begin = door(&mut s, &mut c, local(23.0), true);
    assert_eq!(begin.len(), 1);
    assert_eq!(
        (begin[0].kind.as_str(), begin[0].phase, begin[0].event_ts),
        ("alarm_contact", Phase::Begin, at(local(23.0)))
    );
    assert_eq!(begin[0].severity, Severity::High);
    assert_eq!(begin[0].source.id, "store-door");
    assert!(door(&mut s, &mut c, local(23.01), true).is_empty(), "still open: no second begin");
    let end = door(&mut s, &mut c, local(23.1), false);
    assert_eq!((end.len(), end[0].phase, end[0].episode), (1, Phase::End, begin[0].episode));
    println!("contact: open 23:00 local → begin at {}, closed → end at {}", begin[0].event_ts, end[0].event_ts);

    // 10:00 local on Tuesday (05:00 UTC): allowed, nothing either way.
    let day = 86_400.0;
    assert!(door(&mut s, &mut c, day + local(10.0), true).is_empty());
    assert!(door(&mut s, &mut c, day + local(10.5), false).is_empty());
    // Wednesday 07:00 local is 02:00 UTC: armed (were the schedule read in UTC, it would not be).
    assert_eq!(door(&mut s, &mut c, 2.0 * day + local(7.0), true).len(), 1);
    assert_eq!(door(&mut s, &mut c, 2.0 * day + local(7.2), false).len(), 1);
    // Wednesday 20:00 local is 15:00 UTC: armed (were it read in UTC, allowed).
    assert_eq!(door(&mut s, &mut c, 2.0 * day + local(20.0), true).len(), 1);
    assert_eq!(door(&mut s, &mut c, 2.0 * day + local(20.2), false).len(), 1);
    // Saturday 10:00 local: armed (weekdays only).
    assert_eq!(door(&mut s, &mut c, 5.0 * day + local(10.0), true).len(), 1);
}

#[test]
fn a_contact_left_open_into_armed_hours_alarms_at_the_tick() {
    let cfg: SensorsConfig = toml::from_str(CONTACT).unwrap();
    let mut s = Sensors::new(&cfg, "post-1", Map::new()).unwrap();
    let mut c = Checker::new();
    assert!(door(&mut s, &mut c, local(17.5), true).is_empty(), "opened in allowed hours");
    let mut out = SensorsOutput::default();
    s.tick(at(local(17.99)), &mut out);
    s.tick(at(local(18.0)), &mut out);
    s.tick(at(local(18.5)), &mut out);
    c.check(&out.alerts);
    // (The door also went silent: it sent nothing for a minute.)
    out.alerts.retain(|a| a.kind == "alarm_contact");
    assert_eq!(out.alerts.len(), 1);
    assert_eq!(out.alerts[0].attributes["reason"], "open when armed");
    assert_eq!(out.alerts[0].event_ts, at(local(18.0)));
    assert_eq!(door(&mut s, &mut c, local(18.6), false)[0].phase, Phase::End);
}

#[test]
fn bad_contact_config_names_the_field() {
    let text = CONTACT.replace("\"08:00\"", "\"8h\"");
    let e = Sensors::new(&toml::from_str(&text).unwrap(), "post-1", Map::new()).err().unwrap();
    assert!(e.starts_with("alarm_contact[0] \"store-door\".allowed[0].from"), "{e}");
    let text = CONTACT.replace("utc_offset_hours = 5", "utc_offset_hours = 5.1");
    let e = Sensors::new(&toml::from_str(&text).unwrap(), "post-1", Map::new()).err().unwrap();
    assert!(e.starts_with("utc_offset_hours"), "{e}");
    let e = toml::from_str::<SensorsConfig>(&format!("{CONTACT}armed = true\n")).unwrap_err();
    assert!(e.to_string().contains("unknown field `armed`"), "{e}");
}

// ---------------------------------------------------------------- silence

#[test]
fn a_silent_sensor_begins_once_and_ends_on_data() {
    let cfg = SilenceConfig { silent_after_secs: 10.0, ..SilenceConfig::default() };
    let mut s = Silence::new(&cfg, "post-1", Map::new()).unwrap();
    s.watch("mast-temp", "Mast temperature", None, None);
    let mut c = Checker::new();
    let mut out = vec![];
    s.tick(at(0.0), &mut out); // watching starts
    s.observe("gps-7", at(1.0), pipeline::alert::ClockState::Synced, &mut out);
    s.observe("mast-temp", at(2.0), pipeline::alert::ClockState::Synced, &mut out);
    s.tick(at(5.0), &mut out);
    assert!(out.is_empty());
    s.tick(at(11.5), &mut out);
    // gps-7 last spoke at 1 s: silent from 11 s; mast-temp (2 s) not yet.
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].kind.as_str(), out[0].source.id.as_str(), out[0].phase),
        ("sensor_silent", "gps-7", Phase::Begin)
    );
    assert_eq!((out[0].event_ts, out[0].ingest_ts, out[0].severity), (at(11.0), at(11.5), Severity::Medium));
    s.tick(at(12.0), &mut out);
    s.tick(at(30.0), &mut out);
    assert_eq!(out.iter().filter(|a| a.source.id == "gps-7").count(), 1, "no duplicate begin");
    assert!(s.is_silent("gps-7") && s.is_silent("mast-temp"));
    s.observe("gps-7", at(31.0), pipeline::alert::ClockState::Synced, &mut out);
    let end = out.last().unwrap();
    assert_eq!((end.phase, end.episode, end.event_ts), (Phase::End, out[0].episode, at(31.0)));
    assert_eq!(end.attributes["silent_secs"], 30.0);
    assert!(!s.is_silent("gps-7"));
    s.tick(at(40.0), &mut out);
    let n = out.len();
    s.tick(at(41.0), &mut out);
    assert_eq!(out.len(), n + 1, "silent again from 41 s: a new episode");
    assert_ne!(out[n].episode, out[0].episode);
    c.check(&out);
    for a in &out {
        println!("silence: {} {:?} at {:.0} s", a.source.id, a.phase, secs(a));
    }
}

#[test]
fn a_registered_sensor_that_never_speaks_is_silent() {
    let mut p = Portal::new(9);
    let mut out = SensorsOutput::default();
    p.sensors.tick(at(0.0), &mut out);
    p.sensors.tick(at(4.9), &mut out);
    assert!(out.alerts.is_empty());
    p.sensors.tick(at(5.0), &mut out);
    assert_eq!(out.alerts.len(), 1);
    assert_eq!(out.alerts[0].source.name, "Lane 1 RPM gamma");
    assert_eq!(out.alerts[0].attributes["last_reading"], serde_json::Value::Null);
    Checker::new().check(&out.alerts);
}

// ---------------------------------------------------------------- telemetry

#[test]
fn bad_readings_are_refused_naming_the_field() {
    let now = at(0.0);
    let ok = Telemetry::new("rpm1-gamma", "gamma_cps", 210.0, "cps", now);
    assert_eq!(ok.validate(now, 5.0), Ok(()));
    let with = |f: &dyn Fn(&mut Telemetry)| {
        let mut t = ok.clone();
        f(&mut t);
        t.validate(now, 5.0).unwrap_err()
    };
    let cases: Vec<(TelemetryError, &str, &str)> = vec![
        (with(&|t| t.sensor.clear()), "sensor", "empty_sensor"),
        (with(&|t| t.sensor = "rpm1/gamma".into()), "sensor", "bad_sensor_id"),
        (with(&|t| t.kind = " ".into()), "kind", "empty_kind"),
        (with(&|t| t.value = f64::NAN), "value", "not_finite"),
        (with(&|t| t.value = f64::INFINITY), "value", "not_finite"),
        (with(&|t| t.value = -3.0), "value", "negative_count"),
        (with(&|t| t.unit = "uSv/h".into()), "unit", "unit_mismatch"),
        (with(&|t| (t.kind, t.unit, t.value) = ("occupancy".into(), "bool".into(), 0.5)), "value", "not_boolean"),
        (with(&|t| (t.kind, t.unit, t.value) = ("contact".into(), "cps".into(), 1.0)), "unit", "unit_mismatch"),
        (with(&|t| (t.kind, t.unit) = ("temperature".into(), "F".into())), "unit", "unit_mismatch"),
        (with(&|t| t.event_ts = at(3600.0)), "event_ts", "future"),
    ];
    for (e, field, reason) in &cases {
        println!("refused: {e}");
        assert_eq!((e.field(), e.reason()), (*field, *reason), "{e}");
        assert!(e.to_string().starts_with(field), "{e}");
    }
    // A reading from an hour ahead is refused; sensor clock drift within the default
    // tolerance (1 s) is not, and a second and a half is.
    assert!(matches!(cases.last().unwrap().0, TelemetryError::Future { ahead_secs, .. } if ahead_secs == 3600.0));
    let tolerance = SensorsConfig::default().max_future_secs;
    let mut soon = ok.clone();
    soon.event_ts = at(0.9);
    assert_eq!(soon.validate(now, tolerance), Ok(()));
    soon.event_ts = at(1.5);
    assert_eq!(soon.validate(now, tolerance).unwrap_err().reason(), "future");
    // Unknown kinds pass with any unit.
    let mut odd = ok.clone();
    (odd.kind, odd.unit) = ("humidity".into(), "%".into());
    assert_eq!(odd.validate(now, 5.0), Ok(()));
}

#[test]
fn sensors_count_refused_readings_and_keep_going() {
    let mut p = Portal::new(10);
    let mut out = SensorsOutput::default();
    let mut future = Telemetry::new("rpm1-gamma", "gamma_cps", 200.0, "cps", at(3600.0));
    future.ingest_ts = Some(at(0.0));
    assert_eq!(p.sensors.observe(&future, &mut out).unwrap_err().reason(), "future");
    let wrong = Telemetry::new("rpm1-gamma", "neutron_cps", 2.0, "cps", at(0.0));
    let e = p.sensors.observe(&wrong, &mut out).unwrap_err();
    assert_eq!((e.field(), e.reason()), ("kind", "wrong_kind"));
    let mut unstamped = Telemetry::new("rpm1-gamma", "gamma_cps", 200.0, "cps", at(0.0));
    unstamped.ingest_ts = None;
    assert_eq!(p.sensors.observe(&unstamped, &mut out).unwrap_err().field(), "ingest_ts");
    let json = r#"{"sensor":"rpm1-gamma","kind":"gamma_cps","value":1,"unit":"cps","event_ts":"2024-06-03T00:00:00Z","extra":1}"#;
    assert!(serde_json::from_str::<Telemetry>(json).unwrap_err().to_string().contains("unknown field `extra`"));
    assert_eq!(p.sensors.rejected().values().sum::<u64>(), 3);
    assert!(out.alerts.is_empty() && out.readings.is_empty());
    // The rules were not touched: the portal still learns and clears a vehicle.
    p.run(140.0, vehicle(0.0, 0.0));
    assert_eq!(p.readings[0].result, ReadingResult::Clean);
}

/// Issue 17: a sample stamped ahead of the node cannot blind the portal. An outsider sends
/// one gamma sample 4 s ahead (refused and counted) and one 0.9 s ahead (taken, at its
/// receipt), just before a vehicle's source reaches the detector; the genuine detector's
/// samples still raise the alarm at the third sample over, none of them dropped as late.
/// With a generous configured tolerance the 4 s sample is taken, and still blinds nothing.
#[test]
fn a_sample_from_the_future_cannot_blind_the_portal_and_the_real_source_still_alarms() {
    for (tolerance, refused) in [(None, 1), (Some(5.0), 0)] {
        let config = match tolerance {
            None => PORTAL.to_string(),
            Some(s) => format!("max_future_secs = {s:.1}\n{PORTAL}"),
        };
        let mut p = Portal::with_config(0, &config);
        p.noise = false;
        let scene = vehicle(6.0, 0.0);
        p.run(122.95, &scene);
        let mut out = SensorsOutput::default();
        // Received between the genuine samples of 122.9 s and 123.0 s.
        let forged = |received: f64, ahead: f64| {
            let mut t = Telemetry::new("rpm1-gamma", "gamma_cps", GAMMA_BG, "cps", at(received + ahead));
            t.ingest_ts = Some(at(received));
            t
        };
        let noted =
            || pipeline::metrics::global().value("qv_feed_noted_total", &[("feed", "telemetry"), ("note", "clamped")]);
        let noted_before = noted();
        let four = p.sensors.observe(&forged(122.93, 4.0), &mut out);
        match tolerance {
            None => {
                let e = four.unwrap_err();
                println!("refused: {e}");
                assert_eq!((e.field(), e.reason()), ("event_ts", "future"));
            }
            Some(_) => four.unwrap(),
        }
        p.sensors.observe(&forged(122.96, 0.9), &mut out).unwrap();
        assert_eq!(p.sensors.rejected().get("future").copied().unwrap_or(0), refused, "{tolerance:?}");
        assert_eq!(p.sensors.clamped(), 2 - refused, "taken samples from the future are taken at receipt");
        assert_eq!(noted(), noted_before + 2 - refused);

        // The rightful stream: the source passes from 123 s; the alarm begins at its 3rd sample.
        p.run(140.0, &scene);
        assert_eq!(p.rpm().late_readings(), 0, "no genuine sample was made late ({tolerance:?})");
        let begin = p.alarms().into_iter().find(|a| a.phase == Phase::Begin).expect("the real source alarms");
        assert_eq!(begin.event_ts, at(123.2), "{tolerance:?}");
        assert_eq!(p.readings[0].result, ReadingResult::Alarm);
    }
}

#[test]
fn bad_portal_config_names_the_field() {
    let bad = |from: &str, to: &str| {
        let text = PORTAL.replace(from, to);
        Sensors::new(&toml::from_str(&text).unwrap(), "post-1", Map::new()).err().unwrap()
    };
    let e = bad("occupancy_sensor = \"rpm1-occ\"", "occupancy_sensor = \"rpm1-occ\"\nn_sigma = -1");
    assert_eq!(e, "radiation_portal[0] \"rpm1\".n_sigma: -1 must be positive");
    let e = bad("occupancy_sensor = \"rpm1-occ\"", "occupancy_sensor = \"rpm1-gamma\"");
    assert!(e.contains("one sensor in two roles"), "{e}");
    let e = bad("kind = \"gamma_cps\"", "kind = \"temperature\"");
    assert!(
        e.starts_with("radiation_portal[0] \"rpm1\".gamma_sensor: sensor \"rpm1-gamma\" is of kind temperature"),
        "{e}"
    );
    let e = bad("occupancy_sensor = \"rpm1-occ\"", "occupancy_sensor = \"rpm1-occ\"\nk_consecutive = 0");
    assert!(e.contains("k_consecutive"), "{e}");
    let e = toml::from_str::<SensorsConfig>(
        &PORTAL
            .replace("n_sigma", "nsigma")
            .replace("occupancy_sensor = \"rpm1-occ\"", "occupancy_sensor = \"rpm1-occ\"\nsigmas = 5"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown field `sigmas`"), "{e}");
}
