#!/usr/bin/env python3
"""How well a per-cell score tells cells from labs a model never saw from cells like its own.

Reads `leukoscope-train eval --predictions` files: one for cells of the training labs that
the model did not train on (a validation split), one or more for cells of labs it never
saw. For each score it prints the ROC AUC of telling the two apart, the share of each
unseen lab's cells flagged when the threshold flags 5 % of familiar cells, and what the
model says of the cells left unflagged: their accuracy where they have labels, and the
share called a malignant class (on normal cells, the false-blast rate that would remain).
With --slide-cells N it also draws slides of N cells from one lab (each familiar source
folder, each unseen lab; 2,000 draws with replacement, seed 1) and prints the share of
slides on which more than --slide-share of the cells are flagged: the slides a rule
"mostly unfamiliar: review every cell by hand" would stop.

    python3 bench/familiarity.py --familiar valid.csv --unseen zheng1=z1.csv --unseen bcd=b.csv

Scores, each higher for a less familiar cell:
- `1 - confidence`: what the board's "unidentified" threshold uses today;
- `energy`: the free energy of the logits (Liu et al. 2020);
- `distance`: the Mahalanobis distance of the cell's features to the nearest class of the
  training cells (Lee et al. 2018), when every file has it (`eval --familiar RUN/train.csv`).

Standard library only. Exit code 2 on bad arguments or files.
"""

import argparse
import csv
import random
import sys


def read(path):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"cannot read {path}: {e}")
    if not rows or not {"confidence", "energy"} <= rows[0].keys():
        sys.exit(f"{path} is not an `eval --predictions` file")
    scores = {
        "_rows": rows,
        "1 - confidence": [1.0 - float(r["confidence"]) for r in rows],
        "energy": [float(r["energy"]) for r in rows],
    }
    if "distance" in rows[0]:
        scores["distance"] = [float(r["distance"]) for r in rows]
    return scores


def auc(negatives, positives):
    """P(score of a positive > score of a negative), ties counting half (Mann-Whitney)."""
    ranked = sorted([(v, 0) for v in negatives] + [(v, 1) for v in positives])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mid_rank = (i + j + 1) / 2  # ranks are 1-based
        rank_sum += mid_rank * sum(1 for k in range(i, j) if ranked[k][1] == 1)
        i = j
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--familiar", required=True, help="predictions of unseen cells of the training labs")
    parser.add_argument("--unseen", action="append", required=True, metavar="NAME=CSV",
                        help="predictions of a lab never trained on; repeatable")
    parser.add_argument("--malignant", action="append", metavar="CLASS",
                        help="a class counted as malignant; repeatable (default: Blast)")
    parser.add_argument("--slide-cells", type=int, metavar="N",
                        help="also draw slides of N cells and count those a slide rule would stop")
    parser.add_argument("--slide-share", type=float, default=1 / 3,
                        help="the share of flagged cells above which a slide is stopped (default 1/3)")
    args = parser.parse_args()
    if args.slide_cells is not None and args.slide_cells < 1:
        parser.error("--slide-cells must be at least 1")
    malignant = set(args.malignant or ["Blast"])
    familiar = read(args.familiar)
    unseen = []
    for spec in args.unseen:
        name, sep, path = spec.partition("=")
        if not sep:
            parser.error(f"--unseen takes NAME=CSV, not {spec}")
        unseen.append((name, read(path)))

    print(f"familiar: {len(familiar['energy'])} cells ({args.familiar})")
    print("no threshold:")
    for name, lab in unseen:
        print(f"  {name:<12} {kept(lab['_rows'], malignant)}")
    for score, values in familiar.items():
        if score == "_rows" or any(score not in lab for _, lab in unseen):
            continue
        cut = sorted(values)[int(0.95 * (len(values) - 1))]
        print(f"{score}: threshold {cut:.4f} flags 5 % of familiar cells")
        print("  of which, by source folder: " + ", ".join(
            f"{source} {100 * share:.1f} % of {n}"
            for source, (share, n) in by_source(familiar["_rows"], values, cut).items()))
        for name, lab in unseen:
            flagged = sum(v > cut for v in lab[score]) / len(lab[score])
            left = [r for r, v in zip(lab["_rows"], lab[score]) if v <= cut]
            print(f"  {name:<12} {len(lab[score]):>6} cells  ROC AUC {auc(values, lab[score]):.3f}"
                  f"  flagged {100 * flagged:5.1f} %  unflagged: {kept(left, malignant)}")
        if args.slide_cells:
            labs = [(source, flags) for source, flags in
                    source_flags(familiar["_rows"], values, cut).items()]
            labs += [(name, [v > cut for v in lab[score]]) for name, lab in unseen]
            print(f"  slides of {args.slide_cells} cells stopped (more than "
                  f"{100 * args.slide_share:.0f} % flagged): " + ", ".join(
                      f"{name} {100 * stopped(flags, args.slide_cells, args.slide_share):.1f} %"
                      for name, flags in labs))


def source_flags(rows, values, cut):
    """Whether each cell is above `cut`, per source folder: the folder above the class
    folder (`.../pbc/neutrophil/x.png` is pbc), as `leukoscope-edge crops` lays sources out."""
    groups = {}
    for r, v in zip(rows, values):
        parts = r["image"].replace("\\", "/").split("/")
        groups.setdefault(parts[-3] if len(parts) >= 3 else "?", []).append(v > cut)
    return dict(sorted(groups.items()))


def by_source(rows, values, cut):
    """The share above `cut` per source folder, and its cells."""
    return {k: (sum(v) / len(v), len(v)) for k, v in source_flags(rows, values, cut).items()}


def stopped(flags, cells, share, draws=2000):
    """The share of slides of `cells` cells drawn from `flags` with more than `share` flagged."""
    rng = random.Random(1)
    return sum(sum(rng.choices(flags, k=cells)) > share * cells for _ in range(draws)) / draws


def kept(rows, malignant):
    """Accuracy (where labelled) and the share called malignant, of `rows`."""
    if not rows:
        return "none"
    called = sum(r["called"] in malignant for r in rows) / len(rows)
    text = f"{len(rows)}, {100 * called:.1f} % called malignant"
    if all(r["label"] for r in rows):
        right = sum(r["label"] == r["called"] for r in rows) / len(rows)
        text += f", accuracy {right:.3f}"
    return text


if __name__ == "__main__":
    main()
