#!/bin/bash
# The GPU checks and speed measurements behind the README's H100 figures, in one timed run:
# the CUDA tests, vsr bench (network alone, end to end at 540p and 1080p, compile,
# max-autotune, the pressure test) and the precision of vsr eval on Set5. Each stage is
# time-boxed and a failing stage does not stop the next; the whole run ends within $BUDGET
# seconds (default 400). Output: $OUT/bench.log and $OUT/bench.tgz (every JSON, the plot).
#
#   OUT=/tmp/gpu VSR_SHARED=../shared BUDGET=400 bash tests/gpu_checks.sh
#
# Needs a CUDA machine with vsr's dependencies importable from the repository root.
# $WHEELS, if set, is a folder of wheels (PyAV, ffmpeg-python) installed first into a
# temporary folder, for machines that have torch but nothing else. $VSR_SHARED holds
# datasets/benchmark/Set5 and imdn-official/checkpoints/IMDN_x2.pth.
set -u -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:?set OUT to a folder for the results}
if [ -n "${WHEELS:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export VSR_SHARED=${VSR_SHARED:-$PWD/../shared} VSR_CACHE=${VSR_CACHE:-/tmp/vsrcache}
R=$OUT/r; mkdir -p $R
LOG=$OUT/bench.log
SH=$VSR_SHARED
DEADLINE=$((SECONDS + ${BUDGET:-400}))  # the whole script ends by then, tarball included
stage() {  # stage SECONDS NAME command...
  local limit=$1 name=$2; shift 2
  local left=$((DEADLINE - SECONDS - 8))
  if [ $left -lt 15 ]; then echo "=== $name: skipped, no time left" | tee -a $LOG; return; fi
  [ $limit -gt $left ] && limit=$left
  echo "=== $name ($(date +%T), limit ${limit}s)" | tee -a $LOG
  local t0=$SECONDS
  timeout -k 5 $limit "$@" 2>&1 | tr "\r" "\n" | grep --line-buffered -v -E "it/s\]|img/s\]|frame/s\]|^\s*$" | tee -a $LOG
  echo "=== $name: rc ${PIPESTATUS[0]}, $((SECONDS - t0)) s" | tee -a $LOG
}
V="python3 -m vsr"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee -a $LOG
python3 -c "import torch, av; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0), 'av', av.__version__)" | tee -a $LOG
nproc | tee -a $LOG

stage 40 "model-only 540p/1080p fp32/fp16/bf16, batch 1" \
  $V bench --model-only --sizes 540p,1080p --precision fp32,fp16,bf16 --repeats 30 --json $R/model_b1.json
stage 40 "model-only 540p fp16/bf16 batch 4, channels_last + CUDA graphs" \
  $V bench --model-only --sizes 540p --precision fp16,bf16 --batch 4 --channels-last --cuda-graphs --repeats 30 --json $R/model_b4_cl_graphs.json
stage 40 "model-only 540p fp16 batch 4, NCHW (beside the row above: what channels_last does)" \
  $V bench --model-only --sizes 540p --precision fp16 --batch 4 --repeats 30 --json $R/model_b4_nchw.json
stage 120 "end to end 540p -> 1080p, libx264 veryfast crf 18" \
  $V bench --width 960 --height 540 --frames 240 --preset veryfast --crf 18 \
  --variant fp16,batch=4 --variant fp16,batch=4,cl,graphs --variant fp16,batch=4,cl,graphs,enc=2 \
  --variant fp16,batch=4,cl,graphs,enc=3 --variant fp16,batch=8,cl,graphs,enc=4 --json $R/e2e_540p.json
stage 60 "CUDA tests (compile excluded: the bench's compile row checks it)" \
  python3 -m pytest -q -x -p no:cacheprovider tests/test_cuda.py -k "not compile"
stage 30 "precision on Set5 x2, official weights (paper 38.00)" bash -c "
  for p in fp32 fp16 bf16; do $V eval $SH/datasets/benchmark/Set5 --weights $SH/imdn-official/checkpoints/IMDN_x2.pth --device cuda --precision \$p --json $R/set5_\$p.json; done"
stage 100 "end to end 1080p -> 2160p, libx264 veryfast" \
  $V bench --width 1920 --height 1080 --frames 72 --preset veryfast --crf 18 \
  --variant fp16,batch=2,cl,graphs --variant fp16,batch=2,cl,graphs,enc=4 --json $R/e2e_1080p.json
stage 150 "compile (inductor, default mode) model-only, and end to end on 600 frames beside eager" bash -c "
  $V bench --model-only --sizes 540p --precision fp16 --batch 4 --channels-last --compile --cuda-graphs --repeats 30 --json $R/model_compile.json;
  $V bench --width 960 --height 540 --frames 600 --preset veryfast --crf 18 --variant fp16,batch=4,cl,graphs,enc=3 --variant fp16,batch=4,cl,compile,graphs,enc=3 --json $R/e2e_540p_compile.json"
stage 60 "pressure: IMDN and IMDN_RTC, fp32, 128 ... 4K" \
  $V bench --pressure --repeats 5 --out $R/pressure --json $R/pressure.json
stage 200 "max-autotune (no inductor graphs; ours), model-only 540p batch 4, then end to end" bash -c "
  $V bench --model-only --sizes 540p --precision fp16 --batch 4 --channels-last --compile max-autotune-no-cudagraphs --cuda-graphs --repeats 30 --json $R/model_autotune.json;
  $V bench --width 960 --height 540 --frames 600 --preset veryfast --crf 18 --variant fp16,batch=4,cl,compile=max-autotune-no-cudagraphs,graphs,enc=3 --json $R/e2e_540p_autotune.json"
nvidia-smi --query-gpu=name,clocks.sm,temperature.gpu,power.draw --format=csv | tee -a $LOG
tar czf $OUT/bench.tgz -C $OUT r && rm -rf $R
echo "=== done at $(date +%T)"
