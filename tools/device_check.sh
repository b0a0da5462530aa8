#!/usr/bin/env bash
# The cuda backend on a real NVIDIA GPU, in one call of at most 8 minutes, install included: toolchain,
# doctor, the GPU tests (the backend end to end from two threads, its kernels, the PyTorch model), the
# kernels' bandwidth, acc bench's per-stage times (0.3 and 2.5 MP), and sustained end-to-end throughput of
# cuda against cpu at 0.3, 2.5 and 12 MP, baseline and progressive apart. Results go to $OUT: results.json
# (everything), bench.png (the chart of the baseline photos), device_check.log, gpu-tests.xml.
#
#   tools/device_check.sh prepare     # here, with PyPI: the wheels the GPU machine lacks -> .device/wheels
#   tools/device_check.sh             # there, no network: install them, run every stage
#   tools/device_check.sh --rehearse  # here, no GPU: every stage against this machine's python3; the stages
#                                     # that need a GPU say so and are skipped; exit 0 when the rest passed
#
# Written for the machines lent to acc's developers (H100 / H200): python3 there is itself a venv
# (/opt/torch/.venv: Python 3.12, PyTorch 2.11 CUDA 13, numba-cuda, numpy, OpenCV, onnx, onnxruntime (CPU),
# pytest, pytest-benchmark, setuptools), with nvcc 13.0 beside driver 580 (CUDA 13.0). A venv made from it
# would see none of those packages (--system-site-packages exposes the base interpreter's, not the parent
# venv's), so nothing here makes one: the wheels and acc itself go into a folder with pip --target, put
# first on PYTHONPATH. What the image lacks, carried in .device/wheels (cp312, from `prepare`):
#   nvidia_nvimgcodec_cu13-0.9.0.20  25.0 MB  nvImageCodec, the GPU JPEG decoder and encoder
#   nvidia_nvjpeg-13.0.4.44           3.7 MB  nvJPEG, which nvImageCodec loads; the driver's CUDA release
#   simplejpeg-1.9.0 (cp312)          0.4 MB  libjpeg-turbo for the cpu backend and the host fallbacks
# which, with the repository (about 7 MB), stays under the 64 MiB a device call may carry (`carry: .device`).
# NVVM is the image's own (its nvcc 13.0 toolkit, through CUDA_HOME): NVVM's wheel (61.6 MB for 13.0.88)
# does not fit, and a newer one (CI's 13.5) emits PTX ISA 9.5, which driver 580 and a 13.0 nvJitLink refuse;
# the toolchain stage checks that the pair matches. A rehearsal installs the wheels of this machine's
# Python (cp311 here: `prepare` is run for it first), and needs PyPI for that.
#
# Each stage has its own time limit (480 s together on a GPU); a failing stage is logged and the next one
# still runs; the exit status is 1 when any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
REHEARSE=0
[ "${1:-}" = "--rehearse" ] && REHEARSE=1

if [ "${1:-}" = "prepare" ] || [ $REHEARSE = 1 ]; then
    if [ $REHEARSE = 1 ]; then  # this machine's Python
        WHEELS=${WHEELS:-.device/wheels-rehearse}
        VERSION=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    else
        WHEELS=${WHEELS:-.device/wheels}
        VERSION=3.12  # the device's
    fi
    mkdir -p "$WHEELS"
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$VERSION" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$WHEELS" "nvidia-nvimgcodec-cu13==0.9.0.20" "nvidia-nvjpeg==13.0.4.44" "simplejpeg==1.9.0" || exit 1
    if [ $REHEARSE = 0 ]; then
        ls -l "$WHEELS"
        du -sh "$WHEELS"
        exit 0
    fi
fi
WHEELS=${WHEELS:-.device/wheels}

if [ $REHEARSE = 1 ]; then
    OUT=${OUT:-$(mktemp -d /tmp/acc-rehearsal-XXXXXX)}
fi
: "${OUT:?set OUT to the folder for the results}"
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/acc-check-XXXXXX)
SITE=$WORK/site
exec > >(tee "$OUT/device_check.log") 2>&1
START=$SECONDS
FAILED=()
record() {  # record NAME STATUS SECONDS [REASON]: one line of stages.jsonl
    local reason=${4:-}
    reason=${reason//\\/\\\\}
    printf '{"stage": "%s", "status": "%s", "seconds": %d, "reason": "%s"}\n' "$1" "$2" "$3" "${reason//\"/\\\"}" \
        >>"$WORK/stages.jsonl"
}
stage() {  # stage NAME SECONDS COMMAND...: run with a time limit, log, record its outcome
    local name=$1 limit=$2 begin=$SECONDS status=ok
    shift 2
    echo "=== $name (limit ${limit}s, at $((SECONDS - START))s)"
    if ! timeout "$limit" "$@"; then
        FAILED+=("$name")
        status=FAILED
        echo "=== $name FAILED"
    fi
    record "$name" $status $((SECONDS - begin))
}
skip() {  # skip NAME REASON: a stage that cannot run here
    echo "=== $1 skipped: $2"
    record "$1" skipped 0 "$2"
}

export PYTHONUNBUFFERED=1 ACC_CACHE_DIR=$WORK/cache PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
export LD_LIBRARY_PATH=$SITE/nvidia/cu13/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}  # nvJPEG, for acc doctor
TOOLKIT=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc || echo /none/bin/nvcc)")")")
if [ -z "${CUDA_HOME:-}" ] && [ -d "$TOOLKIT/nvvm" ]; then  # NVVM of the toolkit that matches the driver
    export CUDA_HOME=$TOOLKIT
fi
# Python runs with -P (no current folder on sys.path) or from /, so that `import acc` is the installed acc,
# not the source tree (whose kernels/ and models/ are acc.kernels and acc.model_files only once installed).
RUN="$PY -P"
CHECK="$RUN tools/device_check.py"

if command -v nvidia-smi >/dev/null; then stage "GPU" 10 nvidia-smi; else skip "GPU" "no nvidia-smi here"; fi
# acc is built from a copy: setuptools' build/ folder would otherwise be left in the tree, stale next time.
stage "install" 45 bash -c "$PY -m pip install -q --no-index --no-deps --no-compile --target '$SITE' $WHEELS/*.whl &&
    mkdir '$WORK/src' && tar --exclude=./.venv --exclude=./.device --exclude=./build --exclude=./.git -cf - . |
    tar -C '$WORK/src' -xf - &&
    $PY -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target '$SITE' '$WORK/src' &&
    $RUN -c 'import acc, cv2, numba_cuda, numpy, onnx, pytest, simplejpeg, torch; from nvidia import nvimgcodec;
print(\"acc\", acc.__file__); print(\"nvImageCodec\", nvimgcodec.__version__, nvimgcodec.__file__)'"
GPU=$($RUN -c 'from acc.backends.cuda.driver import gpu_reason; print(gpu_reason() or "")' 2>&1 | tail -1)
NOGPU=${GPU:+needs a GPU: $GPU}
stage "toolchain" 35 $CHECK toolchain "$WORK"
stage "doctor" 20 bash -c "$RUN -m acc.cli doctor --backend cuda $( [ -n "$NOGPU" ] && echo --emulate ) | tee '$WORK/doctor.txt'"
if [ -z "$NOGPU" ]; then
    stage "GPU tests" 90 $RUN -m pytest -m cuda -q -ra -p no:cacheprovider tests/test_cuda_*.py \
        --junitxml="$OUT/gpu-tests.xml"
    stage "kernel bandwidth" 45 $RUN -m pytest -m cuda -q -p no:cacheprovider bench/test_cuda_kernels.py \
        --benchmark-enable --benchmark-json="$WORK/kernels.json"
else  # what can be shown without one: the GPU tests import and are collected under this layout
    stage "GPU tests (collected only)" 60 $RUN -m pytest -m cuda -q -p no:cacheprovider --collect-only tests/test_cuda_*.py
    skip "GPU tests" "$NOGPU"
    skip "kernel bandwidth" "$NOGPU"
fi
stage "corpus" 50 $CHECK corpus "$WORK" $( [ $REHEARSE = 1 ] && echo --small )
stage "bench sets" 5 $CHECK bench-sets "$WORK" --per-group 8
BACKENDS=cuda,cpu,opencv
[ -n "$NOGPU" ] && BACKENDS=cpu,opencv && skip "bench: cuda" "$NOGPU"
ROUNDS="--rounds 2 --warmup 1"
[ $REHEARSE = 1 ] && ROUNDS="--rounds 1 --warmup 0"  # the same commands, shorter
for mode in baseline progressive; do
    stage "bench, $mode" 40 $RUN -m acc.cli bench "$WORK/bench/$mode" --backend $BACKENDS $ROUNDS \
        --no-end-to-end --json "$WORK/bench-$mode.json" $( [ $mode = baseline ] && echo --chart "$OUT/bench.png" )
done
if [ -z "$NOGPU" ]; then
    stage "throughput" 90 $CHECK throughput "$WORK" cuda cpu cuda-host-encoder --seconds 3
else
    skip "throughput: cuda" "$NOGPU"
    stage "throughput" 60 $CHECK throughput "$WORK" cpu --seconds 0.5
fi
stage "report" 10 $CHECK report "$WORK" "$OUT"

echo "=== done in $((SECONDS - START))s; failed: ${FAILED[*]:-none}"
rm -rf "$WORK"
[ ${#FAILED[@]} -eq 0 ]
