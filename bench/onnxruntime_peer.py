#!/usr/bin/env python3
"""ONNX Runtime peer for leukoscope's inference benchmark (`leukoscope-edge bench`).

Times the exported ONNX models (`leukoscope-train export-onnx`, float and `--int8` QDQ) in
onnxruntime on the CPU under the same batches, threads and iteration counts as our own
engines, in the same run, and prints one JSON line per configuration:

    {"engine": "onnxruntime-fp32" | "onnxruntime-int8", "batch": N, "threads": N,
     "p50_ms": X, "p99_ms": X, "images_per_s": X, "batch_p50_ms": X, "batch_p99_ms": X}

The figures follow leukoscope-edge's BenchRow: `p50_ms` and `p99_ms` are per-image
latencies, the time of one `run` call on a batch divided by the batch size (quantile index
round((calls - 1) * q) of the sorted calls); `images_per_s` is images over the summed time
of all timed calls. `batch_p50_ms` and `batch_p99_ms` are the same quantiles of whole
calls, undivided.

Each session runs with intra_op_num_threads = threads, inter_op_num_threads = 1,
sequential execution and every graph optimization (which fuses QDQ into onnxruntime's
integer kernels). Inputs are uniform random in [-2, 2], the spread of normalized images.

Exits with 3 and one line on stderr when onnxruntime (or numpy) is missing; with 2 on a
bad argument or an unreadable model.
"""

import argparse
import json
import sys
import time


def integers(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}")
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers: {text!r}")
    return values


def quantile(sorted_times, q):
    index = int(round((len(sorted_times) - 1) * q))
    return sorted_times[index]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="float ONNX model (onnxruntime-fp32 rows)")
    parser.add_argument("--int8-model", help="int8 QDQ ONNX model (onnxruntime-int8 rows)")
    parser.add_argument("--threads", type=integers, default=[1, 2], help="e.g. 1,2")
    parser.add_argument("--batches", type=integers, default=[1, 8], help="e.g. 1,8")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls per configuration")
    parser.add_argument("--iters", type=int, default=40, help="timed calls per configuration")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    args = parser.parse_args()
    if not args.model and not args.int8_model:
        parser.error("give --model and/or --int8-model")
    if args.iters < 1 or args.warmup < 0:
        parser.error("--iters must be at least 1 and --warmup at least 0")

    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime is missing: pip install onnxruntime numpy", file=sys.stderr)
        return 3

    rng = np.random.default_rng(1)
    models = [("onnxruntime-fp32", args.model), ("onnxruntime-int8", args.int8_model)]
    for engine, path in models:
        if not path:
            continue
        for threads in args.threads:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            try:
                session = ort.InferenceSession(
                    path, sess_options=options, providers=["CPUExecutionProvider"]
                )
            except Exception as e:  # onnxruntime raises its own exception types
                print(f"cannot load {path}: {e}".replace("\n", " "), file=sys.stderr)
                return 2
            name = session.get_inputs()[0].name
            for batch in args.batches:
                shape = (batch, args.channels, args.height, args.width)
                x = rng.uniform(-2.0, 2.0, size=shape).astype(np.float32)
                feed = {name: x}
                for _ in range(args.warmup):
                    session.run(None, feed)
                times = []
                for _ in range(args.iters):
                    start = time.perf_counter()
                    session.run(None, feed)
                    times.append(time.perf_counter() - start)
                total = sum(times)
                times.sort()
                row = {
                    "engine": engine,
                    "batch": batch,
                    "threads": threads,
                    "p50_ms": quantile(times, 0.5) * 1e3 / batch,
                    "p99_ms": quantile(times, 0.99) * 1e3 / batch,
                    "images_per_s": len(times) * batch / total,
                    "batch_p50_ms": quantile(times, 0.5) * 1e3,
                    "batch_p99_ms": quantile(times, 0.99) * 1e3,
                }
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
