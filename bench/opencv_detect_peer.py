#!/usr/bin/env python3
"""OpenCV peer for leukoscope's cell-detection benchmark (`leukoscope_edge::bench::detection`).

Runs the steps of leukoscope-edge's `CellDetector` (edge-runtime/src/detect.rs) with
OpenCV and numpy on a folder of PNG frames, in the same run as our detector, and prints one
JSON line:

    {"per_frame_ms": [...], "cells": [...], "opencv": "4.x.y", "threads": N,
     "frames": N, "iters": N}

`per_frame_ms` holds one time per frame per timed pass, pass after pass (frames x iters
entries); `cells` the number of nuclei kept in each frame, in file-name order. Frames are
decoded (and turned from OpenCV's BGR to RGB) before any timing, so decoding is left out,
as it is on our side.

The steps, with the settings `--config` gives (JSON, keys as below):

1. Shrink by whole `shrink_factor` blocks: cv2.resize INTER_AREA on the frame cropped to a
   whole number of blocks (block means, rounded to 8 bits; ours keeps the exact sums).
2. Glass level per channel: the `glass_percentile` of the block means (cv2.calcHist).
   Optical density -ln(light / glass), floored at 0, through a 256-entry float cv2.LUT.
3. Colour deconvolution: the inverse of the stain matrix [nucleus_stain, counterstain,
   their cross product] (each normalized); its first row, and a row of ones for the total
   density, applied to every block with cv2.transform.
4. Otsu (cv2.threshold THRESH_OTSU) on the nuclear density of the stained blocks (total
   above `stained_density`), scaled to 8 bits over 0..3 as ours bins it; the threshold is
   never below `min_nuclear_density`.
5. Opening by reconstruction: cv2.erode with a 2x2 square (anchor at its top-left, edges
   replicated), then cv2.connectedComponents (8-connected) of the mask, keeping each
   component of which at least a third of the pixels survive the erosion; holes filled by
   cv2.floodFill of the background from the (padded) edge.
6. cv2.connectedComponentsWithStats, 8-connected; components under `min_area_px` dropped.
7. Split of touching nuclei: cv2.distanceTransform (DIST_L2, 3x3 chamfer) of each
   component, h-maxima of depth `split_depth_px` (reconstruction by dilation of dist - h
   under dist; a component without one keeps its highest point), and when there are two
   or more, cv2.watershed from them on the shrunk colour image, as OpenCV's own
   distance-transform-and-watershed recipe does (ours floods the distance map instead).
8. Area within `min_area_px`..=`max_area_px` mask pixels, and solidity (contour area over
   the area of its cv2.convexHull) at least `min_solidity`.

cv2.setNumThreads(--threads), 1 by default: our detector runs on one thread.

Exits with 3 and one line on stderr when OpenCV (or numpy) is missing; with 2 on a bad
argument or an unreadable frame.
"""

import argparse
import json
import math
import os
import sys
import time

KEYS = (
    "shrink_factor",
    "nucleus_stain",
    "counterstain",
    "min_nuclear_density",
    "stained_density",
    "glass_percentile",
    "min_area_px",
    "max_area_px",
    "min_solidity",
    "split_depth_px",
)
OTSU_MAX = 3.0
# A component of the mask is kept when one in this many of its pixels survives the
# 2x2 erosion (ours: SEED_SHARE_INV in scan/detect.rs).
SEED_SHARE_INV = 3


def settings(text):
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"--config is not JSON: {e}")
    if not isinstance(config, dict):
        raise argparse.ArgumentTypeError("--config must be a JSON object")
    missing = [k for k in KEYS if k not in config]
    if missing:
        raise argparse.ArgumentTypeError(f"--config lacks {', '.join(missing)}")
    factor = config["shrink_factor"]
    if not isinstance(factor, int) or not 1 <= factor <= 8:
        raise argparse.ArgumentTypeError(f"shrink_factor must be an integer 1 to 8: {factor!r}")
    return config


def unmixing(nucleus, counter, np):
    """First row of the inverse stain matrix: RGB density to nuclear-stain density."""
    n = np.asarray(nucleus, dtype=np.float64)
    c = np.asarray(counter, dtype=np.float64)
    n = n / np.linalg.norm(n)
    c = c / np.linalg.norm(c)
    residual = np.cross(n, c)
    residual /= np.linalg.norm(residual)
    stains = np.stack([n, c, residual], axis=1)
    return np.linalg.inv(stains)[0]


class Detector:
    def __init__(self, config, cv2, np):
        self.cv2, self.np = cv2, np
        self.c = config
        self.f = config["shrink_factor"]
        unmix = unmixing(config["nucleus_stain"], config["counterstain"], np)
        # Rows of the per-block dot products: nuclear share, and the total density.
        self.transform = np.array([unmix, [1.0, 1.0, 1.0]], dtype=np.float32)
        self.kernel = np.ones((3, 3), np.uint8)
        self.square2 = np.ones((2, 2), np.uint8)
        self.levels = np.maximum(np.arange(256, dtype=np.float64), 0.5)

    def detect(self, frame):
        cv2, np, c, f = self.cv2, self.np, self.c, self.f
        h, w = frame.shape[:2]
        mw, mh = w // f, h // f
        if mw < 3 or mh < 3:
            return 0
        small = cv2.resize(frame[: mh * f, : mw * f], (mw, mh), interpolation=cv2.INTER_AREA)

        # Glass: a high percentile of each channel's block means.
        count = mw * mh
        wanted = max(1, math.ceil(count * c["glass_percentile"] / 100.0))
        lut = np.empty((1, 256, 3), np.float32)
        for ch in range(3):
            hist = cv2.calcHist([small], [ch], None, [256], [0, 256]).ravel()
            glass = float(np.searchsorted(np.cumsum(hist), wanted))
            lut[0, :, ch] = np.maximum(-np.log(self.levels / max(glass, 1.0)), 0.0)
        od = cv2.LUT(small, lut)
        mixed = cv2.transform(od, self.transform)
        nuclear, total = mixed[..., 0], mixed[..., 1]

        stained = total > c["stained_density"]
        if not stained.any():
            return 0
        scale = 256.0 / OTSU_MAX
        bins = np.clip(nuclear[stained] * scale, 0, 255).astype(np.uint8).reshape(1, -1)
        otsu, _ = cv2.threshold(bins, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        # OpenCV keeps values above its threshold: bin otsu + 1 is the first nuclear one.
        threshold = max((otsu + 1) / scale, c["min_nuclear_density"])
        mask = (nuclear >= threshold).astype(np.uint8)

        seeds = cv2.erode(
            mask, self.square2, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE
        )
        n, labels = cv2.connectedComponents(mask, connectivity=8)
        sizes = np.bincount(labels.ravel(), minlength=n)
        seeded = np.bincount(labels[seeds > 0], minlength=n)
        keep = seeded * SEED_SHARE_INV >= sizes
        keep[0] = False
        mask = keep[labels].astype(np.uint8)
        padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        cv2.floodFill(padded, None, (0, 0), 2)
        mask |= (padded[1:-1, 1:-1] == 0).astype(np.uint8)

        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        cells = 0
        for k in range(1, n):
            x, y, bw, bh, area = (int(v) for v in stats[k])
            if area < c["min_area_px"]:
                continue
            # One pixel of background around, as ours: the distance falls to it at the
            # frame's edge too.
            local = (labels[y : y + bh, x : x + bw] == k).astype(np.uint8)
            local = cv2.copyMakeBorder(local, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
            for nucleus in self.split(local, small[y : y + bh, x : x + bw]):
                if self.keep(nucleus):
                    cells += 1
        return cells

    def split(self, local, image):
        """The nuclei of one component (0/1 masks of the padded box)."""
        cv2, np = self.cv2, self.np
        dist = cv2.distanceTransform(local, cv2.DIST_L2, 3)
        depth = self.c["split_depth_px"]
        # h-maxima: reconstruction by dilation of dist - h under dist; maxima rising at
        # least h above their saddle keep a dome of height h.
        rec = np.maximum(dist - depth, 0)
        while True:
            grown = np.minimum(cv2.dilate(rec, self.kernel), dist)
            if np.array_equal(grown, rec):
                break
            rec = grown
        peaks = ((dist - rec >= depth - 1e-4) & (local > 0)).astype(np.uint8)
        count, markers = cv2.connectedComponents(peaks, connectivity=8)
        if count <= 2:
            # One maximum (or none high enough: the component is one nucleus).
            return [local]
        markers = markers.astype(np.int32)
        cv2.watershed(cv2.copyMakeBorder(image, 1, 1, 1, 1, cv2.BORDER_REPLICATE), markers)
        # The floods cover the whole box; a nucleus is its flood within the component.
        # Watershed lines (-1) between nuclei belong to neither.
        return [((markers == m) & (local > 0)).astype(np.uint8) for m in range(1, count)]

    def keep(self, nucleus):
        cv2, c = self.cv2, self.c
        area = int(cv2.countNonZero(nucleus))
        if area < c["min_area_px"] or area > c["max_area_px"]:
            return False
        contours, _ = cv2.findContours(nucleus, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            return False
        contour = max(contours, key=cv2.contourArea)
        hull_area = cv2.contourArea(cv2.convexHull(contour))
        if hull_area <= 0:
            # A line of pixels: no hull to speak of, not a nucleus.
            return False
        solidity = min(cv2.contourArea(contour) / hull_area, 1.0)
        return solidity >= c["min_solidity"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", required=True, help="folder of PNG frames, read in name order")
    parser.add_argument("--config", type=settings, required=True, help="detector settings, JSON")
    parser.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads")
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes over the frames")
    parser.add_argument("--iters", type=int, default=3, help="timed passes over the frames")
    args = parser.parse_args()
    if args.iters < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--iters and --threads must be at least 1 and --warmup at least 0")

    try:
        import cv2
        import numpy as np
    except ImportError:
        print("OpenCV is missing: pip install opencv-python-headless numpy", file=sys.stderr)
        return 3

    cv2.setNumThreads(args.threads)
    try:
        names = sorted(n for n in os.listdir(args.frames) if n.lower().endswith(".png"))
    except OSError as e:
        print(f"cannot list {args.frames}: {e}", file=sys.stderr)
        return 2
    if not names:
        print(f"no PNG frames in {args.frames}", file=sys.stderr)
        return 2
    frames = []
    for name in names:
        path = os.path.join(args.frames, name)
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            print(f"cannot read frame {path}", file=sys.stderr)
            return 2
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    detector = Detector(args.config, cv2, np)
    for _ in range(args.warmup):
        for frame in frames:
            detector.detect(frame)
    times, cells = [], []
    for _ in range(args.iters):
        cells = []
        for frame in frames:
            start = time.perf_counter()
            found = detector.detect(frame)
            times.append((time.perf_counter() - start) * 1e3)
            cells.append(found)
    row = {
        "per_frame_ms": times,
        "cells": cells,
        "opencv": cv2.__version__,
        "threads": args.threads,
        "frames": len(frames),
        "iters": args.iters,
    }
    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
