#!/usr/bin/env bash
# The cuda backend on a real NVIDIA GPU, in one go: GPU tests, kernel bandwidth, and `acc bench` of cuda
# against cpu and opencv on a 0.3 / 2.5 / 12 MP corpus. Results (JSON, chart, logs) go to $OUT.
#
#   tools/device_check.sh prepare    # here, with PyPI: the wheels the GPU machine lacks -> .device/wheels
#   tools/device_check.sh            # there, no network: install them, run everything (<= 8 minutes)
#
# Written for the H200 machine lent to acc's developers (Python 3.12, PyTorch 2.11 CUDA 13, numba-cuda,
# onnx, onnxruntime (CPU), OpenCV, pytest and pytest-benchmark there; no nvImageCodec, no onnxruntime-gpu):
# .device/wheels holds exactly
#   nvidia_nvimgcodec_cu13-0.9.0.20  (24.5 MB)   nvImageCodec, the GPU JPEG decoder and encoder
#   nvidia_nvjpeg-13.*               ( 3.8 MB)   nvJPEG, which nvImageCodec loads
#   simplejpeg-1.9.0 (cp312)         ( 0.4 MB)   libjpeg-turbo for the cpu backend and the host fallbacks
# which, with the repository (about 6.5 MB), stays under the 64 MiB a device run may carry.
# Each stage has its own time limit (480 s together); a failing stage is logged and the next one still runs; the exit
# status is 1 when any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=${WHEELS:-.device/wheels}
PY=${PYTHON:-python3}

if [ "${1:-}" = "prepare" ]; then
    mkdir -p "$WHEELS"
    "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$WHEELS" "nvidia-nvimgcodec-cu13==0.9.0.20" "nvidia-nvjpeg>=13,<14" "simplejpeg==1.9.0" || exit 1
    ls -l "$WHEELS"
    du -sh "$WHEELS"
    exit 0
fi

: "${OUT:?set OUT to the folder for the results}"
mkdir -p "$OUT"
exec > >(tee "$OUT/device_check.log") 2>&1
START=$SECONDS
FAILED=()
stage() {  # stage NAME SECONDS COMMAND...: run with a time limit, log, remember a failure
    local name=$1 limit=$2
    shift 2
    echo "=== $name (limit ${limit}s, at $((SECONDS - START))s)"
    if ! timeout "$limit" "$@"; then
        FAILED+=("$name")
        echo "=== $name FAILED"
    fi
}

export PYTHONUNBUFFERED=1 ACC_CACHE_DIR=/tmp/acc-cache
stage "GPU" 10 nvidia-smi
stage "install" 60 bash -c "$PY -m venv --system-site-packages /tmp/acc-venv &&
    /tmp/acc-venv/bin/pip install -q --no-index --no-deps --no-build-isolation -e . $WHEELS/*.whl"
VENV=/tmp/acc-venv/bin
stage "doctor" 30 bash -c "$VENV/acc doctor --backend cuda | tee '$OUT/doctor.txt'"
stage "PTX build" 30 "$VENV/python" -m acc.kernels.cuda.ptx --cc 9.0
stage "GPU tests" 90 "$VENV/python" -m pytest -m cuda -q -ra tests --junitxml="$OUT/gpu-tests.xml"
stage "kernel bandwidth" 40 "$VENV/python" -m pytest -m cuda -q bench/test_cuda_kernels.py --benchmark-enable \
    --benchmark-json="$OUT/kernels.json"
stage "corpus" 40 "$VENV/python" tools/make_corpus.py --out /tmp/acc-corpus --sizes 0.3 2.5 12 --count 1
stage "bench" 135 "$VENV/acc" bench /tmp/acc-corpus --backend cuda,cpu,opencv --batch-size 32 --rounds 2 --warmup 1 \
    --json "$OUT/bench.json" --chart "$OUT/bench.png"
stage "bench, host JPEG encoder" 45 env ACC_CUDA_JPEG_ENCODER=host "$VENV/acc" bench /tmp/acc-corpus --backend cuda \
    --batch-size 32 --rounds 2 --warmup 1 --no-end-to-end --json "$OUT/bench-host-encoder.json"

echo "=== done in $((SECONDS - START))s; failed: ${FAILED[*]:-none}"
[ ${#FAILED[@]} -eq 0 ]
