#!/usr/bin/env python3
"""PyTorch peer for leukoscope's training-throughput benchmark.

Builds the network described by a leukoscope ModelSpec (the JSON that
`leukoscope-train bench-train` writes, the same graph our trainer interprets), then
times training steps (forward, cross-entropy, backward, Adam step) on random inputs
at the given batch size, and prints one JSON line:
{"engine": "pytorch", "device": ..., "threads": ..., "batch": ..., "images_per_s": ..., "step_ms": [...]}
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def activation(spec):
    if spec == "Relu":
        return nn.ReLU()
    if spec == "Relu6":
        return nn.ReLU6()
    if spec == "Silu":
        return nn.SiLU()
    if spec == "Sigmoid":
        return nn.Sigmoid()
    if isinstance(spec, dict) and "LeakyRelu" in spec:
        return nn.LeakyReLU(spec["LeakyRelu"]["slope"])
    raise ValueError(f"unknown activation {spec!r}")


class SqueezeExcite(nn.Module):
    def __init__(self, channels, se):
        super().__init__()
        self.reduce = nn.Linear(channels, se["reduced"])
        self.expand = nn.Linear(se["reduced"], channels)
        self.act = activation(se["activation"])
        self.gate = activation(se["gate"])

    def forward(self, x):
        s = x.mean(dim=(2, 3))
        g = self.gate(self.expand(self.act(self.reduce(s))))
        return x * g[:, :, None, None]


class SpecNet(nn.Module):
    """Interprets the spec's graph exactly as leukoscope's Network does."""

    def __init__(self, spec):
        super().__init__()
        inp = spec["input"]
        shapes = [("map", inp["channels"], inp["height"], inp["width"])]
        self.inputs = []
        self.kinds = []
        layers = []
        for index, node in enumerate(spec["nodes"]):
            ins = node["inputs"] or [index]
            self.inputs.append(ins)
            shape = shapes[ins[0]]
            op = node["op"]
            name, body = (op, None) if isinstance(op, str) else next(iter(op.items()))
            layer = nn.Identity()
            out = shape
            if name == "Conv2d":
                c = body
                layer = nn.Conv2d(shape[1], c["out_channels"], tuple(c["kernel"]), tuple(c["stride"]),
                                  tuple(c["padding"]), tuple(c["dilation"]), c["groups"], c["bias"])
                h = (shape[2] + 2 * c["padding"][0] - c["dilation"][0] * (c["kernel"][0] - 1) - 1) // c["stride"][0] + 1
                w = (shape[3] + 2 * c["padding"][1] - c["dilation"][1] * (c["kernel"][1] - 1) - 1) // c["stride"][1] + 1
                out = ("map", c["out_channels"], h, w)
            elif name == "BatchNorm":
                layer = (nn.BatchNorm2d if shape[0] == "map" else nn.BatchNorm1d)(shape[1], eps=body["eps"])
            elif name == "Activation":
                layer = activation(body)
            elif name in ("MaxPool", "AvgPool"):
                p = body
                if name == "MaxPool":
                    layer = nn.MaxPool2d(tuple(p["kernel"]), tuple(p["stride"]), tuple(p["padding"]))
                else:
                    layer = nn.AvgPool2d(tuple(p["kernel"]), tuple(p["stride"]), tuple(p["padding"]),
                                         count_include_pad=False)
                h = (shape[2] + 2 * p["padding"][0] - p["kernel"][0]) // p["stride"][0] + 1
                w = (shape[3] + 2 * p["padding"][1] - p["kernel"][1]) // p["stride"][1] + 1
                out = ("map", shape[1], h, w)
            elif name == "GlobalAvgPool":
                out = ("vec", shape[1])
            elif name == "Flatten":
                n = shape[1] * shape[2] * shape[3] if shape[0] == "map" else shape[1]
                out = ("vec", n)
            elif name == "Dense":
                layer = nn.Linear(shape[1], body["out_features"], bias=body["bias"])
                out = ("vec", body["out_features"])
            elif name == "Dropout":
                layer = nn.Dropout(body["rate"])
            elif name == "Add":
                pass
            elif name == "Concat":
                total = sum(shapes[v][1] for v in ins)
                out = (shape[0], total) + tuple(shape[2:])
            elif name == "SqueezeExcite":
                layer = SqueezeExcite(shape[1], body)
            else:
                raise ValueError(f"unknown op {name}")
            self.kinds.append(name)
            layers.append(layer)
            shapes.append(out)
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        values = [x]
        for layer, kind, ins in zip(self.layers, self.kinds, self.inputs):
            args = [values[v] for v in ins]
            if kind == "Add":
                y = args[0]
                for a in args[1:]:
                    y = y + a
            elif kind == "Concat":
                y = torch.cat(args, dim=1)
            elif kind == "GlobalAvgPool":
                y = args[0].mean(dim=(2, 3))
            elif kind == "Flatten":
                y = torch.flatten(args[0], 1)
            else:
                y = layer(args[0])
            values.append(y)
        return values[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True, help="ModelSpec JSON")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    with open(args.spec) as f:
        spec = json.load(f)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = SpecNet(spec).to(device).train()
    inp = spec["input"]
    classes = None
    x = torch.randn(args.batch, inp["channels"], inp["height"], inp["width"], device=device)
    with torch.no_grad():
        classes = model(x[:2]).shape[1]
    y = torch.randint(0, classes, (args.batch,), device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(json.dumps({
        "engine": "pytorch",
        "version": torch.__version__,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "images_per_s": args.batch / median,
        "step_ms": [t * 1e3 for t in times],
    }))


if __name__ == "__main__":
    sys.exit(main())
