#!/usr/bin/env python3
"""Run an exported .onnx model in onnxruntime on given inputs and write its logits.

The parity tests (tests/tests/onnx_matches_engine.rs) use it to compare onnxruntime with
leukoscope's own engine; it works by hand too:

    python3 bench/onnx_check.py --model model.onnx --input images.npy --out logits.npy
    python3 bench/onnx_check.py --model model.onnx --input images.f32 --shape 8,3,64,64 \
        --out logits.f32

Inputs: a .npy array [N, C, H, W] (float32), or raw little-endian float32 (any other
extension) with --shape N,C,H,W. Output: logits [N, classes] as .npy when --out ends in
.npy, else raw little-endian float32. One JSON line on stdout says what ran.

Exit codes: 0 done, 2 bad arguments or files, 3 onnxruntime or numpy missing.
"""

import argparse
import json
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the .onnx file")
    parser.add_argument("--input", required=True, help=".npy, or raw float32 with --shape")
    parser.add_argument("--shape", help="N,C,H,W of a raw float32 input")
    parser.add_argument("--out", required=True, help="logits: .npy, or raw float32")
    parser.add_argument(
        "--optimization",
        choices=["all", "extended", "basic", "disable"],
        default="all",
        help="onnxruntime graph optimization level (all fuses QDQ into integer kernels)",
    )
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads")
    args = parser.parse_args()

    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        print(f"onnx_check: {e}; pip install onnxruntime numpy", file=sys.stderr)
        return 3

    try:
        if args.input.endswith(".npy"):
            x = np.load(args.input).astype(np.float32, copy=False)
        else:
            if not args.shape:
                print("onnx_check: a raw input needs --shape N,C,H,W", file=sys.stderr)
                return 2
            shape = tuple(int(d) for d in args.shape.split(","))
            x = np.fromfile(args.input, dtype="<f4").reshape(shape)
    except (OSError, ValueError) as e:
        print(f"onnx_check: cannot read {args.input}: {e}", file=sys.stderr)
        return 2

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[args.optimization]
    session = ort.InferenceSession(
        args.model, sess_options=options, providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    (logits,) = session.run(None, {name: np.ascontiguousarray(x)})
    logits = np.asarray(logits, dtype=np.float32)
    if args.out.endswith(".npy"):
        np.save(args.out, logits)
    else:
        logits.astype("<f4").tofile(args.out)
    print(
        json.dumps(
            {
                "model": args.model,
                "input": list(x.shape),
                "logits": list(logits.shape),
                "onnxruntime": ort.__version__,
                "optimization": args.optimization,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
