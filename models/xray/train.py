#!/usr/bin/env python3
"""Trains the X-ray threat detector (knife, gun, ammunition, dense_organic) on CPU with JAX.

A small anchor-free detector (FCOS-style): a 9-convolution backbone to stride 32, a
three-level feature pyramid (strides 8, 16, 32), one shared head giving per point 4 class
logits, a centre-ness logit and 4 side distances. export.py writes it as ONNX with the
decoding inside (`[1, 4 + C, N]`, what detect::decode::yolo reads).

    # from scratch, on synthetic scans (synth.py --kind baggage --config train)
    python train.py --data DIR [--data DIR2 ...] --out weights.npz --epochs 14
    # fine-tune the committed model on real labelled scans ({id}_low.png, {id}_high.png, {id}.txt)
    python train.py --data REAL_DIR --init xray-threats.onnx --out tuned.npz --epochs 10 --lr 5e-4

Run in the virtualenv train.sh makes (jax, optax, onnx, onnxruntime).
"""

import argparse
import json
import math
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import xray_common as xc  # noqa: E402

# (name, in, out, kernel, stride): the backbone; C3, C4, C5 are taken after b4, b6, b8.
BACKBONE = [("b0", 2, 16, 3, 2), ("b1", 16, 32, 3, 2), ("b2", 32, 32, 3, 1), ("b3", 32, 64, 3, 2),
            ("b4", 64, 64, 3, 1), ("b5", 64, 96, 3, 2), ("b6", 96, 96, 3, 1), ("b7", 96, 128, 3, 2),
            ("b8", 128, 128, 3, 1)]
F = 64  # pyramid width
NECK = [("l3", 64, F, 1, 1), ("l4", 96, F, 1, 1), ("l5", 128, F, 1, 1), ("s4", F, F, 3, 1), ("s3", F, F, 3, 1)]
HEAD = [("h0", F, F, 3, 1), ("h1", F, F, 3, 1), ("hcls", F, xc.NUM_CLASSES, 1, 1), ("hbox", F, 4, 1, 1),
        ("hctr", F, 1, 1, 1)]
LAYERS = BACKBONE + NECK + HEAD
PRIOR = 0.01  # initial class probability (focal-loss bias init)


def init_params(seed):
    key = jax.random.PRNGKey(seed)
    params = {}
    for name, cin, cout, k, _ in LAYERS:
        key, sub = jax.random.split(key)
        std = math.sqrt(2.0 / (cin * k * k))
        if name in ("hcls", "hbox", "hctr"):
            std = 0.01
        w = jax.random.normal(sub, (k, k, cin, cout)) * std
        b = jnp.zeros((cout,))
        if name == "hcls":
            b = jnp.full((cout,), -math.log((1 - PRIOR) / PRIOR))
        params[name] = {"w": w, "b": b}
    return params


def conv(p, x, stride):
    k = p["w"].shape[0]
    pad = (k - 1) // 2
    y = jax.lax.conv_general_dilated(x, p["w"], (stride, stride), [(pad, pad), (pad, pad)],
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + p["b"]


def up2(x):
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def forward(params, x):
    """x [B, S, S, 2] -> per level (cls logits, box raw, ctr logit), NHWC."""
    feats = {}
    for name, _, _, _, s in BACKBONE:
        x = jax.nn.relu(conv(params[name], x, s))
        feats[name] = x
    p5 = conv(params["l5"], feats["b8"], 1)
    p4 = jax.nn.relu(conv(params["s4"], conv(params["l4"], feats["b6"], 1) + up2(p5), 1))
    p3 = jax.nn.relu(conv(params["s3"], conv(params["l3"], feats["b4"], 1) + up2(p4), 1))
    p5 = jax.nn.relu(p5)
    outs = []
    for p in (p3, p4, p5):
        h = jax.nn.relu(conv(params["h0"], p, 1))
        h = jax.nn.relu(conv(params["h1"], h, 1))
        outs.append((conv(params["hcls"], h, 1), conv(params["hbox"], h, 1), conv(params["hctr"], h, 1)))
    return outs


def flat_outputs(params, x):
    """cls [B, N, C], box raw [B, N, 4], ctr [B, N] in the output's point order."""
    outs = forward(params, x)
    b = x.shape[0]
    cls = jnp.concatenate([o[0].reshape(b, -1, xc.NUM_CLASSES) for o in outs], 1)
    box = jnp.concatenate([o[1].reshape(b, -1, 4) for o in outs], 1)
    ctr = jnp.concatenate([o[2].reshape(b, -1) for o in outs], 1)
    return cls, box, ctr


POINTS, STRIDES = xc.grid_points()
LO = np.concatenate([np.full((xc.S // s) ** 2, r[0], np.float32) for s, r in zip(xc.STRIDES, xc.RANGES)])
HI = np.concatenate([np.full((xc.S // s) ** 2, r[1], np.float32) for s, r in zip(xc.STRIDES, xc.RANGES)])


def targets(boxes):
    """FCOS targets of one image: class one-hot [N, C], ltrb [N, 4] (in strides), pos [N]."""
    n = len(POINTS)
    cls_t = np.zeros((n, xc.NUM_CLASSES), np.float32)
    box_t = np.ones((n, 4), np.float32)
    pos = np.zeros(n, np.float32)
    if not boxes:
        return cls_t, box_t, pos
    g = np.asarray([b[1:] for b in boxes], np.float32)  # [G, 4]
    px, py = POINTS[:, 0:1], POINTS[:, 1:2]
    l, t, r, b = px - g[:, 0], py - g[:, 1], g[:, 2] - px, g[:, 3] - py  # [N, G]
    ltrb = np.stack([l, t, r, b], -1)
    inside = ltrb.min(-1) > 0
    gcx, gcy = (g[:, 0] + g[:, 2]) / 2, (g[:, 1] + g[:, 3]) / 2
    rad = 2.5 * STRIDES[:, None]
    central = (np.abs(px - gcx) < rad) & (np.abs(py - gcy) < rad)
    m = ltrb.max(-1)
    in_range = (m > LO[:, None]) & (m <= HI[:, None])
    ok = inside & central & in_range
    area = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
    cost = np.where(ok, area[None, :], np.inf)
    j = cost.argmin(1)
    pos_mask = np.isfinite(cost.min(1))
    idx = np.nonzero(pos_mask)[0]
    pos[idx] = 1
    cls_t[idx, np.asarray([boxes[k][0] for k in j[idx]], np.int64)] = 1
    box_t[idx] = ltrb[idx, j[idx]] / STRIDES[idx, None]
    return cls_t, box_t, pos


def decode_ltrb(raw):
    return jnp.exp(jnp.clip(raw, -6.0, 6.0))


def loss_fn(params, x, cls_t, box_t, pos):
    cls, box, ctr = flat_outputs(params, x)
    npos = jnp.maximum(pos.sum(), 1.0)
    # focal loss on the classes
    p = jax.nn.sigmoid(cls)
    ce = optax.sigmoid_binary_cross_entropy(cls, cls_t)
    pt = p * cls_t + (1 - p) * (1 - cls_t)
    alpha = 0.25 * cls_t + 0.75 * (1 - cls_t)
    l_cls = jnp.sum(alpha * (1 - pt) ** 2 * ce) / npos
    # GIoU on the side distances (units of the level's stride: both sides share them)
    pr = decode_ltrb(box)
    pl, ptop, prr, pb = pr[..., 0], pr[..., 1], pr[..., 2], pr[..., 3]
    tl, tt, tr, tb = box_t[..., 0], box_t[..., 1], box_t[..., 2], box_t[..., 3]
    ap = (pl + prr) * (ptop + pb)
    at = (tl + tr) * (tt + tb)
    iw = jnp.minimum(pl, tl) + jnp.minimum(prr, tr)
    ih = jnp.minimum(ptop, tt) + jnp.minimum(pb, tb)
    inter = iw * ih
    union = ap + at - inter
    iou = inter / jnp.maximum(union, 1e-6)
    enc = (jnp.maximum(pl, tl) + jnp.maximum(prr, tr)) * (jnp.maximum(ptop, tt) + jnp.maximum(pb, tb))
    giou = iou - (enc - union) / jnp.maximum(enc, 1e-6)
    ctr_t = jnp.sqrt(jnp.clip(jnp.minimum(tl, tr) / jnp.maximum(tl, tr) * jnp.minimum(tt, tb) / jnp.maximum(tt, tb), 0, 1))
    l_box = jnp.sum(pos * ctr_t * (1 - giou)) / jnp.maximum(jnp.sum(pos * ctr_t), 1e-6)
    l_ctr = jnp.sum(pos * optax.sigmoid_binary_cross_entropy(ctr, ctr_t)) / npos
    return l_cls + 2.0 * l_box + l_ctr, (l_cls, l_box, l_ctr)


def augment(x, boxes, rng, zoom_min=0.6):
    """Flips, quarter turns, zoom and intensity changes of a [S, S, 2] input and its boxes
    (model pixels)."""
    s = xc.S
    b = [list(bb) for bb in boxes]
    if rng.random() < 0.5:
        x = x[:, ::-1]
        b = [[c, s - x2, y1, s - x1, y2] for c, x1, y1, x2, y2 in b]
    if rng.random() < 0.5:
        x = x[::-1]
        b = [[c, x1, s - y2, x2, s - y1] for c, x1, y1, x2, y2 in b]
    if rng.random() < 0.5:  # transpose
        x = np.transpose(x, (1, 0, 2))
        b = [[c, y1, x1, y2, x2] for c, x1, y1, x2, y2 in b]
    x = x.astype(np.float32)
    if rng.random() < 0.7:  # zoom: another pixel size or bag size; boxes cut below half are dropped
        x, b = zoom(x, b, float(np.exp(rng.uniform(np.log(zoom_min), np.log(1.3)))), rng)
    # intensity: gain on the -ln image per channel (spectrum, thickness, calibration), noise
    x = x * np.asarray([rng.uniform(0.8, 1.25)] * 2, np.float32) * rng.uniform(0.92, 1.08, 2).astype(np.float32)
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(0.002, 0.01), x.shape).astype(np.float32) * (x > 0)
    return np.ascontiguousarray(x), [tuple(bb) for bb in b]


def zoom(x, boxes, s, rng):
    """Rescales a [S, S, 2] input by `s` about a random point: smaller is pasted on air (0),
    larger is cropped. Boxes follow; a box left with under half its area is dropped."""
    n = max(16, int(round(xc.S * s)))
    z = np.stack([xc.bilinear(x[..., c], n, n) for c in range(2)], -1)
    k = n / xc.S
    out = np.zeros_like(x)
    if n <= xc.S:
        ox, oy = int(rng.integers(0, xc.S - n + 1)), int(rng.integers(0, xc.S - n + 1))
        out[oy:oy + n, ox:ox + n] = z
        dx, dy = ox, oy
    else:
        ox, oy = int(rng.integers(0, n - xc.S + 1)), int(rng.integers(0, n - xc.S + 1))
        out = z[oy:oy + xc.S, ox:ox + xc.S]
        dx, dy = -ox, -oy
    kept = []
    for c, x1, y1, x2, y2 in boxes:
        bx = [x1 * k + dx, y1 * k + dy, x2 * k + dx, y2 * k + dy]
        cx = [min(max(v, 0), xc.S) for v in bx]
        area = (bx[2] - bx[0]) * (bx[3] - bx[1])
        if area > 0 and (cx[2] - cx[0]) * (cx[3] - cx[1]) >= 0.5 * area and cx[2] - cx[0] >= 2 and cx[3] - cx[1] >= 2:
            kept.append([c] + cx)
    return out, kept


def params_from_onnx(path):
    """Weights of a model export.py wrote (initialisers `{layer}.w` OIHW, `{layer}.b`)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    return {name: {"w": jnp.asarray(np.transpose(init[f"{name}.w"], (2, 3, 1, 0))), "b": jnp.asarray(init[f"{name}.b"])}
            for name, *_ in LAYERS}


def save_params(params, path, meta):
    flat = {f"{k}.{kk}": np.asarray(v) for k, d in params.items() for kk, v in d.items()}
    np.savez(path, __meta__=json.dumps(meta), **flat)


def load_params(path):
    z = np.load(path)
    return {name: {"w": jnp.asarray(z[f"{name}.w"]), "b": jnp.asarray(z[f"{name}.b"])} for name, *_ in LAYERS}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", action="append", required=True, help="folder of scans with YOLO labels (repeatable)")
    ap.add_argument("--out", required=True, help="weights .npz")
    ap.add_argument("--init", help="start from these weights (.npz from train.py or an .onnx from export.py)")
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, help="use at most this many scans per folder")
    ap.add_argument("--zoom-min", type=float, default=0.6, help="smallest zoom of the augmentation (1 = none)")
    a = ap.parse_args()

    t0 = time.time()
    xs, bs = [], []
    for d in a.data:
        x, b, _, _ = xc.load_folder(d, a.limit)
        xs.append(x)
        bs += b
        print(f"{d}: {len(x)} scans, {sum(len(bb) for bb in b)} threats", flush=True)
    X = np.concatenate(xs)
    print(f"loaded {len(X)} scans in {time.time() - t0:.0f} s", flush=True)

    if a.init:
        params = params_from_onnx(a.init) if a.init.endswith(".onnx") else load_params(a.init)
    else:
        params = init_params(a.seed)
    steps_per_epoch = max(1, len(X) // a.batch)
    total = steps_per_epoch * a.epochs
    sched = optax.warmup_cosine_decay_schedule(0.0, a.lr, min(300, total // 10), total, a.lr * 0.02)
    opt = optax.chain(optax.clip_by_global_norm(10.0), optax.adamw(sched, weight_decay=1e-4))
    state = opt.init(params)

    @jax.jit
    def step(params, state, x, cls_t, box_t, pos):
        (loss, parts), g = jax.value_and_grad(loss_fn, has_aux=True)(params, x, cls_t, box_t, pos)
        upd, state = opt.update(g, state, params)
        return optax.apply_updates(params, upd), state, loss, parts

    rng = np.random.default_rng(a.seed)
    t1 = time.time()
    for ep in range(a.epochs):
        order = rng.permutation(len(X))
        acc = np.zeros(4)
        for i in range(steps_per_epoch):
            idx = order[i * a.batch:(i + 1) * a.batch]
            batch = [augment(X[k], bs[k], rng, a.zoom_min) for k in idx]
            xb = np.stack([bb[0] for bb in batch])
            tg = [targets(bb[1]) for bb in batch]
            params, state, loss, parts = step(params, state, xb, np.stack([t[0] for t in tg]),
                                              np.stack([t[1] for t in tg]), np.stack([t[2] for t in tg]))
            acc += np.array([float(loss)] + [float(p) for p in parts])
        acc /= steps_per_epoch
        print(f"epoch {ep + 1}/{a.epochs}: loss {acc[0]:.4f} (cls {acc[1]:.4f}, box {acc[2]:.4f}, ctr {acc[3]:.4f}); "
              f"{time.time() - t1:.0f} s", flush=True)
        meta = {"data": a.data, "scans": int(len(X)), "epochs": ep + 1, "batch": a.batch, "lr": a.lr, "seed": a.seed,
                "zoom_min": a.zoom_min,
                "init": a.init, "train_seconds": round(time.time() - t1), "jax": jax.__version__, "optax": optax.__version__}
        save_params(params, a.out + ".partial.npz", meta)  # the last epoch's weights, kept if training stops
    os.replace(a.out + ".partial.npz", a.out)
    print(f"wrote {a.out}: {json.dumps(meta)}")


if __name__ == "__main__":
    main()
