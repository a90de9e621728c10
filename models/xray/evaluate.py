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


def bag_level(dets, gts, score, thr=0.5):
    """What an officer sees per bag at a score threshold: per class, the share of bags holding
    that class in which a detection of it (IoU >= thr with one of them) is raised; false
    alarms (detections of any class) per threat-free bag; the share of threat-free bags cleared."""
    found = {c: [0, 0] for c in range(len(xc.THREAT_CLASSES))}
    clean_alarms, clean_bags, cleared = 0, 0, 0
    for d, g in zip(dets, gts):
        raised = [(c, b) for c, s, b in d if s >= score]
        if not g:
            clean_bags += 1
            clean_alarms += len(raised)
            cleared += not raised
            continue
        for c in {gg[0] for gg in g}:
            found[c][1] += 1
            found[c][0] += any(rc == c and any(gg[0] == c and xc.iou(b, gg[1:]) >= thr for gg in g) for rc, b in raised)
    detection = {xc.THREAT_CLASSES[c]: (ok / n if n else float("nan"), n) for c, (ok, n) in found.items()}
    return detection, clean_alarms / max(clean_bags, 1), cleared / max(clean_bags, 1), clean_bags


def operating_point(dets, gts, target, thr=0.5):
    """The lowest score threshold at which detections that match no labelled threat (same
    class, IoU >= thr) number at most `target` per bag: how a site sets a detector, from a
    false-alarm rate it can bear, on validation scans."""
    false = sorted((s for d, g in zip(dets, gts) for c, s, b in d
                    if not any(c == gg[0] and xc.iou(b, gg[1:]) >= thr for gg in g)), reverse=True)
    allowed = int(target * len(dets))  # this many false detections may remain
    return float(false[allowed]) + 1e-6 if allowed < len(false) else 0.01


def sha256_of(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", action="append", required=True, help="folder; repeat for more (one table each)")
    ap.add_argument("--name", action="append", help="a title per --data")
    ap.add_argument("--out", help="write the Markdown report here")
    ap.add_argument("--note", default="", help="Markdown put under the title (how the data was made)")
    ap.add_argument("--score", type=float, default=0.15, help="operating threshold for the recall line")
    ap.add_argument("--log", help="append a line for the first --data folder (the independent generator's bags) to "
                    "this runs log: date, model sha256, figures")
    ap.add_argument("--target-fa", type=float, help="choose --score instead: the threshold with at most this many "
                    "false detections per bag on --op-data")
    ap.add_argument("--op-data", help="validation scans of the training generator, for --target-fa")
    a = ap.parse_args()
    md = ["# X-ray threat detector: evaluation", "", a.note, ""]
    if a.target_fa is not None:
        dets, gts, _, _ = run(a.model, a.op_data)
        a.score = operating_point(dets, gts, a.target_fa)
        line = (f"Operating point: score ≥ {a.score:.4f}, the lowest threshold with at most {a.target_fa} false "
                f"detections per bag on the training generator's validation scans ({a.op_data.rstrip('/').split('/')[-1]}, "
                f"{len(gts)} bags).")
        md += [line, ""]
        print(line, flush=True)
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
               f"At score ≥ {a.score:.4f}: recall {rec:.3f} (IoU ≥ 0.5, class right), "
               f"{fpi:.2f} false detections per scan.", ""]
        det, fa, cleared, clean = bag_level(dets, gts, a.score)
        md += [f"Per bag at score ≥ {a.score:.4f}: {clean} threat-free bags, {fa:.2f} false alarms per threat-free bag, "
               f"{100 * cleared:.1f} % of them cleared.", "",
               "| class | bags holding it | bag-level detection |", "|---|---|---|"]
        md += [f"| {n} | {cnt} | {v:.3f} |" for n, (v, cnt) in det.items()]
        md += [""]
        bag_line = ", ".join(f"{n} {v:.3f} ({cnt} bags)" for n, (v, cnt) in det.items())
        print(f"{title}: " + ", ".join(f"{n} {ap:.3f}" for n, ap, _ in rows) + f"; mAP@0.5 {m:.3f}; "
              f"recall@{a.score:.4f} {rec:.3f}, FP/scan {fpi:.2f}; per bag: {bag_line}; "
              f"{fa:.2f} false alarms per threat-free bag ({clean}), {100 * cleared:.1f} % cleared", flush=True)
        if a.log and k == 0:
            import datetime
            line = (f"| {datetime.date.today().isoformat()} | {sha256_of(a.model)} | {title} | {len(ids)} | {m:.3f} | "
                    + " · ".join(f"{n} {ap:.3f}" for n, ap, _ in rows) + f" | {a.score:.4f} | {bag_line} | {fa:.2f} | "
                    f"{100 * cleared:.1f} % |\n")
            with open(a.log, "a") as f:
                f.write(line)
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(md).rstrip() + "\n")


if __name__ == "__main__":
    main()
