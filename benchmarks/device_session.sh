#!/usr/bin/env bash
# Every device check of the project, for a lent GPU machine's short session.
#
#   bash benchmarks/device_session.sh gpu scaling   # on the device machine: parts 1, 2 and 4
#                                                   # (< 9.5 min), the first command
#   bash benchmarks/device_session.sh ab            # then part 3 (< 4 min), if time is left
#   SMOKE=1 bash benchmarks/device_session.sh       # here, without a GPU: a few parts, tiny
#                                                   # sizes, CUDA simulator, no A/B
#
# A device command may run ten minutes and a session has fifteen, its start included, so the
# checks that decide the open questions come first, in one command, and the A/B of kernel
# versions after, in a second one when the session has the time. Each run below has its own
# time limit:
#
# 1. the GPU's clocks and name (nvidia-smi), to read the timings against;
# 2. benchmarks/device_stress_cuda.py, every part (bit identity, diagnostics, speed and the
#    model's parts, a book, the code, the Nsight Compute profile): $OUT/cuda.log, cuda.json;
# 3. (section ab) for each .ab/NAME holding another version's valuation/ and benchmarks/ (an
#    A/B of kernel versions: `git archive COMMIT valuation benchmarks | tar -x -C .ab/NAME`,
#    the folder ignored and carried; two at most, for the time), that copy's script, which
#    imports the package beside it: $OUT/NAME/cuda.log, cuda.json;
# 4. (section scaling) benchmarks/device_scaling.py (threads 1-16, Dask workers 1-8):
#    $OUT/scaling.log, scaling.json.
#
# Wheels in .whl (numba-cuda needs NumPy <= 2.4 there; see the device tool's README) are
# installed into /tmp/site first when the folder exists. Every log is written as it goes, so a
# run cut short keeps what it measured.
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/dpv-device-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
cd "$(dirname "$0")/.."

if [ -d .whl ] && [ -z "${SMOKE:-}" ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || { echo "wheels did not install" >&2; exit 1; }
    export PYTHONPATH=$PWD:/tmp/site
fi

stress_args=()
scaling_args=()
if [ -n "${SMOKE:-}" ]; then
    export NUMBA_ENABLE_CUDASIM=1
    stress_args=(--smoke --parts identity,code,profile)  # the simulator is slow at the rest
    scaling_args=(--quick)
fi

started=$(date +%s)
step() { echo "[$(($(date +%s) - started)) s] $*"; }
# logged DIR SECONDS LOG SCRIPT [ARGS...]: run a script with OUT=DIR under a time limit, its
# output and exit status in LOG
logged() {
    local out=$1 limit=$2 log=$3
    shift 3
    OUT="$out" timeout "$limit" "$PY" "$@" > "$log" 2>&1
    echo "exit $?" >> "$log"
}

sections=${*:-gpu scaling ab}
if [[ " $sections " == *" gpu "* ]]; then
    step "gpu"
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,temperature.gpu \
        --format=csv > "$OUT/gpu.txt" 2>&1 || echo "no nvidia-smi" > "$OUT/gpu.txt"

    step "device_stress_cuda.py"
    logged "$OUT" 300 "$OUT/cuda.log" benchmarks/device_stress_cuda.py "${stress_args[@]}"
fi

if [[ " $sections " == *" ab "* ]]; then
    # Other versions staged in .ab/NAME: each copy's script imports the package beside it.
    # A copy that takes --parts runs the identity and speed parts; an older one runs whole.
    for copy in .ab/*/; do
        script="${copy}benchmarks/device_stress_cuda.py"
        [ -f "$script" ] && [ -z "${SMOKE:-}" ] || continue
        name=$(basename "$copy")
        step "the $name version's device_stress_cuda.py"
        mkdir -p "$OUT/$name"
        parts=()
        if grep -q -- '"--parts"' "$script"; then parts=(--parts identity,speed); fi
        logged "$OUT/$name" 110 "$OUT/$name/cuda.log" "$script" "${parts[@]}"
    done
fi

if [[ " $sections " == *" scaling "* ]]; then
    step "device_scaling.py"
    logged "$OUT" 235 "$OUT/scaling.log" benchmarks/device_scaling.py "${scaling_args[@]}"
fi
step "done"
