//! Call triage: incident type and priority from the narrative of a 102 call.
//!
//! The one idea: two kinds of evidence are scored per incident type and combined. A keyword
//! lexicon per language (English, Russian, Uzbek Latin, Uzbek Cyrillic; all of them are tried
//! on every call, so Russian–Uzbek code-switching needs nothing special) gives weighted
//! keyword hits; the narrative's sentence embedding (multilingual-e5-small, computed by the
//! caller with [`super::embed::Embedder`]) gives the mean cosine to the `k` nearest labelled
//! examples of each type. Both become per-type shares, mixed with `lexicon_weight`; the
//! confidence is the margin between the best and the second type, scaled down for notes of
//! a few words. The call-taker's own type and priority, when given, always win.
//!
//! Taxonomy, lexicons, urgency cues, examples and thresholds are data: `configs/triage.toml`,
//! compiled in as [`DEFAULT_TRIAGE_TOML`]. Matching works on the sound keys of words (see
//! [`super::text`]), so every lexicon also reads its language typed in the other script,
//! without apostrophes, in the reformed letters or on a Russian keyboard: keywords are
//! prefixes (stems) unless written `word=` or shorter than 3 letters, and words of
//! `typo_min_len` letters or more match with one typo. The embedding is given the standard
//! spelling where [`super::text::standard_spelling`] can restore it.
//!
//! This file is long because stems, typos and the scoring they feed are one procedure; its
//! tests are in `triage/tests.rs`.

use super::embed::Embedder;
use super::text::{self, Form, Language};
pub use super::text::{Script, detect_script, normalise};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The default triage config, `configs/triage.toml`.
pub const DEFAULT_TRIAGE_TOML: &str = include_str!("../../../configs/triage.toml");

/// The keyword weight of a stated age for a type with `age_below`.
pub const AGE_WEIGHT: f32 = 2.0;

/// The e5 prefix for narratives and for the labelled examples alike: e5 asks for `query: `
/// on both sides of a symmetric comparison (text against text of the same kind), and a
/// narrative and an example are the same kind of text.
pub const EMBED_PREFIX: &str = "query: ";

/// The incident type reported when the narrative is not classified (empty, unexpected
/// script, no evidence at all); the call-taker decides.
pub const UNKNOWN_TYPE: &str = "unknown";

/// The languages a lexicon or example list can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// English.
    En,
    /// Russian.
    Ru,
    /// Uzbek in Latin script.
    UzLatn,
    /// Uzbek in Cyrillic script.
    UzCyrl,
}

impl Lang {
    /// The config key of the language.
    pub fn key(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
            Lang::UzLatn => "uz_latn",
            Lang::UzCyrl => "uz_cyrl",
        }
    }
}

/// One value per language; a language left out is empty.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerLang<T> {
    /// English.
    pub en: T,
    /// Russian.
    pub ru: T,
    /// Uzbek, Latin script.
    pub uz_latn: T,
    /// Uzbek, Cyrillic script.
    pub uz_cyrl: T,
}

impl<T> PerLang<T> {
    /// `(language, value)` in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = (Lang, &T)> {
        [(Lang::En, &self.en), (Lang::Ru, &self.ru), (Lang::UzLatn, &self.uz_latn), (Lang::UzCyrl, &self.uz_cyrl)]
            .into_iter()
    }
}

/// `configs/triage.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TriageConfig {
    /// How evidence is weighed.
    #[serde(default)]
    pub scoring: ScoringConfig,
    /// Stems or phrases per language that raise the priority one step (1 is the highest):
    /// weapons, bleeding, not breathing, children, trapped.
    #[serde(default)]
    pub urgency: PerLang<Vec<String>>,
    /// The taxonomy, `[[types]]`.
    pub types: Vec<TypeConfig>,
}

/// `[scoring]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringConfig {
    /// Characters of the narrative examined; the rest is ignored and the result says so.
    pub max_chars: usize,
    /// Words (and stems) of at least this many letters match with one typo (edit distance 1).
    pub typo_min_len: usize,
    /// Added to the lexicon total before the per-type shares are taken: a single weak hit
    /// gives a modest share, not certainty.
    pub lexicon_prior: f32,
    /// Share of the lexicon in the combined score when an embedding is present (the
    /// embedding gets the rest).
    pub lexicon_weight: f32,
    /// Nearest labelled examples averaged per type.
    pub knn_k: usize,
    /// Softmax temperature over the per-type mean cosines; e5 cosines sit in a narrow band
    /// (about 0.75–0.95), so it is small.
    pub temperature: f32,
    /// Below this confidence (best minus second score) the result needs review.
    pub review_below: f32,
    /// A note of fewer words than this has its confidence scaled by words / this: three
    /// words say less than a sentence, however well they match.
    pub full_confidence_words: usize,
    /// A life-threatening type within this much of a better non-life-threatening type is
    /// preferred (recall bias); the result then needs review.
    pub life_margin: f32,
    /// Priority of a call that is not classified, until the call-taker decides.
    pub unknown_priority: u8,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self {
            max_chars: 4096,
            typo_min_len: 6,
            lexicon_prior: 1.0,
            lexicon_weight: 0.5,
            knn_k: 3,
            temperature: 0.02,
            review_below: 0.2,
            full_confidence_words: 6,
            life_margin: 0.05,
            unknown_priority: 2,
        }
    }
}

/// One `[[types]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TypeConfig {
    /// Stable id, e.g. `fire`.
    pub id: String,
    /// Human label.
    pub label: String,
    /// Default priority, 1 (immediate) to 4 (routine).
    pub priority: u8,
    /// Life-threatening types get the recall bias.
    #[serde(default)]
    pub life_threatening: bool,
    /// A more general type this one refines (e.g. `traffic_accident_injury` refines
    /// `traffic_accident`): when this type has keyword evidence of its own, the parent's
    /// keyword evidence counts for it too.
    #[serde(default)]
    pub refines: Option<String>,
    /// This type's own keywords count only when its parent has keyword evidence too
    /// (`missing_child`: a child is mentioned in many calls, missing only in some).
    #[serde(default)]
    pub only_with_parent: bool,
    /// A stated age ("9 лет", "4 yoshli") below this counts for this type with weight
    /// [`AGE_WEIGHT`], one at or above it against it (`missing_child`: below 14).
    #[serde(default)]
    pub age_below: Option<u32>,
    /// Keyword → weight per language. A keyword is a stem matched as a word prefix, or an
    /// exact word when written `word=`; several words make a phrase. Negative weights
    /// (e.g. "nobody hurt") take evidence away.
    #[serde(default)]
    pub keywords: PerLang<BTreeMap<String, f32>>,
    /// Labelled example narratives per language for the embedding k-NN.
    #[serde(default)]
    pub examples: PerLang<Vec<String>>,
}

impl TriageConfig {
    /// Parses and validates a config; errors name the field.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let cfg: TriageConfig = toml::from_str(text).map_err(|e| format!("triage config: {e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The compiled-in default, `configs/triage.toml`.
    pub fn default_config() -> Self {
        Self::from_toml(DEFAULT_TRIAGE_TOML).expect("configs/triage.toml is valid")
    }

    /// Checks values serde cannot: ranges, unique ids, known parents, usable keywords.
    pub fn validate(&self) -> Result<(), String> {
        let s = &self.scoring;
        let err = |field: &str, msg: &str| Err(format!("triage config: {field}: {msg}"));
        if s.max_chars == 0 {
            return err("scoring.max_chars", "must be at least 1");
        }
        if s.typo_min_len < 3 {
            return err("scoring.typo_min_len", "must be at least 3");
        }
        if s.full_confidence_words == 0 {
            return err("scoring.full_confidence_words", "must be at least 1");
        }
        if s.knn_k == 0 {
            return err("scoring.knn_k", "must be at least 1");
        }
        if s.temperature.is_nan() || s.temperature <= 0.0 {
            return err("scoring.temperature", "must be greater than 0");
        }
        if !(0.0..=1.0).contains(&s.lexicon_weight) {
            return err("scoring.lexicon_weight", "must be within 0..=1");
        }
        if s.lexicon_prior.is_nan() || s.lexicon_prior < 0.0 {
            return err("scoring.lexicon_prior", "must be 0 or more");
        }
        if !(1..=4).contains(&s.unknown_priority) {
            return err("scoring.unknown_priority", "must be 1..=4");
        }
        if self.types.is_empty() {
            return err("types", "at least one incident type is needed");
        }
        for (lang, cues) in self.urgency.iter() {
            for cue in cues {
                check_keyword(cue).map_err(|m| format!("triage config: urgency.{}: {m}", lang.key()))?;
            }
        }
        let mut seen = HashMap::new();
        for (i, t) in self.types.iter().enumerate() {
            let at = format!("types[{i}] ({})", t.id);
            if t.id.is_empty() || !t.id.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                return err(&format!("types[{i}].id"), "must be non-empty snake_case");
            }
            if t.id == UNKNOWN_TYPE {
                return err(&format!("{at}.id"), "`unknown` is reserved for calls that are not classified");
            }
            if seen.insert(t.id.as_str(), i).is_some() {
                return err(&format!("{at}.id"), "duplicate id");
            }
            if !(1..=4).contains(&t.priority) {
                return err(&format!("{at}.priority"), "must be 1 (immediate) ..= 4 (routine)");
            }
            for (lang, words) in t.keywords.iter() {
                for (word, weight) in words {
                    check_keyword(word).map_err(|m| format!("triage config: {at}.keywords.{}: {m}", lang.key()))?;
                    if !weight.is_finite() || *weight == 0.0 {
                        return err(&format!("{at}.keywords.{}.\"{word}\"", lang.key()), "weight must be non-zero");
                    }
                }
            }
            for (lang, examples) in t.examples.iter() {
                if examples.iter().any(|e| normalise(e).trim().is_empty()) {
                    return err(&format!("{at}.examples.{}", lang.key()), "an example is empty");
                }
            }
        }
        for (i, t) in self.types.iter().enumerate() {
            if let Some(parent) = &t.refines
                && (!seen.contains_key(parent.as_str()) || parent == &t.id)
            {
                return err(&format!("types[{i}] ({}).refines", t.id), &format!("`{parent}` is not another type"));
            }
            if t.only_with_parent && t.refines.is_none() {
                return err(&format!("types[{i}] ({}).only_with_parent", t.id), "needs `refines`");
            }
        }
        Ok(())
    }

    /// Every labelled example as `(type index, language, text)`, in the order
    /// [`Triage::new`] expects their vectors.
    pub fn examples(&self) -> Vec<(usize, Lang, &str)> {
        let mut out = Vec::new();
        for (i, t) in self.types.iter().enumerate() {
            for (lang, list) in t.examples.iter() {
                out.extend(list.iter().map(|e| (i, lang, e.as_str())));
            }
        }
        out
    }
}

/// The stems of a keyword with whether each is an exact word: a word written `word=` is
/// exact; so is a one-word keyword shorter than 3 letters (too short to be a stem). In a
/// phrase, short words stay prefixes (the phrase is context enough) unless written `=`.
/// Keyed stems are sound keys ([`super::text::key`]); English ones stay letters, since the
/// key's folding (sh, oo, y) would shorten English stems into other words.
fn keyword_stems(keyword: &str, keyed: bool) -> Vec<(Vec<char>, bool)> {
    let mut out = Vec::new();
    for word in keyword.split_whitespace() {
        let exact = word.ends_with('=');
        let forms = tokens(&normalise(word.trim_end_matches('=')));
        out.extend(forms.into_iter().map(|t| (if keyed { t.keyed } else { t.plain }, exact)));
    }
    if let [(chars, exact)] = out.as_mut_slice() {
        *exact |= chars.len() < 3;
    }
    out
}

fn check_keyword(word: &str) -> Result<(), String> {
    if keyword_stems(word, true).is_empty() {
        return Err(format!("keyword \"{word}\" is empty after normalisation"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Tokens.

/// A word as written (normalised) and as its sound key (see [`super::text::key`]).
struct Token {
    plain: Vec<char>,
    keyed: Vec<char>,
}

impl Token {
    fn form(&self, keyed: bool) -> &[char] {
        if keyed { &self.keyed } else { &self.plain }
    }
}

fn tokens(normalised: &str) -> Vec<Token> {
    text::words(normalised)
        .map(|w| Token { plain: w.chars().collect(), keyed: text::key(w) })
        .filter(|t| !t.keyed.is_empty())
        .collect()
}

/// True when `a` and `b` are at most one insertion, deletion or substitution apart.
fn within_one(a: &[char], b: &[char]) -> bool {
    let (s, l) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if l.len() - s.len() > 1 {
        return false;
    }
    let p = s.iter().zip(l).take_while(|(x, y)| x == y).count();
    if s.len() == l.len() { s[p + 1.min(s.len() - p)..] == l[p + 1.min(l.len() - p)..] } else { s[p..] == l[p + 1..] }
}

// ---------------------------------------------------------------------------------------
// The classifier.

struct Stem {
    chars: Vec<char>,
    exact: bool,
    /// A sound key (matched against the word's key), or letters (English).
    keyed: bool,
}

/// A keyword or urgency cue: a sequence of stems (a phrase when more than one).
struct Entry {
    stems: Vec<usize>,
    /// `None` for urgency cues.
    type_idx: Option<usize>,
    lang: Lang,
    weight: f32,
    text: String,
}

/// What the call-taker has already entered.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct CallTaker {
    /// An incident type id from the taxonomy.
    pub incident_type: Option<String>,
    /// A priority 1..=4.
    pub priority: Option<u8>,
}

/// Where the result's type came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The call-taker entered it.
    CallTaker,
    /// Keywords only (no embedding given, or the embedding had no examples).
    Lexicon,
    /// The embedding only (no keyword matched).
    Embedding,
    /// Keywords and embedding.
    Combined,
    /// Not classified.
    None,
}

/// One type's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeScore {
    /// Incident type id.
    pub incident_type: String,
    /// Combined score, 0..=1.
    pub score: f32,
}

/// One keyword that matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeywordHit {
    /// The type it counts for.
    pub incident_type: String,
    /// Its lexicon.
    pub lang: Lang,
    /// The keyword as written in the config.
    pub keyword: String,
    /// Its weight.
    pub weight: f32,
}

/// The triage of one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriageResult {
    /// Incident type id, or `unknown`.
    pub incident_type: String,
    /// Its label.
    pub label: String,
    /// 1 (immediate) ..= 4 (routine).
    pub priority: u8,
    /// Whether the type is life-threatening.
    pub life_threatening: bool,
    /// 0..=1: best minus second score; 1 for the call-taker's type; 0 when not classified.
    pub confidence: f32,
    /// Where the type came from.
    pub source: Source,
    /// The call-taker should confirm the type.
    pub needs_review: bool,
    /// Why, in short lines.
    pub reasons: Vec<String>,
    /// Keywords that matched the chosen type.
    pub matched: Vec<KeywordHit>,
    /// Urgency cues that matched.
    pub urgency_cues: Vec<String>,
    /// The three best types.
    pub top: Vec<TypeScore>,
    /// Script of the narrative.
    pub script: Script,
    /// Its language, as detected.
    pub language: Language,
    /// How it is typed, as detected.
    pub form: Form,
    /// The narrative was longer than `max_chars` and only its start was examined.
    pub truncated: bool,
}

/// The classifier built from a [`TriageConfig`] and, optionally, the example vectors.
pub struct Triage {
    cfg: TriageConfig,
    stems: Vec<Stem>,
    entries: Vec<Entry>,
    /// Entries by their first stem.
    by_first: Vec<Vec<usize>>,
    /// Stems by whether they are keyed and their first two letters (one for a one-letter
    /// stem): every way a stem can match a word needs those letters right.
    by_start: HashMap<(bool, Vec<char>), Vec<usize>>,
    /// `(type index, vector)` per labelled example.
    examples: Vec<(usize, Vec<f32>)>,
}

impl Triage {
    /// Builds the classifier. `example_vectors`, when given, are the embeddings of
    /// [`TriageConfig::examples`] in that order (e5 with the `query: ` prefix).
    pub fn new(cfg: TriageConfig, example_vectors: Option<Vec<Vec<f32>>>) -> Result<Self, String> {
        cfg.validate()?;
        let mut t = Triage {
            cfg,
            stems: vec![],
            entries: vec![],
            by_first: vec![],
            by_start: HashMap::new(),
            examples: vec![],
        };
        let mut stem_ids: HashMap<(Vec<char>, bool, bool), usize> = HashMap::new();
        // One entry per type and stems: the Uzbek Latin and Cyrillic lexicons (and Russian
        // loan words in both) often key to the same stems, and one word is evidence once.
        let mut entry_ids: HashMap<(Option<usize>, Vec<usize>), usize> = HashMap::new();
        let mut add = |t: &mut Triage, text: &str, type_idx: Option<usize>, lang: Lang, weight: f32| {
            let keyed = lang != Lang::En;
            let stems: Vec<usize> = keyword_stems(text, keyed)
                .into_iter()
                .map(|(chars, exact)| {
                    *stem_ids.entry((chars.clone(), exact, keyed)).or_insert_with(|| {
                        t.stems.push(Stem { chars, exact, keyed });
                        t.stems.len() - 1
                    })
                })
                .collect();
            if entry_ids.insert((type_idx, stems.clone()), t.entries.len()).is_none() {
                t.entries.push(Entry { stems, type_idx, lang, weight, text: text.to_string() });
            }
        };
        let urgency = t.cfg.urgency.clone();
        for (lang, cues) in urgency.iter() {
            for cue in cues {
                add(&mut t, cue, None, lang, 1.0);
            }
        }
        let types = t.cfg.types.clone();
        for (i, ty) in types.iter().enumerate() {
            for (lang, words) in ty.keywords.iter() {
                for (word, weight) in words {
                    add(&mut t, word, Some(i), lang, *weight);
                }
            }
        }
        for (i, stem) in t.stems.iter().enumerate() {
            t.by_start.entry((stem.keyed, stem.chars[..stem.chars.len().min(2)].to_vec())).or_default().push(i);
        }
        t.by_first = vec![vec![]; t.stems.len()];
        for (e, entry) in t.entries.iter().enumerate() {
            t.by_first[entry.stems[0]].push(e);
        }
        if let Some(vectors) = example_vectors {
            let examples = t.cfg.examples();
            if vectors.len() != examples.len() {
                return Err(format!("triage: {} example vectors for {} examples", vectors.len(), examples.len()));
            }
            t.examples = examples.into_iter().map(|(i, _, _)| i).zip(vectors).collect();
        }
        Ok(t)
    }

    /// Builds the classifier with the example vectors computed by `embedder` ([`EMBED_PREFIX`]).
    pub fn with_embedder(cfg: TriageConfig, embedder: &mut Embedder) -> Result<Self, String> {
        let texts: Vec<&str> = cfg.examples().into_iter().map(|(_, _, t)| t).collect();
        let vectors = embedder.embed(&texts, EMBED_PREFIX).map_err(|e| format!("triage examples: {e}"))?;
        Self::new(cfg, Some(vectors))
    }

    /// Embeds the examined part of the narrative with `embedder` and classifies; when
    /// embedding fails, classifies on the keywords alone and says why.
    pub fn classify_embedded(
        &self,
        embedder: &mut Embedder,
        text: &str,
        call_taker: Option<&CallTaker>,
    ) -> TriageResult {
        let examined = self.examined(text);
        if examined.trim().is_empty() {
            return self.classify(text, None, call_taker);
        }
        match embedder.embed(&[&self.embedding_text(text)], EMBED_PREFIX) {
            Ok(mut v) => self.classify(text, v.pop().as_deref(), call_taker),
            Err(e) => {
                let mut r = self.classify(text, None, call_taker);
                r.reasons.push(format!("embedding failed, keywords only: {e}"));
                r
            }
        }
    }

    /// The config it was built from.
    pub fn config(&self) -> &TriageConfig {
        &self.cfg
    }

    /// Whether example vectors were given (the embedding half is active).
    pub fn has_embeddings(&self) -> bool {
        !self.examples.is_empty()
    }

    /// The part of a narrative that is examined (at most `max_chars` characters); embed
    /// this, not the whole text.
    pub fn examined<'a>(&self, text: &'a str) -> &'a str {
        match text.char_indices().nth(self.cfg.scoring.max_chars) {
            Some((at, _)) => &text[..at],
            None => text,
        }
    }

    /// What the embedding is given for a narrative: its examined part, in the standard
    /// spelling where that can be restored (the model was trained on standard text).
    pub fn embedding_text<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        let examined = self.examined(text);
        match text::standard_spelling(examined, &text::detect(examined)) {
            Some(standard) => standard.into(),
            None => examined.into(),
        }
    }

    /// A stem matches a word it begins (exact stems: the whole word). Words and stems of
    /// `typo_min_len` letters or more also match with one typo, provided the first two letters
    /// are right (typos rarely sit there, and Uzbek verb forms such as `olyapti` and `otyapti`
    /// differ only there) and the typo is not just a dropped last letter of the stem.
    fn stem_matches(&self, stem: &Stem, tok: &[char]) -> bool {
        let s = &stem.chars;
        let typo = self.cfg.scoring.typo_min_len;
        if stem.exact {
            if tok == s.as_slice() {
                return true;
            }
        } else if tok.starts_with(s) {
            return true;
        }
        if s.len() < typo || tok.len() < typo || tok[..2] != s[..2] {
            return false;
        }
        if stem.exact {
            return within_one(tok, s);
        }
        // one typo inside the stem: the word's start of the stem's length, one shorter or one longer
        (tok.len() >= s.len() - 1 && within_one(&tok[..s.len() - 1], s) && tok[..s.len() - 1] != s[..s.len() - 1])
            || [s.len(), s.len() + 1].iter().any(|&n| n <= tok.len() && within_one(&tok[..n], s))
    }

    /// Keyword and urgency-cue entries that match, each once.
    fn matched_entries(&self, toks: &[Token]) -> Vec<usize> {
        let mut tok_stems: Vec<Vec<usize>> = Vec::with_capacity(toks.len());
        for tok in toks {
            let mut hits = Vec::new();
            for keyed in [true, false] {
                let form = tok.form(keyed);
                let starts = if form.len() >= 2 { vec![&form[..1], &form[..2]] } else { vec![form] };
                for start in starts {
                    let Some(stems) = self.by_start.get(&(keyed, start.to_vec())) else { continue };
                    hits.extend(stems.iter().copied().filter(|&s| self.stem_matches(&self.stems[s], form)));
                }
            }
            hits.sort_unstable();
            hits.dedup();
            tok_stems.push(hits);
        }
        let mut hit = vec![false; self.entries.len()];
        for i in 0..toks.len() {
            for &s in &tok_stems[i] {
                for &e in &self.by_first[s] {
                    let entry = &self.entries[e];
                    if hit[e] || i + entry.stems.len() > toks.len() {
                        continue;
                    }
                    if entry.stems[1..].iter().enumerate().all(|(j, st)| tok_stems[i + 1 + j].contains(st)) {
                        hit[e] = true;
                    }
                }
            }
        }
        (0..self.entries.len()).filter(|&e| hit[e]).collect()
    }

    /// Classifies one narrative. `embedding` is the narrative's e5 vector (of
    /// [`Triage::examined`], `query: ` prefix), when the embedder is available.
    pub fn classify(&self, text: &str, embedding: Option<&[f32]>, call_taker: Option<&CallTaker>) -> TriageResult {
        let sc = &self.cfg.scoring;
        let mut reasons = Vec::new();
        let examined = self.examined(text);
        let truncated = examined.len() < text.len();
        if truncated {
            reasons.push(format!("narrative capped: first {} characters examined", sc.max_chars));
        }
        let normalised = normalise(examined);
        let writing = text::detect_normalised(examined, &normalised);
        let script = writing.script;
        let toks = tokens(&normalised);
        let ct_type = call_taker.and_then(|c| c.incident_type.as_deref());
        let ct_type_idx = ct_type.and_then(|id| self.cfg.types.iter().position(|t| t.id == id));
        if let (Some(id), None) = (ct_type, ct_type_idx) {
            reasons.push(format!("call-taker type `{id}` is not in the taxonomy; ignored"));
        }
        let ct_priority = call_taker.and_then(|c| c.priority).filter(|p| (1..=4).contains(p));

        // not classified: no words, or another script
        let not_classified = if toks.is_empty() || script == Script::None {
            Some("empty narrative".to_string())
        } else if let Script::Other(name) = script {
            Some(format!("narrative is in {name} script, not one this triage reads; the call-taker decides"))
        } else {
            None
        };

        let matched = if not_classified.is_some() { vec![] } else { self.matched_entries(&toks) };
        let n = self.cfg.types.len();
        let mut raw = vec![0f32; n];
        let mut urgency_cues = Vec::new();
        for &e in &matched {
            let entry = &self.entries[e];
            match entry.type_idx {
                Some(t) => raw[t] += entry.weight,
                None => urgency_cues.push(entry.text.clone()),
            }
        }
        if let Some(age) = text::stated_age(&normalised) {
            for (i, t) in self.cfg.types.iter().enumerate() {
                if let Some(below) = t.age_below {
                    raw[i] += if age < below { AGE_WEIGHT } else { -AGE_WEIGHT };
                }
            }
        }
        let own: Vec<f32> = raw.iter().map(|r| r.max(0.0)).collect();
        let mut lex = own.clone();
        for (i, t) in self.cfg.types.iter().enumerate() {
            if let Some(parent) = &t.refines {
                let p = self.cfg.types.iter().position(|x| &x.id == parent).expect("validated");
                if t.only_with_parent && own[p] == 0.0 {
                    lex[i] = 0.0;
                } else if own[i] > 0.0 {
                    lex[i] += own[p];
                }
            }
        }
        let lex_total: f32 = lex.iter().sum();
        let have_lex = lex_total > 0.0;
        let lex_share: Vec<f32> = lex.iter().map(|l| l / (lex_total + sc.lexicon_prior).max(1e-6)).collect();

        let emb_share = match (embedding, self.examples.is_empty(), &not_classified) {
            (Some(v), false, None) => Some(self.embedding_shares(v)),
            _ => None,
        };
        let (scores, source) = match (&emb_share, have_lex) {
            (Some(e), true) => {
                let w = sc.lexicon_weight;
                (lex_share.iter().zip(e).map(|(l, e)| w * l + (1.0 - w) * e).collect(), Source::Combined)
            }
            (Some(e), false) => (e.clone(), Source::Embedding),
            (None, true) => (lex_share.clone(), Source::Lexicon),
            (None, false) => (vec![0.0; n], Source::None),
        };
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let top = order
            .iter()
            .take(3)
            .map(|&i| TypeScore { incident_type: self.cfg.types[i].id.clone(), score: scores[i] })
            .collect();

        let urgent = !urgency_cues.is_empty();
        let raise = |p: u8| if urgent { p.saturating_sub(1).max(1) } else { p };
        if urgent {
            reasons.push(format!("urgency cues: {}", urgency_cues.join(", ")));
        }

        // call-taker's type wins
        if let Some(t) = ct_type_idx {
            let ty = &self.cfg.types[t];
            reasons.insert(0, format!("type `{}` entered by the call-taker", ty.id));
            if ct_priority.is_some() {
                reasons.push("priority entered by the call-taker".into());
            }
            return TriageResult {
                incident_type: ty.id.clone(),
                label: ty.label.clone(),
                priority: ct_priority.unwrap_or_else(|| raise(ty.priority)),
                life_threatening: ty.life_threatening,
                confidence: 1.0,
                source: Source::CallTaker,
                needs_review: false,
                reasons,
                matched: self.hits_for(&matched, t),
                urgency_cues,
                top,
                script,
                language: writing.language,
                form: writing.form,
                truncated,
            };
        }
        let unknown = |mut reasons: Vec<String>, why: String, urgency_cues, top| {
            reasons.insert(0, why);
            TriageResult {
                incident_type: UNKNOWN_TYPE.into(),
                label: "Unknown".into(),
                priority: ct_priority.unwrap_or(sc.unknown_priority),
                life_threatening: false,
                confidence: 0.0,
                source: Source::None,
                needs_review: true,
                reasons,
                matched: vec![],
                urgency_cues,
                top,
                script,
                language: writing.language,
                form: writing.form,
                truncated,
            }
        };
        if let Some(why) = not_classified {
            return unknown(reasons, why, urgency_cues, vec![]);
        }
        if source == Source::None {
            return unknown(reasons, "no keyword matched and no embedding given".into(), urgency_cues, vec![]);
        }

        let best = order[0];
        let mut chosen = best;
        let life = order.iter().copied().find(|&i| self.cfg.types[i].life_threatening);
        if let Some(l) = life
            && !self.cfg.types[best].life_threatening
            && scores[l] > 0.0
            && scores[best] - scores[l] <= sc.life_margin
        {
            chosen = l;
            reasons.push(format!(
                "life-threatening `{}` ({:.2}) is within {} of `{}` ({:.2}): preferred for recall",
                self.cfg.types[l].id, scores[l], sc.life_margin, self.cfg.types[best].id, scores[best]
            ));
        }
        let next_type = order.iter().copied().find(|&i| i != chosen);
        let next = next_type.map_or(0.0, |i| scores[i]);
        let mut confidence = (scores[chosen] - next).clamp(0.0, 1.0);
        if writing.words < sc.full_confidence_words {
            confidence *= writing.words as f32 / sc.full_confidence_words as f32;
            reasons.push(format!("a note of {} words: confidence scaled down", writing.words));
        }
        let needs_review = confidence < sc.review_below;
        let ty = &self.cfg.types[chosen];
        let mut priority = raise(ty.priority);
        if needs_review {
            reasons.push(format!("confidence {confidence:.2} below {}: review the type", sc.review_below));
            // in doubt, the more urgent of the two best readings sets the priority
            if let Some(n) = next_type.filter(|&n| scores[n] > 0.0 && self.cfg.types[n].priority < ty.priority) {
                priority = raise(self.cfg.types[n].priority);
                reasons.push(format!("in doubt with `{}`: its priority kept", self.cfg.types[n].id));
            }
        }
        if ct_priority.is_some() {
            reasons.push("priority entered by the call-taker".into());
        }
        TriageResult {
            incident_type: ty.id.clone(),
            label: ty.label.clone(),
            priority: ct_priority.unwrap_or(priority),
            life_threatening: ty.life_threatening,
            confidence,
            source,
            needs_review,
            reasons,
            matched: self.hits_for(&matched, chosen),
            urgency_cues,
            top,
            script,
            language: writing.language,
            form: writing.form,
            truncated,
        }
    }

    /// Per-type softmax over the mean cosine of the `knn_k` nearest examples of each type.
    fn embedding_shares(&self, v: &[f32]) -> Vec<f32> {
        let sc = &self.cfg.scoring;
        let n = self.cfg.types.len();
        let mut per_type: Vec<Vec<f32>> = vec![vec![]; n];
        for (t, e) in &self.examples {
            per_type[*t].push(v.iter().zip(e).map(|(a, b)| a * b).sum());
        }
        let means: Vec<Option<f32>> = per_type
            .iter_mut()
            .map(|c| {
                if c.is_empty() {
                    return None;
                }
                c.sort_by(|a, b| b.total_cmp(a));
                let k = sc.knn_k.min(c.len());
                Some(c[..k].iter().sum::<f32>() / k as f32)
            })
            .collect();
        let max = means.iter().flatten().fold(f32::MIN, |a, &b| a.max(b));
        let exps: Vec<f32> = means.iter().map(|m| m.map_or(0.0, |m| ((m - max) / sc.temperature).exp())).collect();
        let total: f32 = exps.iter().sum();
        exps.iter().map(|e| e / total).collect()
    }

    fn hits_for(&self, matched: &[usize], t: usize) -> Vec<KeywordHit> {
        let parent = self.cfg.types[t].refines.as_ref().and_then(|p| self.cfg.types.iter().position(|x| &x.id == p));
        matched
            .iter()
            .map(|&e| &self.entries[e])
            .filter(|e| e.type_idx == Some(t) || (e.type_idx.is_some() && e.type_idx == parent))
            .map(|e| KeywordHit {
                incident_type: self.cfg.types[e.type_idx.expect("filtered")].id.clone(),
                lang: e.lang,
                keyword: e.text.clone(),
                weight: e.weight,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
