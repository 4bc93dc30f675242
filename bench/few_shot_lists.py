#!/usr/bin/env python3
"""The lists of a few-shot measurement: a few labelled cells of a lab the model never saw
(what a clinic's reviewed corrections give), the rest of that lab to score on, and the
few mixed with cells the model trained on, so that every class of its taxonomy is present
when fine-tuning (`leukoscope-train train --init MODEL --data mixed.csv`).

Whole photos (frames) go to one side only, so no cell is scored on a photo it was tuned
on. Lists are in the CSV layout `--data` reads: path,label,group.

    python3 bench/few_shot_lists.py --crops C/zheng1 --train R/train.csv \
        --take neutrophil=50 --take lymphocyte=20 --take monocyte=20 --take eosinophil=10 \
        --mix 1000 --out FS
"""

import argparse
import csv
import os
import random


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crops", required=True, help="the lab's crop folder (with crops.csv, from `leukoscope-edge crops`)")
    parser.add_argument("--train", required=True, help="the model's train.csv, to mix from")
    parser.add_argument("--take", action="append", default=[], metavar="LABEL=N",
                        help="cells of this label to take as the few (repeatable)")
    parser.add_argument("--mix", type=int, default=1000, help="training cells to mix in")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, help="folder for few.csv, rest.csv, mixed.csv, control.csv")
    args = parser.parse_args()

    quota = {}
    for item in args.take:
        label, n = item.split("=")
        quota[label] = int(n)
    rows = list(csv.DictReader(open(os.path.join(args.crops, "crops.csv"))))
    by_frame = {}
    for row in rows:
        by_frame.setdefault(row["frame"], []).append(row)
    frames = sorted(by_frame)
    random.seed(args.seed)
    random.shuffle(frames)
    few, rest, taken = [], [], {label: 0 for label in quota}
    for frame in frames:
        cells = by_frame[frame]
        label = cells[0]["label"]
        if label in quota and taken[label] + len(cells) <= quota[label]:
            few += cells
            taken[label] += len(cells)
        else:
            rest += cells
    lab = os.path.basename(os.path.normpath(args.crops))

    def listed(cells):
        return [[os.path.join(os.path.abspath(args.crops), c["crop"]), c["label"],
                 f"{lab}/{os.path.basename(c['frame'])}"] for c in cells]

    trained = list(csv.reader(open(args.train)))[1:]
    random.shuffle(trained)
    trained = trained[: args.mix]
    os.makedirs(args.out, exist_ok=True)
    for name, entries in [("few", listed(few)), ("rest", listed(rest)),
                          ("mixed", listed(few) + trained), ("control", trained)]:
        with open(os.path.join(args.out, f"{name}.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "label", "group"])
            writer.writerows(entries)
    print(f"few {len(few)} ({taken}), rest {len(rest)}, mixed {len(few) + len(trained)}, control {len(trained)}")


if __name__ == "__main__":
    main()
