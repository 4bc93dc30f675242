#!/usr/bin/env bash
# Reproduces docs/results.md and the shipped model, models/b-all-4-edge-s.lsm, from
# ../shared/data/aria-4class: the commands that made them, in the order they ran.
#
#   bench/reproduce-results.sh [SIGNING_KEY]
#
# SIGNING_KEY is the secret key (NAME.key from `leukoscope-train keygen`) to sign the
# model with; without it the model is left unsigned at runs/b-all-4-edge-s.lsm.
# About 6 hours on 2 CPU cores (VGG-16 alone about an hour), 7 with SOURCES (below).
# Run folders go to runs/ (git-ignored); the table replaces the one in docs/results.md
# (`results --into`) and its rows docs/results.json.
set -euo pipefail
cd "$(dirname -- "$0")/.."

key=${1:-}
data=../shared/data/aria-4class
cargo build --release -p leukoscope-trainer
lt=target/release/leukoscope-train

# Ours, the model that ships: 5 group folds, each fold's last epoch kept, then each fold
# quantized to int8 and measured on its own held-out fold.
$lt cv --data $data --model edge-s --input-size 128 --epochs 10 --lr 0.002 --batch 32 \
    --keep last --out runs/cv-edge-s
$lt quantize --model runs/cv-edge-s --calib $data

# The same recipe on every image, quantized, calibrated from the folds' out-of-fold int8
# logits (it has no held-out images of its own), signed.
$lt train --data $data --model edge-s --input-size 128 --epochs 10 --lr 0.002 --batch 32 \
    --valid-fraction 0 --out runs/edge-s-all
$lt quantize --model runs/edge-s-all --calib $data --out runs/edge-s-all/model-int8.lsm
$lt calibrate --model runs/edge-s-all/model-int8.lsm --cv runs/cv-edge-s --out runs/b-all-4-edge-s.lsm
if [[ -n $key ]]; then
    $lt sign --key "$key" runs/b-all-4-edge-s.lsm
fi

# The studies' recipes: too slow for all five folds on a CPU, so the first fold of the
# same 5-fold split, at 64x64, with fewer epochs than the studies (docs/results.md).
study() {
    local name=$1
    shift
    $lt cv --data $data --input-size 64 --keep last --run-folds 1 --out "runs/cv-$name" "$@"
    $lt quantize --model "runs/cv-$name" --calib $data
}
study simple-cnn --model simple-cnn --optimizer sgd:0.9 --lr 0.01 --epochs 15 --augment studies
study alexnet --model alexnet --optimizer sgd:0.9 --lr 0.01 --epochs 15 --augment studies
study dscnet --model dscnet --loss kl --batch 20 --epochs 20 --augment studies
study tversky-4 --model simple-cnn --loss tversky --epochs 15 --augment studies
study tversky-2 --model simple-cnn --loss tversky --taxonomy all-binary --epochs 15 --augment studies
study seed-cnn13-adam --model seed-cnn13 --optimizer adam --epochs 8 --augment studies
study seed-cnn13-adamax --model seed-cnn13 --optimizer adamax --lr 0.002 --epochs 8 --augment studies
study resnet50 --model resnet50 --epochs 6 --augment studies
study vgg16 --model vgg16 --optimizer sgd:0.9 --lr 0.01 --epochs 4 --augment studies

# What made the recipes that failed above train (2026-12-05): a cross-entropy term beside
# Tversky, He's initialization for study 002's networks (and a tenth of the rate for VGG-16).
study tversky-4-ce1 --model simple-cnn --loss tversky --tversky-ce 1 --epochs 15 --augment studies
study tversky-2-ce1 --model simple-cnn --loss tversky --tversky-ce 1 --taxonomy all-binary \
    --epochs 15 --augment studies
study simple-cnn-he --model simple-cnn --optimizer sgd:0.9 --lr 0.01 --epochs 15 --augment studies \
    --weight-init he
study alexnet-he --model alexnet --optimizer sgd:0.9 --lr 0.01 --epochs 15 --augment studies \
    --weight-init he
study vgg16-he --model vgg16 --optimizer sgd:0.9 --lr 0.001 --epochs 4 --augment studies --weight-init he
study simple-cnn-he-30 --model simple-cnn --optimizer sgd:0.9 --lr 0.01 --epochs 30 \
    --augment studies --weight-init he

# Study 002's networks from a backbone pretrained on other labs' white cells instead of
# ImageNet's (2026-12-05). Needs those cells: build them as ../shared/data-sources/README.md
# says (fetch each repository, run its script) and give the folder they went to as SOURCES
# (holding pbc/ and zheng/); without it these rows are left out.
pretrained_rows=()
if [[ -n ${SOURCES:-} ]]; then
    cargo build --release -p leukoscope-edge
    crops=runs/crops
    for source in pbc:pbc zheng1:zheng/dataset1 zheng2:zheng/dataset2; do
        if [[ ! -e $crops/${source%%:*}/crops.csv ]]; then
            target/release/leukoscope-edge crops --frames "$SOURCES/${source#*:}" \
                --out "$crops/${source%%:*}" --window-um 24
        fi
    done
    for model in simple-cnn alexnet; do
        $lt pretrain --taxonomy wbc-blast --source pbc=$crops/pbc --source zheng1=$crops/zheng1 \
            --source zheng2=$crops/zheng2 --model $model --input-size 64 --epochs 4 \
            --augment studies --weight-init he --valid-fraction 0.1 --keep last \
            --out runs/pretrain-$model
    done
    study simple-cnn-pre --model simple-cnn --optimizer sgd:0.9 --lr 0.01 --epochs 15 \
        --augment studies --weight-init he --init runs/pretrain-simple-cnn/model.lsm --new-head
    study alexnet-pre --model alexnet --optimizer sgd:0.9 --lr 0.01 --epochs 15 \
        --augment studies --weight-init he --init runs/pretrain-alexnet/model.lsm --new-head
    pretrained_rows=(simple-cnn-pre alexnet-pre)
fi

# The two candidates for the next model, on all five folds: DSCNet's recipe as above, and
# the shipped edge-s recipe with the studies' light augmentation instead of ours.
$lt cv --data $data --model dscnet --loss kl --batch 20 --epochs 20 --augment studies \
    --input-size 64 --keep last --out runs/cv-dscnet-5
$lt quantize --model runs/cv-dscnet-5 --calib $data
$lt cv --data $data --model edge-s --input-size 128 --epochs 10 --lr 0.002 --batch 32 \
    --augment studies --keep last --out runs/cv-edge-s-studies-aug
$lt quantize --model runs/cv-edge-s-studies-aug --calib $data

folders=()
for name in edge-s simple-cnn alexnet vgg16 seed-cnn13-adam seed-cnn13-adamax resnet50 tversky-4 tversky-2 dscnet \
    dscnet-5 edge-s-studies-aug tversky-4-ce1 tversky-2-ce1 simple-cnn-he alexnet-he vgg16-he \
    simple-cnn-he-30 \
    "${pretrained_rows[@]}"; do
    folders+=(--cv "runs/cv-$name")
done
$lt results "${folders[@]}" --into docs/results.md --json docs/results.json
