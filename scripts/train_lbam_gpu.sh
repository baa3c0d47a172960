#!/usr/bin/env bash
# LBAM training on a GPU at 256 px (the inpainting editor's size), starting from the bundled weights.
#
# Usage (on the GPU machine, repo root): bash scripts/train_lbam_gpu.sh PACK MINUTES OUT [NAME:ARGS ...]
#   PACK     a pack of training faces at their own 200 px (scripts/pack_faces.py --size 200 --train-only
#            [--part K/N] --quality 70; every 8th face: 2,401 faces, 6.1 MB) in a git-ignored folder
#   MINUTES  each run's time budget
#   OUT      where each run's export lands as NAME/model.safetensors + NAME/rest.tar (card, config, resume.json,
#            discriminator, training log, the run's log): two files per run, easy to copy back
#   ARGS     train.py arguments of that run (default one run, "lbam256:--image-size 256 --batch-size 16"; names differ from
#            the U-GAT-IT runs beside it, whose run folders and exports are named the same way)
# Each run starts from a copy of checkpoints/lbam: the 128 px model grows one level deeper (every tensor whose shape
# allows is copied, gan_viz/models/lbam/start.py), a 256 px one resumes from its weights and resume.json, so GPU runs
# add to each other and to CPU runs. A run whose NAME holds "scratch" starts from random weights instead: the
# issue's comparison, e.g. lbam256:ARGS lbam256-scratch:ARGS side by side; the paper's perceptual and style losses
# are a third run's: "lbam256-feat:--image-size 256 --batch-size 16 --perceptual 0.05 --style 120".
# Back here, copy a run's two files into checkpoints/lbam (tar -xf rest.tar -C checkpoints/lbam) and measure it
# (python benchmarks/inpainting_quality.py --data DIR --size 200 / --size 256 --write-card).
set -u
pack=$1; minutes=$2; out=$3; shift 3
[ $# -gt 0 ] || set -- "lbam256:--image-size 256 --batch-size 16"
export PYTHONUNBUFFERED=1
. "$(dirname "$0")/gpu_runs.sh"
for spec in "$@"; do
  name=${spec%%:*}
  rm -rf "exports/$name" && mkdir -p "exports/$name"
  case $name in *scratch*) ;; *) cp -r checkpoints/lbam/. "exports/$name/" ;; esac
done
start_runs gan_viz.models.lbam.train "$pack" "$minutes" "$@"
collect_runs "$out" "$@"
