#!/usr/bin/env bash
# What scripts/train_sagan_gpu.sh and train_ugatit_gpu.sh share, sourced by both: runs side by side on one card,
# each exported as two files (model.safetensors and rest.tar) that are easy to copy back from a remote machine.

# start_runs MODULE PACK MINUTES NAME:ARGS ...: python -m MODULE per run, trained from PACK into runs/FAMILY-NAME
# with its export in exports/NAME (the caller prepares it), MINUTES each; waits for them all.
start_runs() {
  local module=$1 pack=$2 minutes=$3; shift 3
  local pids=() spec name args
  for spec in "$@"; do
    name=${spec%%:*}; args=${spec#*:}
    # shellcheck disable=SC2086  # ARGS is a list of arguments
    python3 -m "$module" --data "$pack" --run-dir "runs/$name" --export-dir "exports/$name" \
      --max-minutes "$minutes" --checkpoint-minutes 2 $args > "runs-$name.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
}

# collect_runs OUT NAME:ARGS ...: each run's export as OUT/NAME/model.safetensors + OUT/NAME/rest.tar (the rest of the
# export and the run's log; samples/ left out), and the last lines of its log.
collect_runs() {
  local out=$1; shift
  local spec name
  for spec in "$@"; do
    name=${spec%%:*}
    mkdir -p "$out/$name"
    cp "exports/$name/model.safetensors" "$out/$name/"
    cp "runs-$name.log" "exports/$name/train.log"
    tar -cf "$out/$name/rest.tar" --exclude=./model.safetensors --exclude='./samples/*' -C "exports/$name" .
    tail -n 3 "runs-$name.log"
  done
}
