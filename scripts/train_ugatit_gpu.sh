#!/usr/bin/env bash
# U-GAT-IT training on a GPU, resuming from the bundled weights: one or more runs side by side on one card.
#
# Usage (on the GPU machine, repo root): bash scripts/train_ugatit_gpu.sh PACK MINUTES OUT [NAME:ARGS ...]
#   PACK     a pack of the training adults at 108 px (scripts/pack_faces.py --size 108 --train-only --adults
#            [--part K/N] --quality 70) in a git-ignored folder
#   MINUTES  each run's time budget
#   OUT      where each run's export lands as NAME/model.safetensors + NAME/rest.tar (card, config, resume.json,
#            training log, the run's log): two files per run, easy to copy back from a remote machine
#   ARGS     train.py arguments of that run (default one run, "main:--batch-size 4 --bf16 --ema-decay 0.995
#            --focus-weight 10 --focus-charge 0.5", the settings of the CPU runs behind the bundled weights)
# Each run starts from a copy of checkpoints/ugatit (its weights and resume.json: the step, the images seen, the
# runs so far), so it adds to the CPU runs as they add to each other. Back here, copy a run's two files into
# checkpoints/ugatit (tar -xf rest.tar -C checkpoints/ugatit) and measure it as its card says.
set -u
pack=$1; minutes=$2; out=$3; shift 3
[ $# -gt 0 ] || set -- "main:--batch-size 4 --bf16 --ema-decay 0.995 --focus-weight 10 --focus-charge 0.5"
export PYTHONUNBUFFERED=1
. "$(dirname "$0")/gpu_runs.sh"
for spec in "$@"; do  # each run starts from the bundled state
  name=${spec%%:*}
  rm -rf "exports/$name" && mkdir -p exports && cp -r checkpoints/ugatit "exports/$name"
done
start_runs gan_viz.models.ugatit.train "$pack" "$minutes" "$@"
collect_runs "$out" "$@"
