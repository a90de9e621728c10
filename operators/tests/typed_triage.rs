//! 102 triage on narratives as people type them: Russian in Latin letters, Uzbek without
//! apostrophes, in the reformed letters or on a Russian keyboard, Russian and Uzbek mixed,
//! notes of a few words. Two sets, each line `{"form", "lang", "type", "text"}`:
//!
//! - `typed.jsonl`, labelled for tests; the lexicon may be tuned on it. Its figures are
//!   asserted: accuracy per writing form and per language, recall of life-threatening types.
//! - `typed-eval.jsonl`, evaluation-only: written before any tuning for these forms, by
//!   someone who had not read the triage, never edited (its sha256 is checked here), never
//!   tuned on. Its figures are printed, not asserted, with the number of logged runs; every
//!   triage config it is run against has its row in `typed-eval-runs.md` (a test checks it),
//!   appended by `QV_TYPED_EVAL_LOG=1 cargo test -p qorovul-operators --test typed_triage`.

use qorovul_operators::calls::embed::Embedder;
use qorovul_operators::calls::triage::{Triage, TriageConfig, TriageResult, normalise};
use qorovul_operators::detect::Manifest;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};

const SET: &str = include_str!("data/calls/typed-eval.jsonl");
const TUNABLE: &str = include_str!("data/calls/typed.jsonl");
const RUNS_LOG: &str = "tests/data/calls/typed-eval-runs.md";
const SET_SHA256: &str = include_str!("data/calls/typed-eval.sha256");

const FORMS: [&str; 7] = ["clean", "translit", "no_apostrophe", "reformed", "ru_keyboard", "mixed", "short"];
const LANGS: [&str; 5] = ["ru", "uz_latn", "uz_cyrl", "en", "ru_uz"];
const TYPES: [&str; 13] = [
    "armed_threat",
    "assault_injury",
    "domestic_dispute",
    "fire",
    "traffic_accident_injury",
    "missing_person",
    "traffic_accident",
    "medical",
    "theft_burglary",
    "public_disorder",
    "suspicious_object",
    "noise",
    "other",
];
const KEYS: [&str; 4] = ["form", "lang", "type", "text"];

#[test]
fn the_evaluation_only_set_is_intact_and_covers_every_form() {
    let actual = sha256(SET);
    let line = SET_SHA256.trim_end();
    let (expected, name) = line.split_once("  ").expect("typed-eval.sha256 is `<hex>  typed-eval.jsonl`");
    assert_eq!(name, "typed-eval.jsonl", "typed-eval.sha256 names another file");
    assert_eq!(
        actual, expected,
        "the evaluation-only set typed-eval.jsonl was edited; it must not be (log runs in typed-eval-runs.md instead)"
    );

    let mut per_form: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
    let mut texts = HashSet::new();
    let mut total = 0;
    for (i, raw) in SET.lines().enumerate() {
        let n = i + 1;
        let value: serde_json::Value =
            serde_json::from_str(raw).unwrap_or_else(|e| panic!("line {n} is not JSON: {e}"));
        let object = value.as_object().unwrap_or_else(|| panic!("line {n} is not a JSON object"));
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        let mut sorted_keys = keys.clone();
        sorted_keys.sort_unstable();
        let mut expected_keys = KEYS.to_vec();
        expected_keys.sort_unstable();
        assert_eq!(sorted_keys, expected_keys, "line {n} must have exactly the keys {KEYS:?}");
        let positions: Vec<Option<usize>> = KEYS.iter().map(|k| raw.find(&format!("\"{k}\":"))).collect();
        assert!(
            positions.iter().all(Option::is_some) && positions.windows(2).all(|w| w[0] < w[1]),
            "line {n}: keys must be in the order {KEYS:?}"
        );
        let field =
            |key: &str| -> &str { object[key].as_str().unwrap_or_else(|| panic!("line {n}: `{key}` is not a string")) };
        let (form, lang, kind, text) = (field("form"), field("lang"), field("type"), field("text"));
        let form =
            FORMS.iter().copied().find(|f| *f == form).unwrap_or_else(|| panic!("line {n}: unknown form {form}"));
        assert!(LANGS.contains(&lang), "line {n}: unknown lang {lang}");
        let kind =
            TYPES.iter().copied().find(|t| *t == kind).unwrap_or_else(|| panic!("line {n}: unknown type {kind}"));
        assert!(!text.trim().is_empty(), "line {n}: empty text");
        assert!(texts.insert(text.to_owned()), "line {n}: duplicate text");
        *per_form.entry(form).or_default() += 1;
        *per_type.entry(kind).or_default() += 1;
        total += 1;
    }

    println!("typed-eval.jsonl: {total} narratives");
    for form in FORMS {
        println!("  form {form:<14} {}", per_form.get(form).copied().unwrap_or(0));
    }
    for kind in TYPES {
        println!("  type {kind:<24} {}", per_type.get(kind).copied().unwrap_or(0));
    }
    for form in FORMS {
        let count = per_form.get(form).copied().unwrap_or(0);
        assert!(count >= 20, "form {form} has {count} narratives; at least 20 are needed");
    }
    assert!(total >= 100, "{total} narratives; at least 100 are needed");
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash a run is logged under: of the parsed config, so that comments do not count.
fn config_sha256(cfg: &TriageConfig) -> String {
    sha256(&serde_json::to_string(cfg).expect("the config serialises"))
}

/// One labelled narrative.
struct Row {
    form: String,
    lang: String,
    kind: String,
    text: String,
}

fn parse(set: &str, name: &str) -> Vec<Row> {
    set.lines()
        .enumerate()
        .map(|(i, line)| {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{name} line {}: {e}", i + 1));
            let field = |k: &str| {
                v[k].as_str().unwrap_or_else(|| panic!("{name} line {}: `{k}` is not a string", i + 1)).to_string()
            };
            Row { form: field("form"), lang: field("lang"), kind: field("type"), text: field("text") }
        })
        .collect()
}

/// A ratio as `87.5% (7/8)`.
fn pct((ok, n): (usize, usize)) -> String {
    format!("{:.1}% ({ok}/{n})", 100.0 * ok as f64 / n.max(1) as f64)
}

/// What one way of classifying got right on one set.
#[derive(Default)]
struct Figures {
    per_form: BTreeMap<String, (usize, usize)>,
    per_lang: BTreeMap<String, (usize, usize)>,
    life: (usize, usize),
    /// Narratives whose detected writing form is the labelled one.
    form_detected: (usize, usize),
    /// `(confidence, right)` per narrative, for the review table.
    confidence: Vec<(f32, bool)>,
    misses: Vec<String>,
}

impl Figures {
    fn overall(&self) -> (usize, usize) {
        self.per_form.values().fold((0, 0), |(a, b), (x, y)| (a + x, b + y))
    }

    /// At a review threshold: the share of narratives marked for review, and the accuracy
    /// of the rest.
    fn review_at(&self, threshold: f32) -> ((usize, usize), (usize, usize)) {
        let rest: Vec<bool> = self.confidence.iter().filter(|(c, _)| *c >= threshold).map(|(_, ok)| *ok).collect();
        let n = self.confidence.len();
        ((n - rest.len(), n), (rest.iter().filter(|ok| **ok).count(), rest.len()))
    }

    fn print(&self, name: &str, review_below: f32) {
        let line = |m: &BTreeMap<String, (usize, usize)>| {
            m.iter().map(|(k, v)| format!("{k} {}", pct(*v))).collect::<Vec<_>>().join(", ")
        };
        println!("{name}: overall {}", pct(self.overall()));
        println!("  per form: {}", line(&self.per_form));
        println!("  per language: {}", line(&self.per_lang));
        println!("  life-threatening recall {}", pct(self.life));
        println!("  writing form detected as labelled: {}", pct(self.form_detected));
        println!("  confidence table (review threshold {review_below} is the config's):");
        println!("    {:>9}  {:>22}  {:>22}", "threshold", "marked for review", "accuracy of the rest");
        for t in [0.05, 0.1, review_below, 0.3, 0.4] {
            let (review, rest) = self.review_at(t);
            let mark = if t == review_below { " <- config" } else { "" };
            println!("    {t:>9.2}  {:>22}  {:>22}{mark}", pct(review), pct(rest));
        }
    }
}

/// Classifies every row (with the embedding when `embedder` is given, as the desk does) and
/// counts. `label_of` maps a predicted type to the set's taxonomy.
fn evaluate(
    rows: &[Row],
    triage: &Triage,
    mut embedder: Option<&mut Embedder>,
    label_of: impl Fn(&str) -> String,
) -> Figures {
    let cfg = triage.config();
    let life: HashSet<&str> = cfg.types.iter().filter(|t| t.life_threatening).map(|t| t.id.as_str()).collect();
    let mut f = Figures::default();
    for row in rows {
        let r: TriageResult = match embedder.as_deref_mut() {
            Some(e) => triage.classify_embedded(e, &row.text, None),
            None => triage.classify(&row.text, None, None),
        };
        let got = label_of(&r.incident_type);
        let ok = got == row.kind;
        for (map, k) in [(&mut f.per_form, &row.form), (&mut f.per_lang, &row.lang)] {
            let e = map.entry(k.clone()).or_default();
            e.0 += ok as usize;
            e.1 += 1;
        }
        if life.contains(row.kind.as_str()) {
            f.life.0 += ok as usize;
            f.life.1 += 1;
        }
        f.form_detected.0 += (r.form.name() == row.form) as usize;
        f.form_detected.1 += 1;
        f.confidence.push((r.confidence, ok));
        if !ok {
            let top: Vec<String> = r.top.iter().map(|t| format!("{}={:.2}", t.incident_type, t.score)).collect();
            f.misses.push(format!(
                "  [{}/{}] want {} got {got} ({:.2}, {:?}, read as {:?}/{:?}) top {top:?}: {}",
                row.form, row.lang, row.kind, r.confidence, r.source, r.language, r.form, row.text
            ));
        }
    }
    f
}

fn embedder() -> Option<Embedder> {
    match Embedder::load(&Manifest::builtin(), 1) {
        Ok(e) => Some(e),
        Err(e) => {
            println!("embedding model not available ({e}): keyword figures only");
            None
        }
    }
}

#[test]
fn typed_narratives_are_triaged_in_every_form() {
    let rows = parse(TUNABLE, "typed.jsonl");
    let cfg = TriageConfig::default_config();
    // the set's shape: every form and language with enough narratives, types from the taxonomy
    for form in FORMS {
        let n = rows.iter().filter(|r| r.form == form).count();
        assert!(n >= 20, "typed.jsonl: form {form} has {n} narratives; at least 20 are needed");
    }
    for r in &rows {
        assert!(cfg.types.iter().any(|t| t.id == r.kind), "typed.jsonl: type {} is not in the taxonomy", r.kind);
        assert!(LANGS.contains(&r.lang.as_str()), "typed.jsonl: unknown lang {}", r.lang);
    }
    // the tunable set shares no narrative with the evaluation-only set or the config's examples
    let key = |t: &str| normalise(t).split_whitespace().collect::<Vec<_>>().join(" ");
    let elsewhere: HashSet<String> = parse(SET, "typed-eval.jsonl")
        .iter()
        .map(|r| key(&r.text))
        .chain(cfg.examples().iter().map(|(_, _, t)| key(t)))
        .collect();
    let shared: Vec<&str> =
        rows.iter().filter(|r| elsewhere.contains(&key(&r.text))).map(|r| r.text.as_str()).collect();
    assert!(shared.is_empty(), "typed.jsonl shares narratives with typed-eval.jsonl or the examples: {shared:?}");

    let review_below = cfg.scoring.review_below;
    let lexicon = Triage::new(cfg.clone(), None).unwrap();
    let lex = evaluate(&rows, &lexicon, None, str::to_string);
    lex.print("typed.jsonl, keywords only", review_below);
    println!("misses, keywords only:\n{}", lex.misses.join("\n"));
    let fin = match embedder() {
        Some(mut e) => {
            let combined = Triage::with_embedder(cfg.clone(), &mut e).unwrap();
            let f = evaluate(&rows, &combined, Some(&mut e), str::to_string);
            f.print("typed.jsonl, keywords + e5 embedding (as the desk runs)", review_below);
            f
        }
        None => lex,
    };
    println!("misses:\n{}", fin.misses.join("\n"));
    for (name, map) in [("form", &fin.per_form), ("language", &fin.per_lang)] {
        for (k, (ok, n)) in map {
            assert!(*ok as f64 >= 0.95 * *n as f64, "{name} {k}: {ok}/{n} below 95 %");
        }
    }
    let (ok, n) = fin.life;
    assert!(ok as f64 >= 0.98 * n as f64, "life-threatening recall {ok}/{n} below 98 %");
}

/// The rows of the runs log: `(date, config sha256)`.
fn logged_runs(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter(|l| l.starts_with("| 2"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].to_string(), cells[2].to_string())
        })
        .collect()
}

#[test]
fn the_evaluation_only_set_is_run_and_logged() {
    let rows = parse(SET, "typed-eval.jsonl");
    let cfg = TriageConfig::default_config();
    let config_sha = config_sha256(&cfg);
    // a predicted type the set's taxonomy lacks counts as the type it refines
    // (domestic_violence → domestic_dispute, missing_child → missing_person)
    let label_of = |id: &str| -> String {
        if TYPES.contains(&id) {
            return id.to_string();
        }
        cfg.types.iter().find(|t| t.id == id).and_then(|t| t.refines.clone()).unwrap_or_else(|| id.to_string())
    };
    let review_below = cfg.scoring.review_below;
    let lexicon = Triage::new(cfg.clone(), None).unwrap();
    let lex = evaluate(&rows, &lexicon, None, label_of);
    lex.print("typed-eval.jsonl (evaluation only), keywords only", review_below);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(RUNS_LOG);
    let mut log = std::fs::read_to_string(&path).unwrap();
    // runs are logged with the desk's path, so only where the embedding model is
    if let Some(mut e) = embedder() {
        let combined = Triage::with_embedder(cfg.clone(), &mut e).unwrap();
        let f = evaluate(&rows, &combined, Some(&mut e), label_of);
        f.print("typed-eval.jsonl (evaluation only), keywords + e5 embedding (as the desk runs)", review_below);
        if std::env::var_os("QV_TYPED_EVAL_LOG").is_some() {
            log_run(&path, &mut log, &config_sha, &f, &lex, review_below);
        }
    }
    let runs = logged_runs(&log);
    println!("typed-eval.jsonl has been run {} times (logged in {RUNS_LOG})", runs.len());
    assert!(
        runs.iter().any(|(_, sha)| *sha == config_sha),
        "the triage config {config_sha} has no run logged in {RUNS_LOG}: log this run with \
         QV_TYPED_EVAL_LOG=1 cargo test -p qorovul-operators --test typed_triage"
    );
}

/// Appends this run's row to the runs log.
fn log_run(path: &std::path::Path, log: &mut String, config_sha: &str, f: &Figures, lex: &Figures, review_below: f32) {
    let form = |k: &str| {
        let (ok, n) = f.per_form.get(k).copied().unwrap_or_default();
        format!("{:.1}", 100.0 * ok as f64 / n.max(1) as f64)
    };
    let (ok, n) = f.overall();
    let (review, rest) = f.review_at(review_below);
    let row = format!(
        "| {} | {config_sha} | {:.1} | {} | review {} · rest {} · keywords only {} · life recall {} |\n",
        chrono::Utc::now().format("%Y-%m-%d"),
        100.0 * ok as f64 / n as f64,
        FORMS.map(form).join(" | "),
        pct(review),
        pct(rest),
        pct(lex.overall()),
        pct(f.life),
    );
    log.push_str(&row);
    std::fs::write(path, &*log).unwrap();
    println!("logged: {row}");
}

#[test]
fn the_embedding_reads_russian_typed_in_latin_letters_in_cyrillic() {
    let t = Triage::new(TriageConfig::default_config(), None).unwrap();
    assert_eq!(t.embedding_text("u nas v pod'ezde pozhar, dym valit"), "у нас в подьезде пожар, дым валит");
    let clean = "Горит квартира на третьем этаже";
    assert_eq!(t.embedding_text(clean), clean);
}
