#!/usr/bin/env bash
# Build acc's custom operators (LabL, AbMergeY, AbMergeChroma, ChromaToU8) and compile every single
# operator a model needs, on a machine with the CANN toolkit. NOT YET RUN against CANN: no toolkit or
# Ascend device was available when this was written (docs/ascend.md); each step is the documented
# CANN flow, checked against the CANN 8.1.RC1 toolkit's own scripts, and fails loudly if a tool or
# setting is missing.
#
#   kernels/ascend/build.sh --model eccv16 --soc Ascend310 [--model-dir DIR] [--no-install] [--dry-run]
#
# 1. a TBE custom-op project from op_ir.json: msopgen makes one operator per call (with several operators
#    in the file and no -op it would stop and ask which one), then ours replace its stubs: tbe/acc_colour.py
#    (all four operators), op_info/acc_colour.ini, op_proto/acc_colour.{h,cc}
# 2. its build (the project's own build.sh) -> build_out/custom_opp_<os>_<arch>.run, installed into
#    $ASCEND_OPP_PATH/vendors (unless --no-install: then install it yourself, as root if CANN is)
# 3. the single-op JSON for the model's contract (python -m acc.kernels.ascend.singleop) and
#    `atc --singleop` into <model dir>/<model>_<soc>_ops/, where the backend loads them from
#    (acl.op.set_model_dir). Static shapes: about 960 operators on the 310, 1920 on the 310P (per band
#    height and width); expect the compile to take a while.
#
# Runs under bash 4.2 and later (CentOS 7's); every array expanded is non-empty or guarded.
#
# --dry-run prints every command instead of running it (no CANN needed). Environment, as CANN's
# set_env.sh leaves it: ASCEND_HOME_PATH (msopgen's templates), ASCEND_OPP_PATH (the install target);
# the generated build.sh also needs ASCEND_TENSOR_COMPILER_INCLUDE, which set_env.sh does not set: it is
# taken from ASCEND_HOME_PATH unless given. PYTHON names the interpreter with acc installed (python3).
#
# The model's .om is built separately: python tools/atc_command.py <model> --soc-version <soc> --run
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
model="" model_dir="" soc="Ascend310" install=1 dry_run=0
python="${PYTHON:-python3}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --model-dir) model_dir="$2"; shift 2 ;;
    --soc) soc="$2"; shift 2 ;;
    --no-install) install=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
die() { echo "build.sh: $*" >&2; exit 2; }
[[ -n "$model" ]] || die "--model NAME is required (acc models list)"
case "$soc" in
  Ascend310) soc_dir=ascend310 ;;
  Ascend310P3) soc_dir=ascend310p ;;  # msopgen's config/transform.json maps ascend310p3 to ascend310p
  *) die "--soc is Ascend310 or Ascend310P3, not $soc" ;;
esac

# run CMD...: run it, or print it (shell-quoted) with --dry-run; run_in DIR CMD...: the same, in DIR
run() {
  if [[ $dry_run == 1 ]]; then
    local line
    printf -v line '%q ' "$@"
    echo "${line% }"
  else
    "$@"
  fi
}
run_in() {
  local dir="$1"; shift
  if [[ $dry_run == 1 ]]; then printf 'cd %q && ' "$dir"; run "$@"; else (cd "$dir" && "$@"); fi
}

home="${ASCEND_HOME_PATH:-/usr/local/Ascend/ascend-toolkit/latest}"  # msopgen's own default
include="${ASCEND_TENSOR_COMPILER_INCLUDE:-}"
if [[ -z "$include" ]]; then
  for candidate in "$home/include" "$home/$(uname -m)-linux/include" "$home/compiler/include"; do
    if [[ -f "$candidate/graph/operator_reg.h" ]]; then include="$candidate"; break; fi
  done
fi
if [[ $dry_run == 0 ]]; then
  for tool in msopgen atc "$python"; do
    command -v "$tool" >/dev/null || {
      echo "build.sh: $tool not found: install CANN and run 'source <CANN>/set_env.sh' first" >&2
      echo "          (without CANN, 'acc colorize --backend ascend --emulate' runs the emulator)" >&2
      exit 2
    }
  done
  [[ -n "${ASCEND_HOME_PATH:-}" ]] || die "ASCEND_HOME_PATH is not set (source CANN's set_env.sh)"
  [[ $install == 0 || -n "${ASCEND_OPP_PATH:-}" ]] || die "ASCEND_OPP_PATH is not set (source CANN's set_env.sh)"
  [[ -n "$include" && -f "$include/graph/operator_reg.h" ]] ||
    die "no graph/operator_reg.h under $home/{include,$(uname -m)-linux/include,compiler/include}: set" \
        "ASCEND_TENSOR_COMPILER_INCLUDE to the CANN headers (the generated project's build needs it)"
fi
include="${include:-$home/include}"

model_args=(--model "$model")
[[ -n "$model_dir" ]] && model_args+=(--model-dir "$model_dir")
ops_dir="$("$python" - "$soc" "${model_args[@]}" <<'PY'
import argparse, sys
from pathlib import Path
from acc.backends.ascend.backend import op_model_dir
from acc.models import ModelError, resolve
p = argparse.ArgumentParser(); p.add_argument("soc"); p.add_argument("--model"); p.add_argument("--model-dir", type=Path)
a = p.parse_args()
try:
    print(op_model_dir(resolve(a.model, a.model_dir), a.soc))
except ModelError as exc:
    print(f"build.sh: {exc}", file=sys.stderr)
    sys.exit(2)
PY
)"
# "OpType snake_name" per operator in op_ir.json (msopgen names the files it makes after snake_name, as
# op_gen/interface/utils.py's fix_name_lower_with_under does for these names)
mapfile -t ops < <("$python" - "$here/op_ir.json" <<'PY'
import json, re, sys
for entry in json.load(open(sys.argv[1])):
    print(entry["op"], re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", entry["op"]).lower())
PY
)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
project="$work/acc_ops"

echo "# 1. custom-op project ($project)"
mode=()
for entry in "${ops[@]}"; do
  # ${mode[@]+"${mode[@]}"}: an empty array expanded under set -u is an unbound variable before bash 4.4
  run msopgen gen -i "$here/op_ir.json" -f tf -c "ai_core-$soc" -lan py -out "$project" ${mode[@]+"${mode[@]}"} \
    -op "${entry% *}"
  mode=(-m 1)  # the first call makes the project, the others add an operator to it
done
for entry in "${ops[@]}"; do
  name="${entry#* }"
  run rm -f "$project/tbe/impl/$name.py" "$project/tbe/op_info_cfg/ai_core/$soc_dir/$name.ini" \
    "$project/op_proto/$name.h" "$project/op_proto/$name.cc"
done
run cp "$here/tbe/acc_colour.py" "$project/tbe/impl/"
run cp "$here/op_info/acc_colour.ini" "$project/tbe/op_info_cfg/ai_core/$soc_dir/"
run cp "$here/op_proto/acc_colour.h" "$here/op_proto/acc_colour.cc" "$project/op_proto/"

echo "# 2. build and install the custom OPP"
run_in "$project" env "ASCEND_TENSOR_COMPILER_INCLUDE=$include" bash build.sh
if [[ $dry_run == 1 ]]; then  # named as the generated cmake/config.cmake names it: custom_opp_<os ID>_<arch>.run
  package="$project/build_out/custom_opp_${SYSTEM_INFO:-$(. /etc/os-release 2>/dev/null; echo "${ID:-linux}")_$(uname -m)}.run"
else
  package="$(ls "$project"/build_out/custom_opp_*.run)"
fi
if [[ $install == 1 ]]; then
  run "$package" --quiet
else
  echo "# not installed: run $package"
fi

echo "# 3. single operators for $model on $soc -> $ops_dir"
run mkdir -p "$ops_dir"
run "$python" -m acc.kernels.ascend.singleop --soc "$soc" "${model_args[@]}" -o "$ops_dir/acc_ops.json"
run atc --singleop="$ops_dir/acc_ops.json" --soc_version="$soc" --output="$ops_dir"
echo "# done: acc colorize --backend ascend --model $model ... then finds $ops_dir"
