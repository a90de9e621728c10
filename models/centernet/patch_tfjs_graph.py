#!/usr/bin/env python3
"""Patch the tfjs graph-model JSON of Human's CenterNet so that tf2onnx 1.16.1 can read it.

The model.json shipped in @vladmandic/human (models/centernet.json) was written by the
tfjs converter, which drops attributes that TensorFlow's op registry requires and that
tf2onnx needs when it rebuilds each node as a TF NodeDef for shape inference:

  * _FusedConv2D                 lacks the dtype-list attribute `TArgs` (no default in the
                                 op definition -> "NodeDef missing attr 'TArgs'") and the
                                 defaulted attributes num_host_args, filter_format,
                                 leakyrelu_alpha.
  * FusedDepthwiseConv2dNative   (tf2onnx maps it to _FusedDepthwiseConv2dNative) lacks the
                                 defaulted attributes epsilon and leakyrelu_alpha.
  * TopKV2                       lacks the dtype attributes `Tk` (type of k) and
                                 `index_type` (type of the indices output); tf2onnx looks
                                 `index_type` up directly to type the second output.

Only attributes that are missing are added; values are TensorFlow's op-definition
defaults, and the dtype attributes are derived from the node's own `T` (TArgs) or from
the graph (TopKV2's k is an int32 Const here; its indices output feeds int32 FloorDiv /
FloorMod nodes). Weights (centernet.bin) are untouched.

Usage: patch_tfjs_graph.py IN.json OUT.json
"""
import json
import sys


def _set_default(attrs, name, value):
    if name not in attrs:
        attrs[name] = value
        return 1
    return 0


def patch(model):
    nodes = model["modelTopology"]["node"]
    by_name = {n["name"]: n for n in nodes}
    added = {}

    def count(op, n):
        if n:
            added[op] = added.get(op, 0) + n

    for node in nodes:
        op = node["op"]
        attrs = node.setdefault("attr", {})
        if op == "_FusedConv2D":
            n = 0
            if "TArgs" not in attrs:
                t = attrs["T"]["type"]
                num_args = int(attrs.get("num_args", {}).get("i", "0"))
                attrs["TArgs"] = {"list": {"type": [t] * num_args}}
                n += 1
            n += _set_default(attrs, "num_host_args", {"i": "0"})
            n += _set_default(attrs, "filter_format", {"s": "SFdJTw=="})  # b"HWIO"
            n += _set_default(attrs, "leakyrelu_alpha", {"f": 0.2})
            count(op, n)
        elif op == "FusedDepthwiseConv2dNative":
            n = 0
            n += _set_default(attrs, "epsilon", {"f": 0.0001})
            n += _set_default(attrs, "leakyrelu_alpha", {"f": 0.2})
            count(op, n)
        elif op == "TopKV2":
            n = 0
            if "Tk" not in attrs:
                k_name = node["input"][1].split(":")[0]
                k_node = by_name.get(k_name)
                k_type = "DT_INT32"
                if k_node is not None and k_node["op"] == "Const":
                    k_type = k_node["attr"]["dtype"]["type"]
                attrs["Tk"] = {"type": k_type}
                n += 1
            n += _set_default(attrs, "index_type", {"type": "DT_INT32"})
            count(op, n)
    return added


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__.split("Usage:")[1])
        return 2
    with open(argv[1], "r", encoding="utf-8") as f:
        model = json.load(f)
    added = patch(model)
    with open(argv[2], "w", encoding="utf-8") as f:
        json.dump(model, f)
    for op, n in sorted(added.items()):
        print(f"patch_tfjs_graph: {op}: added {n} attribute(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
