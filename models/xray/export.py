#!/usr/bin/env python3
"""Writes train.py's weights as ONNX (opset 17): input `images` [1, 2, 320, 320] (low, high;
preprocessing in xray_common.py), output `output0` [1, 4 + C, N] channel-major: rows cx, cy,
w, h in input pixels, then C class scores (sigmoid(class) x sigmoid(centre-ness)), N = 2100
points of strides 8, 16 and 32: what operators/src/detect/decode.rs::yolo decodes.

    python export.py --weights weights.npz --out xray-threats.onnx
It then runs the ONNX file in onnxruntime and checks it against the JAX model.
"""

import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import xray_common as xc  # noqa: E402
from train import BACKBONE, HEAD, LAYERS, load_params  # noqa: E402

OPSET = 17


def build(params, meta):
    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    for name, *_ in LAYERS:
        const(f"{name}.w", np.transpose(np.asarray(params[name]["w"], np.float32), (3, 2, 0, 1)))
        const(f"{name}.b", np.asarray(params[name]["b"], np.float32))

    def conv(layer, x, stride, out, relu=True):
        k = int(np.asarray(params[layer]["w"]).shape[0])
        p = (k - 1) // 2
        y = out if not relu else f"{out}_pre"
        nodes.append(helper.make_node("Conv", [x, f"{layer}.w", f"{layer}.b"], [y], strides=[stride, stride],
                                      pads=[p, p, p, p], kernel_shape=[k, k], name=f"{out}_conv"))
        if relu:
            nodes.append(helper.make_node("Relu", [y], [out], name=f"{out}_relu"))
        return out

    def up2(x, out):
        nodes.append(helper.make_node("Resize", [x, "", const(f"{out}_scales", np.array([1, 1, 2, 2], np.float32))], [out],
                                      mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor",
                                      name=out))
        return out

    def add(a, b, out):
        nodes.append(helper.make_node("Add", [a, b], [out], name=out))
        return out

    x = "images"
    feats = {}
    for name, _, _, _, s in BACKBONE:
        x = conv(name, x, s, name)
        feats[name] = x
    p5 = conv("l5", feats["b8"], 1, "p5_lin", relu=False)
    p4 = conv("s4", add(conv("l4", feats["b6"], 1, "l4", relu=False), up2(p5, "p5_up"), "p4_sum"), 1, "p4")
    p3 = conv("s3", add(conv("l3", feats["b4"], 1, "l3", relu=False), up2(p4, "p4_up"), "p3_sum"), 1, "p3")
    nodes.append(helper.make_node("Relu", [p5], ["p5"], name="p5_relu"))
    cls_l, box_l, ctr_l = [], [], []
    for lvl, p in zip((3, 4, 5), ("p3", "p4", "p5")):
        h = conv("h0", p, 1, f"h0_{lvl}")
        h = conv("h1", h, 1, f"h1_{lvl}")
        for head, acc, c in (("hcls", cls_l, xc.NUM_CLASSES), ("hbox", box_l, 4), ("hctr", ctr_l, 1)):
            y = conv(head, h, 1, f"{head}_{lvl}", relu=False)
            shape = const(f"{head}_{lvl}_shape", np.array([1, c, -1], np.int64))
            nodes.append(helper.make_node("Reshape", [y, shape], [f"{head}_{lvl}_flat"], name=f"{head}_{lvl}_flat"))
            acc.append(f"{head}_{lvl}_flat")
    for name, parts in (("cls", cls_l), ("box", box_l), ("ctr", ctr_l)):
        nodes.append(helper.make_node("Concat", parts, [f"{name}_all"], axis=2, name=f"{name}_all"))
    points, strides = xc.grid_points()
    n = len(points)
    # side distances: exp(clip(raw, -6, 6)) x stride
    nodes.append(helper.make_node("Clip", ["box_all", const("clip_lo", np.array(-6, np.float32)),
                                           const("clip_hi", np.array(6, np.float32))], ["box_clip"], name="box_clip"))
    nodes.append(helper.make_node("Exp", ["box_clip"], ["box_exp"], name="box_exp"))
    nodes.append(helper.make_node("Mul", ["box_exp", const("strides", strides.reshape(1, 1, n))], ["ltrb"], name="ltrb"))
    # [cx, cy, w, h] = P @ ltrb + points, with P a fixed 4x4 mix of (l, t, r, b)
    mix = np.array([[-0.5, 0, 0.5, 0], [0, -0.5, 0, 0.5], [1, 0, 1, 0], [0, 1, 0, 1]], np.float32)
    nodes.append(helper.make_node("MatMul", [const("mix", mix.reshape(1, 4, 4)), "ltrb"], ["box_rel"], name="box_rel"))
    pts = np.zeros((1, 4, n), np.float32)
    pts[0, 0], pts[0, 1] = points[:, 0], points[:, 1]
    nodes.append(helper.make_node("Add", ["box_rel", const("points", pts)], ["boxes"], name="boxes"))
    nodes.append(helper.make_node("Sigmoid", ["cls_all"], ["cls_p"], name="cls_p"))
    nodes.append(helper.make_node("Sigmoid", ["ctr_all"], ["ctr_p"], name="ctr_p"))
    nodes.append(helper.make_node("Mul", ["cls_p", "ctr_p"], ["scores"], name="scores"))
    nodes.append(helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1, name="output0"))

    graph = helper.make_graph(
        nodes, "xray_threats",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 2, xc.S, xc.S])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + xc.NUM_CLASSES, n])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="qorovul models/xray")
    model.ir_version = 8
    labels = ",".join(xc.THREAT_CLASSES)
    for k, v in {"labels": labels, "preprocessing": "xray_common.py / CARD.md", "training": json.dumps(meta),
                 "licence": "Apache-2.0", "data": "synthetic only (models/xray/synth.py)"}.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(model, full_check=True)
    return model


def reference(params, x):
    """The JAX model's decoded output for x [B, S, S, 2] -> [B, 4 + C, N]."""
    import jax
    from train import flat_outputs
    cls, box, ctr = flat_outputs(params, x)
    points, strides = xc.grid_points()
    ltrb = np.exp(np.clip(np.asarray(box), -6, 6)) * strides[None, :, None]
    l, t, r, b = ltrb[..., 0], ltrb[..., 1], ltrb[..., 2], ltrb[..., 3]
    cx, cy = points[None, :, 0] + (r - l) / 2, points[None, :, 1] + (b - t) / 2
    sc = np.asarray(jax.nn.sigmoid(cls)) * np.asarray(jax.nn.sigmoid(ctr))[..., None]
    return np.concatenate([np.stack([cx, cy, l + r, t + b], 1), np.transpose(sc, (0, 2, 1))], 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--check", help="a folder of scans to compare onnxruntime with JAX on (first 4)")
    a = ap.parse_args()
    params = load_params(a.weights)
    meta = json.loads(str(np.load(a.weights)["__meta__"]))
    model = build(params, meta)
    # Deterministic bytes: no timestamps or random names in the graph.
    onnx.save(model, a.out)
    import onnxruntime as ort
    sess = ort.InferenceSession(a.out, providers=["CPUExecutionProvider"])
    if a.check:
        x, _, _, _ = xc.load_folder(a.check, 4)
        x = x.astype(np.float32)
    else:
        x = np.random.default_rng(0).uniform(0, 1, (2, xc.S, xc.S, 2)).astype(np.float32)
    ref = reference(params, x)
    worst = 0.0
    for i in range(len(x)):
        got = sess.run(None, {"images": np.transpose(x[i:i + 1], (0, 3, 1, 2))})[0]
        worst = max(worst, float(np.max(np.abs(got - ref[i:i + 1]) / (1 + np.abs(ref[i:i + 1])))))
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes); onnxruntime vs JAX: max rel. difference {worst:.2e}")
    if worst > 1e-3:
        sys.exit("the ONNX graph does not reproduce the JAX model")


if __name__ == "__main__":
    main()
