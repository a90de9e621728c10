"""The peer of `cargo bench --bench video`: the loop an integrator would write first.

OpenCV decodes, converts and resizes; onnxruntime runs the same model with default session
options except the thread count. Nothing else is tuned: this is the bar qorovul's pipeline
must beat, not a limit.

    python video_peer.py MODEL OUTPUT VIDEO FRAMES THREADS

Prints one line: `peer inference_fps=.. loop_fps=.. frames=..`, each rate steady state
(first frame out to last, as the Rust side measures).
"""
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort


def rate(ticks):
    return (len(ticks) - 1) / (ticks[-1] - ticks[0]) if len(ticks) > 1 else 0.0


def main():
    model, output, video = sys.argv[1:4]
    frames, threads = int(sys.argv[4]), int(sys.argv[5])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    size = (inp.shape[2], inp.shape[1])  # NHWC: width, height

    def prepare(bgr):
        rgb = cv2.cvtColor(cv2.resize(bgr, size), cv2.COLOR_BGR2RGB)
        return rgb.astype(np.float32)[None]

    def decoded(n):
        """Up to n frames of the video, decoded as they are asked for."""
        cap = cv2.VideoCapture(video)
        for _ in range(n):
            ok, bgr = cap.read()
            if not ok:
                return
            yield bgr

    # Inference alone, on frames decoded beforehand.
    inputs = [prepare(bgr) for bgr in decoded(frames)]
    ticks = []
    for x in inputs:
        session.run([output], {inp.name: x})
        ticks.append(time.perf_counter())
    inference = rate(ticks)

    # The whole loop: decode, prepare, infer, read the detections.
    ticks = []
    for bgr in decoded(frames):
        rows = session.run([output], {inp.name: prepare(bgr)})[0][0]  # x1, y1, x2, y2, score, class
        _ = rows[rows[:, 4] >= 0.4]
        ticks.append(time.perf_counter())
    print(f"peer inference_fps={inference:.2f} loop_fps={rate(ticks):.2f} frames={len(ticks)}", flush=True)


if __name__ == "__main__":
    main()
