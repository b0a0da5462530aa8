#!/usr/bin/env bash
# Build acc's custom operators (LabL, AbMerge) and compile every single operator a model needs, on a
# machine with the CANN toolkit. NOT YET RUN: no CANN or Ascend device was available when this was
# written (docs/ascend.md); each step is the documented CANN flow, and fails loudly if a tool is missing.
#
#   kernels/ascend/build.sh --model eccv16 --soc Ascend310 [--model-dir DIR] [--no-install]
#
# 1. a TBE custom-op project from op_ir.json (msopgen), with the generated stubs replaced by ours:
#    tbe/acc_colour.py (both operators), op_info/acc_colour.ini (for each SoC), op_proto/acc_colour.{h,cc}
# 2. its build (the project's own build.sh) -> build_out/custom_opp_<os>_<arch>.run, installed into
#    $ASCEND_OPP_PATH/vendors (unless --no-install: then install it yourself, as root if CANN is)
# 3. the single-op JSON for the model's contract (python -m acc.kernels.ascend.singleop) and
#    `atc --singleop` into <model dir>/<model>_<soc>_ops/, where the backend loads them from
#    (acl.op.set_model_dir). Static shapes: about 320 operators on the 310, 640 on the 310P (one per
#    band width); expect the compile to take a while.
#
# The model's .om is built separately: python tools/atc_command.py <model> --soc-version <soc> --run
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
model="" model_dir="" soc="Ascend310" install=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --model-dir) model_dir="$2"; shift 2 ;;
    --soc) soc="$2"; shift 2 ;;
    --no-install) install=0; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$model" ]] || { echo "build.sh: --model NAME is required (acc models list)" >&2; exit 2; }
case "$soc" in
  Ascend310) soc_dir=ascend310 ;;
  Ascend310P3) soc_dir=ascend310p ;;
  *) echo "build.sh: --soc is Ascend310 or Ascend310P3, not $soc" >&2; exit 2 ;;
esac
for tool in msopgen atc python3; do
  command -v "$tool" >/dev/null || {
    echo "build.sh: $tool not found: install CANN and run 'source <CANN>/set_env.sh' first" >&2
    echo "          (without CANN, 'acc colorize --backend ascend --emulate' runs the emulator)" >&2
    exit 2
  }
done
[[ -n "${ASCEND_OPP_PATH:-}" ]] || { echo "build.sh: ASCEND_OPP_PATH is not set (source set_env.sh)" >&2; exit 2; }

model_args=(--model "$model")
[[ -n "$model_dir" ]] && model_args+=(--model-dir "$model_dir")
ops_dir="$(python3 - "${model_args[@]}" <<'PY'
import argparse
from pathlib import Path
from acc.models import resolve
p = argparse.ArgumentParser(); p.add_argument("--model"); p.add_argument("--model-dir", type=Path)
a = p.parse_args()
spec = resolve(a.model, a.model_dir)
print(spec.path.parent)
PY
)/${model}_${soc}_ops"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
project="$work/acc_ops"

echo "== 1. custom-op project ($project)"
msopgen gen -i "$here/op_ir.json" -f tf -c "ai_core-$soc" -lan py -out "$project"
rm -f "$project"/tbe/impl/*.py "$project"/tbe/op_info_cfg/ai_core/"$soc_dir"/*.ini "$project"/op_proto/*.{h,cc}
cp "$here/tbe/acc_colour.py" "$project/tbe/impl/"
cp "$here/op_info/acc_colour.ini" "$project/tbe/op_info_cfg/ai_core/$soc_dir/"
cp "$here/op_proto/acc_colour.h" "$here/op_proto/acc_colour.cc" "$project/op_proto/"

echo "== 2. build and install the custom OPP"
(cd "$project" && bash build.sh)
package="$(ls "$project"/build_out/custom_opp_*.run)"
if [[ $install == 1 ]]; then
  "$package" --quiet
else
  echo "not installed: run $package"
fi

echo "== 3. single operators for $model on $soc -> $ops_dir"
mkdir -p "$ops_dir"
python3 -m acc.kernels.ascend.singleop --soc "$soc" "${model_args[@]}" -o "$ops_dir/acc_ops.json"
atc --singleop="$ops_dir/acc_ops.json" --soc_version="$soc" --output="$ops_dir"
echo "done: acc colorize --backend ascend --model $model ... now finds $ops_dir"
