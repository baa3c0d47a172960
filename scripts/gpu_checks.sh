#!/usr/bin/env bash
# The checks a GPU machine owes the lecture-hall figures, in one run: the test suite with the models on CUDA, the
# per-tab latency on CUDA beside the CPU, and a class of 20, 100 and 200 users with batching off and on.
#
# Usage: bash scripts/gpu_checks.sh [OUT_DIR]     (default gpu_checks/; one Markdown file per check there)
# About 10 minutes on one H100 with 16 cores. Each check goes on if an earlier one failed; the exit status is the
# test suite's.
set -uo pipefail
out=${1:-gpu_checks}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"

GAN_VIZ_DEVICE=cuda python -m pytest -m "not browser" -x -q -p no:cacheprovider 2>&1 | tail -30 | tee "$out/tests.txt"
tests=${PIPESTATUS[0]}

python benchmarks/gpu.py --out "$out/gpu_benchmark.md" 2>&1 | tail -40

for users in 20 100 200; do
  for batch in 0 1; do
    python benchmarks/load.py --users "$users" --rounds 1 --client-processes 8 --other-photos \
      --env GAN_VIZ_DEVICE=cuda GAN_VIZ_BATCH=$batch 2>&1 | tee "$out/load_${users}_batch${batch}.md" | grep "^###\|^| 1 |"
  done
done
exit "$tests"
