#!/usr/bin/env bash
# The GPU checks of benchmarks/RESULTS.md in one bounded run, on a machine with a CUDA build of JAX (TensorFlow
# need not be installed; every model then trains on JAX). Stages (STAGES picks them; default all, in this order):
#   smoke     determinism and agreement: the smoke sweep three times at once, twice with replicate's settings
#             (replicate/numerics.py: the same numbers twice?) and once with JAX's defaults; compare them with a
#             CPU sweep of the same profile afterwards (replicate compare);
#   full      alongside smoke, the post's full protocol, BCE and MSE, seed 0, as SHARDS (default 8) shards at
#             once, one per unit of work, for at most FULL_S (default 300) seconds; its results after the sweep;
#   sweep     bench_sweep.py: side by side against loss after loss, 7 losses (about 4 min at --repeats 2);
#   protocol  bench_protocol.py: one epoch of every model at the post's batch size on all 60,000 images, alone.
# Everything but the smoke arm with JAX's defaults runs with replicate's settings (the run of 2026-12-04 predates
# them: it used JAX's defaults throughout). GPU utilisation is sampled every 0.5 s; each stage's start and end are
# logged; a stage past the deadline is cut short (a cut sweep keeps its epoch checkpoints). All lands in
# RESULTS_DIR. In 9-minute runs: `gpu_checks.sh R1 DATA` then `STAGES=protocol gpu_checks.sh R2 DATA`.
#
#   benchmarks/gpu_checks.sh RESULTS_DIR DATA_DIR [DEADLINE_S]
# Smaller settings for a dry run on a CPU: SMOKE_ARGS, PROTOCOL_ARGS, FULL_ARGS, SWEEP_ARGS.
set -u
out=$(realpath -m "$1"); data=$(realpath "$2"); deadline=${3:-540}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
mkdir -p "$out/bench"
log="$out/log.txt"
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false REPLICATE_BENCH_RESULTS="$out/bench"
export REPLICATE_DATA_DIR="$data"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-python3}
say() { echo "[$(date -u +%H:%M:%S) +${SECONDS}s] $*" | tee -a "$log"; }
left() { echo $(( deadline - SECONDS )); }
stage() {  # stage NAME BUDGET_S COMMAND...: run COMMAND for at most min(BUDGET_S, time left - 30) s
    local name=$1 budget=$2; shift 2
    local t=$(( $(left) - 30 < budget ? $(left) - 30 : budget ))
    if (( t < 20 )); then say "SKIP $name (${t}s left)"; return; fi
    say "BEGIN $name (limit ${t}s)"
    timeout -s INT -k 15 "$t" "$@" >>"$log" 2>&1
    say "END $name rc=$?"
}

gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)
say "host $(hostname), $(nproc) cores; $gpu"
"$py" - <<'EOF' 2>&1 | tee -a "$log"
import jax, keras, numpy, skimage
print("jax", jax.__version__, "keras", keras.__version__, "numpy", numpy.__version__, "skimage", skimage.__version__,
      "devices", jax.devices())
from replicate import numerics
print("replicate's settings:", numerics.settings())
EOF
nvidia-smi --query-gpu=timestamp,utilization.gpu,utilization.memory,memory.used,power.draw,clocks.sm \
    --format=csv -lms 500 >"$out/gpu_util.csv" 2>&1 &
sampler=$!

smoke() {  # smoke NAME [ENV=VALUE...]: the smoke sweep into $work/NAME, then its results
    local name=$1; shift
    env "$@" "$py" -m replicate run --profile smoke --out "$work/$name" --no-report ${SMOKE_ARGS:-} \
        >"$work/$name.log" 2>&1
    local trained=$?
    env "$@" "$py" -m replicate evaluate "$work/$name" >>"$work/$name.log" 2>&1
    echo "$name: run rc=$trained, evaluate rc=$?"; tail -n 2 "$work/$name.log"
}
export -f smoke
export work py SMOKE_ARGS
defaults="XLA_FLAGS=--xla_gpu_deterministic_ops=false JAX_DEFAULT_MATMUL_PRECISION=default"
full=(-m replicate run --profile tutorial --dataset fashion_mnist --losses bce mse --seed 0 --out "$work/full"
      --no-report ${FULL_ARGS:-})
# The full protocol's shards and the smoke sweeps share the GPU: their times are not the per-model figures
# (bench_protocol.py measures those alone).
on() { [[ " ${STAGES:-smoke full sweep protocol} " == *" $1 "* ]]; }
pids=()
if on full; then
    say "BEGIN full (${SHARDS:=8} shards at once, limit ${FULL_S:=300}s)"
    for (( i = 1; i <= SHARDS; i++ )); do
        timeout -s INT -k 15 "$FULL_S" "$py" "${full[@]}" --shard "$i/$SHARDS" >"$work/full-$i.log" 2>&1 &
        pids+=($!)
    done
fi
on smoke && stage smoke 200 bash -c "smoke smoke_ours_a & smoke smoke_ours_b & smoke smoke_defaults $defaults & wait"
if on full; then
    for p in "${pids[@]}"; do wait "$p"; done
    say "END full"; tail -q -n 2 "$work"/full-*.log >>"$log"
fi
on sweep && stage sweep 260 "$py" benchmarks/bench_sweep.py ${SWEEP_ARGS:---repeats $(( $(left) > 290 ? 2 : 1 ))}
# The protocol's metrics are descriptive and not among the checks, so they get what time the sweep leaves.
on full && stage evaluate-full 90 "$py" -m replicate evaluate "$work/full"
on protocol && stage protocol 400 "$py" benchmarks/bench_protocol.py ${PROTOCOL_ARGS:---repeats 2}
kill "$sampler"
cd "$work" && find . -name '*.json' -o -name '*.log' | grep -v '/\.cache/' | tar czf "$out/runs.tar.gz" -T -
say "done; $(du -sh "$out/runs.tar.gz" | cut -f1) of runs"
