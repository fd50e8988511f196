#!/bin/bash
# The GPU checks and speed measurements behind the README's H100 figures, in one timed run:
# vsr bench (network alone, max-autotune compilation, end to end at 540p and 1080p),
# `vsr run --pipeline fast` on an interlaced 1080i clip and on long clips, the CUDA tests, the precision of vsr eval on Set5
# and the pressure test. Each stage is time-boxed and a failing stage does not stop the
# next; the whole run ends within $BUDGET seconds (default 600; every stage needs about
# 1630). Output: $OUT/bench.log and $OUT/bench.tgz (every JSON, the plot).
#
#   OUT=$OUT WHEELS=.device-carry/whl VSR_SHARED=$PWD/.device-carry/shared BUDGET=560 \
#     bash tests/gpu_checks.sh
#
# On a lent device machine ../shared does not travel: copy Set5 and IMDN_x2.pth into
# .device-carry/shared (git-ignored, about 40 MB with the PyAV wheel) and carry both folders.
# Keep BUDGET below the command's time limit: the machine's start and the copy back count.
#
# ONLY=REGEX runs just the stages whose name matches that extended regular expression
# (ONLY='model-only|CUDA tests').
#
# Needs a CUDA machine with vsr's dependencies importable from the repository root.
# $WHEELS, if set, is a folder of wheels (PyAV, ffmpeg-python) installed first into a
# temporary folder, for machines that have torch but nothing else. $VSR_SHARED holds
# datasets/benchmark/Set5 and imdn-official/checkpoints/IMDN_x2.pth.
set -u -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:?set OUT to a folder for the results}
# Set first: the wheel install below counts too, or BUDGET = the caller's timeout kills the tar.
DEADLINE=$((SECONDS + ${BUDGET:-600}))  # the whole script ends by then, tarball included
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
# ../shared does not travel to a device machine: without it the Set5 stage fails and the CUDA
# tests that need real pictures skip (rc 0). Say so now rather than after the run.
for need in "$SH/datasets/benchmark/Set5/HR" "$SH/imdn-official/checkpoints/IMDN_x2.pth"; do
  [ -e "$need" ] || { echo "gpu_checks.sh: $need not found; set VSR_SHARED" | tee -a $LOG; exit 1; }
done
stage() {  # stage SECONDS NAME command...
  local limit=$1 name=$2; shift 2
  if [ -n "${ONLY:-}" ] && ! [[ "$name" =~ $ONLY ]]; then return; fi
  local left=$((DEADLINE - SECONDS - 8))
  # A stage cut to much less than its time writes no result: skip it rather than waste it.
  local need=$((limit / 2 > 15 ? limit / 2 : 15))
  if [ $left -lt $need ]; then echo "=== $name: skipped, no time left" | tee -a $LOG; return; fi
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

# Stages in order of what matters most: a short BUDGET skips the last ones.
AT="compile=max-autotune-no-cudagraphs"  # inductor's own graphs off: ours replay it
stage 50 "model-only 540p fp16 batch 4 CUDA graphs: channels_last folded / unfolded attention, NCHW" bash -c "
  $V bench --model-only --sizes 540p --precision fp16 --batch 4 --channels-last --cuda-graphs --repeats 30 --json $R/model_b4_cl_graphs.json;
  $V bench --model-only --sizes 540p --precision fp16 --batch 4 --channels-last --cuda-graphs --unfolded --repeats 30 --json $R/model_b4_cl_graphs_unfolded.json;
  $V bench --model-only --sizes 540p --precision fp16 --batch 4 --cuda-graphs --repeats 30 --json $R/model_b4_nchw_graphs.json"
stage 120 "max-autotune model-only 540p batch 4, folded: torch.compile, kernel cache cold then warm" bash -c "
  $V bench --model-only --sizes 540p --precision fp16 --batch 4 --channels-last --compile max-autotune-no-cudagraphs --cuda-graphs --repeats 30 --json $R/model_autotune.json;
  $V bench --model-only --sizes 540p --precision fp16 --batch 4 --channels-last --compile max-autotune-no-cudagraphs --cuda-graphs --repeats 30 --json $R/model_autotune_warm.json"
stage 150 "end to end 540p -> 1080p, libx264 veryfast crf 18, 600 frames: eager 3 encoders, max-autotune 4" \
  $V bench --width 960 --height 540 --frames 600 --preset veryfast --crf 18 \
  --variant fp16,batch=4,cl,graphs,enc=3 --variant fp16,batch=4,cl,$AT,graphs,enc=4 --json $R/e2e_540p.json
stage 30 "precision on Set5 x2, official weights (paper 38.00; bf16 keeps fp32 ends)" bash -c "
  for p in fp32 fp16 bf16; do $V eval $SH/datasets/benchmark/Set5 --weights $SH/imdn-official/checkpoints/IMDN_x2.pth --device cuda --precision \$p --json $R/set5_\$p.json; done"
# The training loop's one CUDA test runs bf16, channels_last, a time budget (its refits, the
# validation and save times left out of its speed) and a resume: none of that runs on CUDA
# anywhere else.
stage 150 "CUDA tests (the 1080p torch.compile row excluded: the bench times that), and training's" bash -c "
  python3 -m pytest -q -rs -p no:cacheprovider tests/test_cuda.py -k 'not fp16-cl-compile';
  python3 -m pytest -q -rs -p no:cacheprovider tests/test_train_loop.py -k cuda"
stage 60 "kernels of the compiled and the eager network, 540p fp16 batch 4 (where fusing could pay)" bash -c "
  $V bench --model-only --sizes 540p --precision fp16 --batch 4 --channels-last --compile max-autotune-no-cudagraphs --cuda-graphs --repeats 10 --kernels 25 --json $R/kernels_compiled.json;
  $V bench --model-only --sizes 540p --precision fp16 --batch 4 --channels-last --cuda-graphs --repeats 10 --kernels 25 --json $R/kernels_eager.json"
stage 120 "max-autotune model-only 540p batch 4, unfolded attention (does the fold pay compiled?)" \
  $V bench --model-only --sizes 540p --precision fp16 --batch 4 --channels-last --compile max-autotune-no-cudagraphs --cuda-graphs --unfolded --repeats 30 --json $R/model_autotune_unfolded.json
stage 200 "end to end 1080p -> 2160p, libx264 veryfast, 120 frames: eager vs max-autotune, 4 encoders" \
  $V bench --width 1920 --height 1080 --frames 120 --preset veryfast --crf 18 \
  --variant fp16,batch=2,cl,graphs,enc=4 --variant fp16,batch=1,cl,$AT,graphs,enc=4 --json $R/e2e_1080p.json
stage 150 "interlaced 1080i -> 2160p, vsr run --pipeline fast, 150 frames: --deinterlace off, auto (bwdif on the decode thread), --field-rate (twice the frames)" bash -c "
  python3 -c 'from vsr.bench_clip import make_bench_clip as m; m(\"$R/i1080.mkv\", 1920, 1080, 150, interlaced=True)';
  for mode in 'off' 'auto' 'auto --field-rate'; do
    name=\$(echo \$mode | tr -d ' -');
    $V run $R/i1080.mkv $R/i1080-\$name.mp4 --pipeline fast --crf 18 --deinterlace \$mode --report $R/run_i1080_\$name.json;
    rm -f $R/i1080-\$name.mp4;
  done; rm -f $R/i1080.mkv"
stage 360 "vsr run --pipeline fast --crf 18 on long clips, kernel cache cold (1080p) then warm; x264 threads" bash -c "
  python3 -c 'from vsr.bench_clip import make_bench_clip as m; m(\"$R/c540.mkv\", 960, 540, 3000); m(\"$R/c1080.mkv\", 1920, 1080, 600)';
  for clip in c540 c1080; do for cache in cold warm; do
    $V run $R/\$clip.mkv $R/\$clip-\$cache.mp4 --pipeline fast --crf 18 --report $R/run_\${clip}_\$cache.json;
    rm -f $R/\$clip-\$cache.mp4;
  done; done; rm -f $R/c1080.mkv
  # Encoder-bound now: does giving each x264 fewer threads than its default (1.5 per core,
  # so 3 instances oversubscribe 16 cores 4.5 times) help them share the host?
  for threads in 4 6; do
    $V run $R/c540.mkv $R/c540-t\$threads.mp4 --pipeline fast --crf 18 -e threads=\$threads --report $R/run_c540_threads\$threads.json;
    rm -f $R/c540-t\$threads.mp4;
  done; rm -f $R/c540.mkv"
stage 40 "model-only 540p/1080p fp32/fp16/bf16, batch 1" \
  $V bench --model-only --sizes 540p,1080p --precision fp32,fp16,bf16 --repeats 30 --json $R/model_b1.json
stage 60 "pressure: IMDN and IMDN_RTC, fp32, 128 ... 4K" \
  $V bench --pressure --repeats 5 --out $R/pressure --json $R/pressure.json
nvidia-smi --query-gpu=name,clocks.sm,temperature.gpu,power.draw --format=csv | tee -a $LOG
tar czf $OUT/bench.tgz -C $OUT r && rm -rf $R
echo "=== done at $(date +%T)"
