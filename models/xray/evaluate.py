#!/usr/bin/env python3
"""Evaluates the ONNX threat detector on labelled scans and writes EVAL.md: AP at IoU 0.5 per
class (VOC all-point interpolation) and their mean, decoding as detect::decode::yolo does.

    python evaluate.py --model xray-threats.onnx --data HELDOUT_DIR --out EVAL.md \
        --note "how the data was made"
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import xray_common as xc  # noqa: E402


def run(model, folder, threads=2):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    x, gts, ids, _ = xc.load_folder(folder)
    dets, times = [], []
    for i in range(len(x)):
        inp = np.transpose(x[i:i + 1].astype(np.float32), (0, 3, 1, 2))
        t = time.perf_counter()
        out = sess.run(None, {"images": inp})[0][0]
        times.append(time.perf_counter() - t)
        dets.append(xc.decode(out, score_threshold=0.01))
    return dets, gts, ids, times


def report(dets, gts, thr=0.5):
    rows = []
    for c, name in enumerate(xc.THREAT_CLASSES):
        ap, n = xc.average_precision(dets, gts, c, thr)
        rows.append((name, ap, n))
    m = float(np.nanmean([r[1] for r in rows]))
    return rows, m


def recall_at(dets, gts, score, thr=0.5):
    """Fraction of labelled threats found (same class, IoU >= thr) at a score threshold."""
    hit = tot = 0
    for d, g in zip(dets, gts):
        for gg in g:
            tot += 1
            if any(c == gg[0] and s >= score and xc.iou(b, gg[1:]) >= thr for c, s, b in d):
                hit += 1
    fp = sum(1 for d, g in zip(dets, gts) for c, s, b in d
             if s >= score and not any(c == gg[0] and xc.iou(b, gg[1:]) >= thr for gg in g))
    return hit / max(tot, 1), fp / max(len(dets), 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", action="append", required=True, help="folder; repeat for more (one table each)")
    ap.add_argument("--name", action="append", help="a title per --data")
    ap.add_argument("--out", help="write the Markdown report here")
    ap.add_argument("--note", default="", help="Markdown put under the title (how the data was made)")
    ap.add_argument("--score", type=float, default=0.15, help="operating threshold for the recall line")
    a = ap.parse_args()
    md = ["# X-ray threat detector: evaluation", "", a.note, ""]
    for k, folder in enumerate(a.data):
        title = a.name[k] if a.name and k < len(a.name) else folder
        dets, gts, ids, times = run(a.model, folder)
        rows, m = report(dets, gts)
        rec, fpi = recall_at(dets, gts, a.score)
        md += [f"## {title}", "", f"{len(ids)} scans, {sum(len(g) for g in gts)} labelled threats; "
               f"inference {1000 * np.median(times):.1f} ms median per scan (onnxruntime CPU, 2 threads).", "",
               "| class | AP@0.5 | threats |", "|---|---|---|"]
        md += [f"| {n} | {ap:.3f} | {cnt} |" for n, ap, cnt in rows]
        md += [f"| **mean (mAP@0.5)** | **{m:.3f}** | {sum(r[2] for r in rows)} |", "",
               f"At score ≥ {a.score} (the manifest's threshold): recall {rec:.3f} (IoU ≥ 0.5, class right), "
               f"{fpi:.2f} false detections per scan.", ""]
        print(f"{title}: " + ", ".join(f"{n} {ap:.3f}" for n, ap, _ in rows) + f"; mAP@0.5 {m:.3f}; "
              f"recall@{a.score} {rec:.3f}, FP/scan {fpi:.2f}", flush=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(md).rstrip() + "\n")


if __name__ == "__main__":
    main()
