#!/usr/bin/env bash
# The checks a GPU machine owes the lecture-hall figures: the per-tab latency on CUDA beside the CPU, the test suite
# with the models on CUDA, and a class of 20, 100 and 200 users with batching off and on.
#
# Usage: bash scripts/gpu_checks.sh [OUT_DIR] [STAGE ...]     (default gpu_checks/, every stage in this order)
#   gpu     python benchmarks/gpu.py (about 1 minute)
#   models  tests/unit and tests/families with the models on CUDA (no Gradio needed)
#   load    benchmarks/load.py with 100 users, batching off then on; then 200 and 20 users, batching on
#   app     tests/app with the models on CUDA (browser tests left out)
# Each stage has a time limit (STAGE_LIMIT_S, default 240 s) and goes on if an earlier one failed; one Markdown or
# text file per check lands in OUT_DIR; the exit status says whether any test failed. On a machine without a package
# index, make the kit elsewhere (python scripts/offline_kit.py .kit --api-only) and bring it: if .kit/ exists here,
# its wheels are installed into /tmp/site first.
set -uo pipefail
out=${1:-gpu_checks}; shift || true
stages=${*:-gpu models load app}
limit=${STAGE_LIMIT_S:-240}
dev=${GAN_VIZ_CHECK_DEVICE:-cuda}   # cpu: try the script's plumbing on a machine without a GPU
export PYTHONUNBUFFERED=1 GRADIO_ANALYTICS_ENABLED=False
mkdir -p "$out"
if [ -d .kit/wheels ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .kit/wheels/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/.kit/site${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$out/gpu.txt" 2>&1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$out/gpu.txt"
failed=0

run() {  # run NAME COMMAND...: the command under the stage's time limit, its output to OUT_DIR/NAME
  local name=$1; shift
  echo "== $name"
  timeout "$limit" "$@" > "$out/$name" 2>&1
  local rc=$?
  tail -15 "$out/$name"
  [ $rc -eq 124 ] && echo "(stopped at ${limit} s)" | tee -a "$out/$name"
  return $rc
}

for stage in $stages; do
  case $stage in
    gpu) run gpu_benchmark.txt python3 benchmarks/gpu.py --calls 30 --out "$out/gpu_benchmark.md" ;;
    models) GAN_VIZ_DEVICE=$dev run tests_models.txt python3 -m pytest tests/unit tests/families -x -q \
              -p no:cacheprovider || failed=1 ;;
    load)
      for case in "100 0" "100 1" "200 1" "20 1" "20 0"; do
        set -- $case
        run "load_$1_batch$2.md" python3 benchmarks/load.py --users "$1" --rounds 1 --client-processes 8 \
          --other-photos --env GAN_VIZ_DEVICE=$dev GAN_VIZ_BATCH=$2
      done ;;
    app) GAN_VIZ_DEVICE=$dev run tests_app.txt python3 -m pytest tests/app -m "not browser" -x -q \
           -p no:cacheprovider || failed=1 ;;
    *) echo "unknown stage $stage (gpu, models, load, app)"; exit 2 ;;
  esac
done
exit "$failed"
