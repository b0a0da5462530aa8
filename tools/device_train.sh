#!/usr/bin/env bash
# acc-tiny 2's recipe (tools/train_colorizer.py) on one lent GPU, in one call of at most 9 minutes, with its
# training photos carried beside the repository. Everything it writes goes to $OUT, within what a device call
# returns (at most 8 files of 16 MiB): train.log, acc_tiny2.json (steps, crops/s, losses, phases, the decode
# chosen, held-out metrics, the model's SHA-256), the model as acc_tiny2.onnx.part0.. and a held-out contact
# sheet. A checkpoint (a complete ONNX, provisional decode) replaces the last one every minute and when training
# ends, so a call cut off still returns a model.
#
#   tools/device_train.sh --prepare DATA/train     # here: the carried set -> .device/train_set (about 45 MiB)
#   tools/device_train.sh                          # there: OUT set, python3 holding torch; carry .device/train_set
#   tools/device_train.sh --collect RUN_DIR [DEST] # here: join and check the model (default DEST scratch/device_run)
#   tools/device_train.sh --rehearse [RUN_DIR]     # here, on the CPU: the same run for 3 steps (default
#                                                  # scratch/device_rehearsal), on the same carried layout
#
# The run and the rehearsal use the python3 first on PATH (or $PYTHON), as the device has it: a venv holding
# torch, without acc installed (the tool imports acc from this tree). --prepare and --collect use the project's
# .venv if there is one (simplejpeg writes the packs). The set trained on is $CARRIED (default
# .device/train_set). $BUDGET_S (default 510; 3600 when rehearsing) is the wall-clock budget of the whole run,
# 90 s of it kept for the decode choice and the export.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
HERE_PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}  # --prepare, --collect
CARRIED=${CARRIED:-.device/train_set}
export ACC_TRAIN_STARTED=${ACC_TRAIN_STARTED:-$(date +%s.%N)} PYTHONUNBUFFERED=1

case "${1:-}" in
--prepare)
    exec "$HERE_PY" tools/train_colorizer.py --data "${2:?--prepare DATA: the folder of the training pool}" \
        --prepare .device/train_set ;;
--collect)
    exec "$HERE_PY" tools/train_colorizer.py --collect "${2:?--collect RUN_DIR}" --out-dir "${3:-scratch/device_run}" \
        --name acc_tiny2 ;;
--rehearse)
    OUT=${2:-scratch/device_rehearsal}
    BUDGET_S=${BUDGET_S:-3600}  # the clock runs as there, but a slow CPU must not cut the rehearsal's 3 steps
    RUN=(--device cpu --threads 2 --batch 8 --max-steps 3 --log-every-s 0 --ckpt-every-s 0) ;;
"")
    : "${OUT:?set OUT to the folder for the results (the device tool sets it)}"
    RUN=(--device cuda --threads 16 --batch 256 --log-every-s 15 --ckpt-every-s 60) ;;
*)
    echo "usage: tools/device_train.sh [--prepare DATA | --collect RUN_DIR [DEST] | --rehearse [RUN_DIR]]" >&2
    exit 2 ;;
esac

TOOL=(--carried "$CARRIED" --name acc_tiny2 --split --budget-s "${BUDGET_S:-510}" --reserve-s 90 --amp bf16
      --compile auto)
mkdir -p "$OUT"
{
    echo "device_train: $(date -u +%FT%TZ) on $(hostname), $(nproc) cores; python3 $("$PY" -c 'import sys; print(sys.version.split()[0], sys.prefix)')"
    command -v nvidia-smi >/dev/null && nvidia-smi -L
    "$PY" tools/train_colorizer.py "${TOOL[@]}" "${RUN[@]}" --out-dir "$OUT"
} 2>&1 | tee "$OUT/train.log"
