#!/usr/bin/env bash
# SAGAN training on a GPU: several recipes side by side on one card, each exported to be judged afterwards.
#
# Usage (on the GPU machine, repo root): bash scripts/train_sagan_gpu.sh PACK MINUTES OUT NAME:ARGS [NAME:ARGS ...]
#   PACK     a 64 px face pack (scripts/pack_faces.py --size 64 --train-only) in a git-ignored folder
#   MINUTES  each run's time budget (the runs share the card: three made 2.8-3.7 steps/s each at batch 256 on an H200)
#   OUT      where each run's export lands as NAME/model.safetensors + NAME/rest.tar (card, config, resume file,
#            logs, samples): two files per run, easy to copy back from a remote machine
#   ARGS     train.py arguments of that run, e.g. "a:--g-channels 64 --d-channels 64 --batch-size 256"
# A run resumes from runs/NAME or, with --resume-from DIR in its ARGS, from an export: the same state the CPU runs
# resume from and export to. Back here, `python benchmarks/sagan_quality.py --data DIR --weights DIR`
# judges each export.
set -u
pack=$1; minutes=$2; out=$3; shift 3
export PYTHONUNBUFFERED=1
. "$(dirname "$0")/gpu_runs.sh"
start_runs gan_viz.models.sagan.train "$pack" "$minutes" "$@"
collect_runs "$out" "$@"
