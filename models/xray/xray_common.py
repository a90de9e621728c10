"""What train.py, evaluate.py and export.py share: the input preprocessing (replicated by
operators/src/xray/threats.rs; change both together), the output layout, and data loading.

Preprocessing of a scan (two channels, low and high, each a `bits`-deep transmission image
where `top` = 65535 or 255 means no attenuation):
  1. a = min(-ln(max(v, 1) / top), 10) / 10        per pixel, float32: 0 = air, 1 = opaque
  2. letterbox to S x S (S = 320): r = min(S / W, S / H), nw = round(W r), nh = round(H r),
     left = (S - nw) // 2, top = (S - nh) // 2; the nw x nh image is sampled bilinearly
     with half-pixel centres (OpenCV's INTER_LINEAR rule: src = (dst + 0.5) * W / nw - 0.5,
     clamped to [0, W - 1]); the border is 0 (air).
  3. tensor [1, 2, S, S] float32, channel 0 = low, channel 1 = high.
A box in model pixels maps back by x = (x_in - left) * W / nw, y = (y_in - top) * H / nh.
"""

import glob
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from synth import THREAT_CLASSES, read_png  # noqa: E402

S = 320
STRIDES = (8, 16, 32)
# Each level learns the boxes whose largest side-distance from a point (FCOS "ltrb") falls in
# its range, in model pixels.
RANGES = ((0.0, 64.0), (64.0, 128.0), (128.0, 1e9))
NUM_CLASSES = len(THREAT_CLASSES)


def neg_log(v, top):
    return np.minimum(-np.log(np.maximum(v.astype(np.float32), 1.0) / np.float32(top)), 10.0) / 10.0


def letterbox_geometry(w, h, s=S):
    r = min(s / w, s / h)
    nw, nh = int(round(w * r)), int(round(h * r))
    return nw, nh, (s - nw) // 2, (s - nh) // 2


def _axis(n_src, n_dst):
    xs = np.clip((np.arange(n_dst, dtype=np.float32) + 0.5) * np.float32(n_src / n_dst) - 0.5, 0, n_src - 1)
    x0 = np.floor(xs).astype(np.int64)
    x1 = np.minimum(x0 + 1, n_src - 1)
    return x0, x1, (xs - x0).astype(np.float32)


def bilinear(img, nw, nh):
    h, w = img.shape
    x0, x1, fx = _axis(w, nw)
    y0, y1, fy = _axis(h, nh)
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bot = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return (top * (1 - fy)[:, None] + bot * fy[:, None]).astype(np.float32)


def preprocess(low, high, top=65535):
    """[2, S, S] float32 input of one scan and its letterbox geometry (nw, nh, left, top)."""
    h, w = low.shape
    nw, nh, left, tp = letterbox_geometry(w, h)
    x = np.zeros((2, S, S), np.float32)
    for c, img in enumerate((low, high)):
        x[c, tp:tp + nh, left:left + nw] = bilinear(neg_log(img, top), nw, nh)
    return x, (nw, nh, left, tp)


def grid_points():
    """Anchor points (x, y) in model pixels and their stride, in the output's order."""
    pts, strides = [], []
    for s in STRIDES:
        n = S // s
        ys, xs = np.mgrid[0:n, 0:n]
        pts.append(np.stack([(xs.ravel() + 0.5) * s, (ys.ravel() + 0.5) * s], 1))
        strides.append(np.full(n * n, s, np.float32))
    return np.concatenate(pts).astype(np.float32), np.concatenate(strides)


def read_labels(path, w, h):
    """YOLO label file -> [(class, x1, y1, x2, y2)] in image pixels."""
    out = []
    if os.path.exists(path):
        for line in open(path):
            f = line.split()
            if len(f) != 5:
                continue
            c, cx, cy, bw, bh = int(f[0]), *map(float, f[1:])
            out.append((c, (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h))
    return out


def load_folder(folder, limit=None):
    """Every scan `{id}_low.png` + `{id}_high.png` (+ `{id}.txt`) in `folder`: inputs
    [N, S, S, 2] float16, boxes per scan in model pixels [(class, x1, y1, x2, y2)], ids,
    geometries."""
    lows = sorted(glob.glob(os.path.join(folder, "*_low.png")))[:limit]
    xs, boxes, ids, geos = [], [], [], []
    for lp in lows:
        sid = os.path.basename(lp)[: -len("_low.png")]
        low, high = read_png(lp), read_png(os.path.join(folder, f"{sid}_high.png"))
        top = 65535 if low.dtype == np.uint16 else 255
        x, geo = preprocess(low, high, top)
        h, w = low.shape
        nw, nh, left, tp = geo
        b = [(c, x1 * nw / w + left, y1 * nh / h + tp, x2 * nw / w + left, y2 * nh / h + tp)
             for c, x1, y1, x2, y2 in read_labels(os.path.join(folder, f"{sid}.txt"), w, h)]
        xs.append(np.transpose(x, (1, 2, 0)).astype(np.float16))
        boxes.append(b)
        ids.append(sid)
        geos.append((w, h) + geo)
    return np.stack(xs) if xs else np.zeros((0, S, S, 2), np.float16), boxes, ids, geos


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def decode(out, score_threshold=0.01, nms_iou=0.45):
    """The same decoding as operators/src/detect/decode.rs::yolo: per candidate its best
    class, a score threshold, then greedy per-class NMS. out: [4 + C, N]."""
    n = out.shape[1]
    scores = out[4:]
    cls = scores.argmax(0)
    best = scores[cls, np.arange(n)]
    keep = np.nonzero(best >= score_threshold)[0]
    keep = keep[np.argsort(-best[keep], kind="stable")]
    dets = []
    for i in keep:
        cx, cy, w, h = out[:4, i]
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        if w <= 0 or h <= 0:
            continue
        if any(d[0] == cls[i] and iou(d[2], box) > nms_iou for d in dets):
            continue
        dets.append((int(cls[i]), float(best[i]), box))
    return dets


def average_precision(dets, gts, cls, thr=0.5):
    """VOC all-point AP at IoU `thr` for one class. dets: per image [(class, score, box)];
    gts: per image [(class, x1, y1, x2, y2)]."""
    flat = [(s, i, b) for i, d in enumerate(dets) for c, s, b in d if c == cls]
    flat.sort(key=lambda t: -t[0])
    npos = sum(1 for g in gts for gg in g if gg[0] == cls)
    if npos == 0:
        return float("nan"), 0
    used = [[False] * len(g) for g in gts]
    tp, fp = [], []
    for s, i, b in flat:
        best, bj = 0.0, -1
        for j, g in enumerate(gts[i]):
            if g[0] != cls:
                continue
            o = iou(b, g[1:])
            if o > best:
                best, bj = o, j
        if best >= thr and not used[i][bj]:
            used[i][bj] = True
            tp.append(1)
            fp.append(0)
        else:
            tp.append(0)
            fp.append(1)
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec = tp / npos if len(tp) else np.zeros(0)
    prec = tp / np.maximum(tp + fp, 1e-9) if len(tp) else np.zeros(0)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1])), npos

