//! The evaluation-only set of typed 102 narratives (`tests/data/calls/typed-eval.jsonl`) is frozen: written
//! before any tuning of the triage for these forms, never edited, never used to tune. This test guards that.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};

const SET: &str = include_str!("data/calls/typed-eval.jsonl");
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
    let actual: String = Sha256::digest(SET.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
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
