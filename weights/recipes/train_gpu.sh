#!/usr/bin/env bash
# How weights/imdn_x{2,3,4}.safetensors were made: IMDN x2, x3, x4 trained one after the
# other on one GPU within a fixed time, each stage under `timeout`, each appending to
# $OUT/train.log; a failing stage never stops the next.
#   x2: whole-model fine-tuning of weights/imdn_x2_cpu.safetensors (recipes/imdn_x2_gpu.toml)
#   x3, x4: from the x2 just trained, all but the upsampler; from weights/imdn_x2.safetensors
#           (the recipes' init_from) if the x2 stage failed.
# Each stage gets a training budget (`vsr train --minutes`), shrunk when earlier stages ran
# long, so that the whole script ends within DEADLINE_S seconds. Run from the repository
# root on a machine with a GPU (2026-11-26: one H100, 342 s in all):
#
#   OUT=/tmp/train bash weights/recipes/train_gpu.sh
#
# $OUT receives imdn_x{2,3,4}.safetensors, log_x{2,3,4}.csv, train.log and
# tensorboard.tar.gz. TRAIN_DIR and VAL_DIR default to ../shared's train291 and Set5.
# A rehearsal on the CPU with tiny budgets:
#   OUT=/tmp/fake_out X2_S=6 X3_S=4 X4_S=4 OVERHEAD_S=40 MIN_S=1 DEADLINE_S=400 \
#   EXTRA_ARGS="--device cpu --precision fp32 --patch 24 --batch 2 --threads 2 --log-every 20" \
#   bash weights/recipes/train_gpu.sh

set -u -o pipefail
export PYTHONUNBUFFERED=1
T0=$SECONDS

OUT=${OUT:?set OUT to the folder whose files come back}
TRAIN_DIR=${TRAIN_DIR:-../shared/datasets/train291}
VAL_DIR=${VAL_DIR:-../shared/datasets/benchmark/Set5}
X2_S=${X2_S:-150}           # nominal training seconds per stage
X3_S=${X3_S:-75}
X4_S=${X4_S:-75}
OVERHEAD_S=${OVERHEAD_S:-20} # expected start-up + final validation + saves, per stage
GRACE_S=${GRACE_S:-25}       # a stage is killed this long after it should have ended
DEADLINE_S=${DEADLINE_S:-372}
PACK_S=${PACK_S:-5}          # kept for packing the results at the end
MIN_S=${MIN_S:-10}           # a stage with less training time than this is skipped
EXTRA_ARGS=${EXTRA_ARGS:-}   # appended to every `vsr train` (the CPU rehearsal shrinks here)
RUNS=$(mktemp -d "${TMPDIR:-/tmp}/vsr-train.XXXXXX")
LOG=$OUT/train.log
mkdir -p "$OUT"

say() { echo "[train_gpu +$((SECONDS - T0))s] $*" | tee -a "$LOG"; }

# Python with torch: $PYTHON, else python3, else python.
PY=""
for candidate in ${PYTHON:-} python3 python; do
    if command -v "$candidate" >/dev/null && "$candidate" -c "import torch" 2>/dev/null; then
        PY=$candidate
        break
    fi
done
[ -n "$PY" ] || { say "no python with torch found"; exit 1; }

say "start: $(date -u +%FT%TZ), python $PY, runs in $RUNS"
if command -v nvidia-smi >/dev/null; then
    timeout 20 nvidia-smi 2>&1 | tee -a "$LOG"
else
    say "nvidia-smi not found"
fi
timeout 60 "$PY" -c "import torch, sys; c = torch.cuda.is_available(); print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', c, torch.cuda.get_device_name(0) if c else '-', 'cudnn', torch.backends.cudnn.version(), 'bf16', c and torch.cuda.is_bf16_supported())" 2>&1 | tee -a "$LOG"

# Training seconds for a stage: its nominal share, less whatever the later stages (nominal
# + overhead each) and packing would lose to an earlier overrun.
plan_seconds() {
    local nominal=$1 later=0 t
    shift
    for t in "$@"; do later=$((later + t + OVERHEAD_S)); done
    local left=$((DEADLINE_S - (SECONDS - T0) - PACK_S))
    local s=$((left - OVERHEAD_S - later))
    ((s > nominal)) && s=$nominal
    echo "$s"
}

# stage SCALE SECONDS [vsr train flags...]: train, then copy the weights and the CSV to $OUT.
stage() {
    local scale=$1 seconds=$2
    shift 2
    local run=$RUNS/x$scale
    local left=$((DEADLINE_S - (SECONDS - T0) - PACK_S))
    if ((seconds < MIN_S)); then
        say "x$scale: skipped, only ${seconds}s of training time left"
        return 1
    fi
    local limit=$((seconds + OVERHEAD_S + GRACE_S))
    ((limit > left)) && limit=$left
    local minutes
    minutes=$(awk "BEGIN { printf \"%.4f\", $seconds / 60 }")
    say "x$scale: training for ${seconds}s (--minutes $minutes), killed after ${limit}s"
    # shellcheck disable=SC2086  # EXTRA_ARGS is a list of flags
    timeout -k 5 "$limit" "$PY" -m vsr.cli train \
        --config "weights/recipes/imdn_x${scale}_gpu.toml" \
        --train-dir "$TRAIN_DIR" --val-dir "$VAL_DIR" --out "$run" --minutes "$minutes" \
        "$@" $EXTRA_ARGS 2>&1 | tee -a "$LOG"
    local rc=$?
    say "x$scale: exit status $rc"
    [ -f "$run/log.csv" ] && cp "$run/log.csv" "$OUT/log_x$scale.csv"
    if [ -f "$run/last.safetensors" ]; then
        cp "$run/last.safetensors" "$OUT/imdn_x$scale.safetensors"
    elif [ -f "$run/last.pt" ]; then
        say "x$scale: WARNING: no last.safetensors; exporting the last checkpoint (partial run)"
        timeout 60 "$PY" -c "import sys; from pathlib import Path; from vsr.train.checkpoint import export_weights; export_weights(Path(sys.argv[1]), Path(sys.argv[2]), {'note': 'exported from last.pt: the run did not finish'})" \
            "$run/last.pt" "$OUT/imdn_x$scale.safetensors" 2>&1 | tee -a "$LOG"
    fi
    return "$rc"
}

X2_INIT=()
if stage 2 "$(plan_seconds "$X2_S" "$X3_S" "$X4_S")" && [ -f "$RUNS/x2/last.safetensors" ]; then
    X2_INIT=(--init-from "$RUNS/x2/last.safetensors")
    say "x3, x4 start from the x2 just trained"
else
    say "x2 stage failed: x3, x4 start from weights/imdn_x2.safetensors (the recipes' init_from)"
fi
# ${a[@]+...}: an empty array is no error under `set -u`, even in bash < 4.4.
stage 3 "$(plan_seconds "$X3_S" "$X4_S")" ${X2_INIT[@]+"${X2_INIT[@]}"}
stage 4 "$(plan_seconds "$X4_S")" ${X2_INIT[@]+"${X2_INIT[@]}"}

# Pack the TensorBoard folders and the settings of every stage into one file.
PACKED=$(cd "$RUNS" && ls -d x*/tensorboard x*/config.json 2>/dev/null)
if [ -n "$PACKED" ]; then
    # shellcheck disable=SC2086  # one path per word
    (cd "$RUNS" && tar -czf "$OUT/tensorboard.tar.gz" $PACKED) 2>&1 | tee -a "$LOG"
fi
say "summary:"
grep -hE "^training |time budget:|validation PSNR|^throughput|exit status|skipped|WARNING|[Ee]rror" "$LOG" | grep -v "^\[train_gpu.*summary" | tee -a "$LOG"
ls -l "$OUT" | tee -a "$LOG"
say "done in $((SECONDS - T0))s"
