#!/usr/bin/env bash
# CAM classifier training on a GPU: a wide teacher first, then students distilled from it side by side.
#
# Usage (on the GPU machine, repo root):
#   bash scripts/train_classifier_gpu.sh PACK_DIR OUT TEACHER_S STUDENT_S "TEACHER_ARGS" NAME:ARGS [NAME:ARGS ...]
#   PACK_DIR   scripts/pack_classifier_data.py's output (faces-96.npz, app-crops-80.npz) in a git-ignored folder
#   TEACHER_S  seconds the teacher may train; STUDENT_S likewise for the students (they run at once, sharing the card)
#   TEACHER_ARGS  train.py arguments of the teacher, or from:DIR to distil an export brought along (TEACHER_S unused)
#   OUT        gets NAME.tar per run (its export: config, weights, card; and its resume state and log) and teacher.tar
# Each run's epoch count is fitted to its seconds (a cosine schedule cut short never anneals): the loader's
# processes are timed on a few batches first, and the runs' --epochs are what fits with a margin. Back here,
# `python -m gan_viz.models.cam_classifier.evaluate --data DIR --weights DIR --app-path` judges an
# export, and train.py --init-from DIR continues it on the CPU.
set -u
pack=$1; out=$2; teacher_s=$3; student_s=$4; teacher_args=$5; shift 5
export PYTHONUNBUFFERED=1
data=(--data "$pack/faces-96.npz" --app-crops "$pack/app-crops-80.npz" --source-size 96 --image-size 80)
cores=${CORES:-$(nproc)}  # CORES=4 for a dry run on a small machine
workers=$((cores > 3 ? cores - 2 : 1))
# Seconds per epoch of the loader at this batch size with this many processes, measured on random pixels, for as
# many training faces as the app-crop pack holds (one per training face).
epoch_s() {
  python3 - "$1" "$2" "$pack/app-crops-80.npz" <<'EOF'
import sys, time
from multiprocessing import get_context
import numpy as np
from gan_viz.models.cam_classifier import train
batch, workers = int(sys.argv[1]), int(sys.argv[2])
n_train = len(np.load(sys.argv[3])["offsets"]) - 1
rng = np.random.default_rng(0)
train._SOURCES.update(train=rng.integers(0, 256, (batch, 96, 96, 3), dtype=np.uint8),
                      app=rng.integers(0, 256, (batch, 96, 96, 3), dtype=np.uint8))
jobs = [(np.arange(batch), (0, 0, i), 80, 0.5) for i in range(4 * workers)]
with get_context("fork").Pool(workers) as pool:
    pool.map(train._make_batch_job, jobs[:workers])
    t = time.perf_counter(); pool.map(train._make_batch_job, jobs); dt = time.perf_counter() - t
print(dt / len(jobs) * n_train / batch)
EOF
}
fit_epochs() {  # seconds, seconds per epoch (loader), floor for GPU time -> epochs with a 35% margin
  python3 -c "import sys; s, e, g = map(float, sys.argv[1:]); print(max(1, int(s / (max(e, g) * 1.35 + 0.5))))" "$@"
}
nvidia-smi -L
teacher=exports/teacher
if [[ $teacher_args == from:* ]]; then
  teacher=${teacher_args#from:}
  echo "distilling $teacher"
else
t_epoch=$(epoch_s 256 $workers)
t_epochs=$(fit_epochs "$teacher_s" "$t_epoch" 1.5)
echo "loader ${t_epoch}s per epoch with $workers processes: teacher gets $t_epochs epochs"
# shellcheck disable=SC2086  # ARGS are lists of arguments
timeout $((teacher_s + 60)) python3 -m gan_viz.models.cam_classifier.train "${data[@]}" $teacher_args \
  --epochs "$t_epochs" --max-minutes "$(python3 -c "print($teacher_s / 60)")" --loader-workers $workers \
  --run-dir runs/teacher --export-dir exports/teacher > runs-teacher.log 2>&1
tail -n 2 runs-teacher.log
fi
n=$#
per=$(((cores - 1) / n)); per=$((per > 0 ? per : 1))
s_epoch=$(epoch_s 128 "$per")
s_epochs=$(fit_epochs "$student_s" "$s_epoch" 1.5)
echo "loader ${s_epoch}s per epoch with $per processes each: students get $s_epochs epochs"
pids=()
for spec in "$@"; do
  name=${spec%%:*}; args=${spec#*:}
  # shellcheck disable=SC2086
  timeout $((student_s + 60)) python3 -m gan_viz.models.cam_classifier.train "${data[@]}" $args \
    --teacher "$teacher" --epochs "$s_epochs" --max-minutes "$(python3 -c "print($student_s / 60)")" \
    --loader-workers "$per" --run-dir "runs/$name" --export-dir "exports/$name" > "runs-$name.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
mkdir -p "$out"
for name in $([ "$teacher" = exports/teacher ] && echo teacher) "${@%%:*}"; do
  cp "runs-$name.log" "runs/$name/train.log" 2>/dev/null
  # The teacher's resume state (weights and Adam's moments, ~40 MB at width 64) is over what a call hands back.
  skip=(); [ "$name" = teacher ] && skip=(--exclude=state.safetensors)
  tar -cf "$out/$name.tar" "${skip[@]}" -C . "exports/$name" "runs/$name" 2>/dev/null
  echo "== $name"; grep "^epoch" "runs-$name.log" | tail -n 2
done
# The app's classifier once on CUDA beside the CPU, for the shipped weights and each export: probabilities and every
# CAM method's map must agree (TF32 off: the CPU's float32 is the reference). On the portrait's centre square, not a
# found face: the image's OpenCV there has no Haar cascades (seen on an H200).
python3 - checkpoints/cam_classifier "$teacher" "${@%%:*}" <<'PY' 2>&1 | tee "$out/cuda_check.txt"
import sys
import numpy as np, torch
from gan_viz.imaging import load_image
from gan_viz.models.cam_classifier.train import load_export
from gan_viz.models.cam_classifier.visualize import CAMExplainer
torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
face = load_image("assets/grace_hopper.jpg")  # classify/explain take its centre square
for folder in sys.argv[1:]:
    folder = folder if "/" in folder else f"exports/{folder}"
    try:
        ex = {d: CAMExplainer(load_export(folder), torch.device(d)) for d in ("cpu", "cuda")}
    except Exception as e:
        print(folder, "not loaded:", e); continue
    p_cpu, p_gpu = ex["cpu"].classify(face), ex["cuda"].classify(face)
    dp = max(abs(p_cpu[h][c] - p_gpu[h][c]) for h in p_cpu for c in p_cpu[h])
    dm = {m: float(np.abs(ex["cpu"].explain(face, m).heatmap - ex["cuda"].explain(face, m).heatmap).max())
          for m in ("cam", "gradcam", "gradcam++")}
    print(f"{folder}: portrait female {p_gpu['gender']['female']:.3f} (cuda) / {p_cpu['gender']['female']:.3f} (cpu); "
          f"max prob diff {dp:.2e}; max map diff {dm}")
PY
