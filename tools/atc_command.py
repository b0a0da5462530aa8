"""The `atc` command that compiles an installed model's ONNX into an Ascend offline model (.om).

    python tools/atc_command.py eccv16 [--soc-version Ascend310 ...] [--dynamic-batch 1,2,4,8] [--run]

prints (or, with --run, runs) one command per SoC. The command is built as a list of arguments and run
without a shell. Everything the command states about the model comes from its registry contract: the
input name and its N x 1 x h x w shape, NCHW, float32 in and out (--output_type=FP32, so the pipeline
reads ab as it does from ONNX Runtime); the .om is written beside the ONNX unless --output-dir says
otherwise, named after the model, its ONNX's checksum, the SoC and the batch sizes (om_stem), so that an
.om built from an older ONNX is never loaded for a newer one. ATC and CANN are not here, so what is
tested is the argument list; docs/ascend-models.md has the steps on a machine with CANN.

No AIPP. AIPP converts an *image* (YUV420SP/RGB bytes) into the model input with a colour-space matrix,
per-channel mean and variance, and crop/padding: affine maps of 8-bit pixels. The model input here is
not an image: it is (L - 50) / 100 as float32, with L* computed by acc's own LabL kernel, and L* needs
sRGB decompanding (a piecewise power curve) and the cube root of relative luminance. Neither is affine,
so AIPP cannot express them; folding them anyway would change what the model sees and break the
comparison with the OpenCV baseline. The .om takes the same float input as the ONNX.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from acc.backends.ascend.model import om_stem
from acc.models import ModelError, ModelSpec, read_verified, resolve

SOC_VERSIONS = {
    "Ascend310": "Ascend 310: Atlas 200 DK, Atlas 300I (3000/3010)",
    "Ascend310P3": "Ascend 310P: Atlas 300I Pro, Atlas 300I Duo",
}
PRECISION_MODES = {
    # Convolutions run on the cube unit, which is fp16 on the 310; vector ops such as ECCV16's softmax
    # over 313 bins keep fp32 where the op supports it.
    "allow_fp32_to_fp16": "cube ops fp16, vector ops stay fp32 where supported (default here)",
    "force_fp16": "every op fp16 (ATC's own default): fastest, least accurate",
    "force_fp32": "fp32 wherever an op supports it (cube ops: fp16 in, fp32 out); to check accuracy against "
    "ONNX Runtime; slower, and only CANN releases that know the mode accept it",
    "must_keep_origin_dtype": "fp32 as in the ONNX; ops without an fp32 AI Core kernel (convolutions on the 310) "
    "fall back to the slow AI CPU or fail",
}
DEFAULT_PRECISION = "allow_fp32_to_fp16"
FRAMEWORK_ONNX = "5"


def atc_command(spec: ModelSpec, soc_version: str, output: Path, precision_mode: str = DEFAULT_PRECISION,
                dynamic_batch: Sequence[int] = (), atc: str = "atc") -> list[str]:  # fmt: skip
    """The atc arguments that compile `spec`'s ONNX into `output`.om for `soc_version`.

    With `dynamic_batch` (e.g. [1, 2, 4, 8]) the input's batch is -1 and the .om accepts those batch
    sizes (ATC wants 2 to 100 of them); without it the batch is fixed at 1.
    """
    if soc_version not in SOC_VERSIONS:
        raise ValueError(f"unknown soc_version {soc_version!r}: one of {', '.join(SOC_VERSIONS)}")
    if precision_mode not in PRECISION_MODES:
        raise ValueError(f"unknown precision_mode {precision_mode!r}: one of {', '.join(PRECISION_MODES)}")
    sizes = sorted(set(dynamic_batch))
    if sizes and (len(sizes) < 2 or len(sizes) > 100 or sizes[0] < 1):
        raise ValueError(f"dynamic batch sizes must be 2 to 100 distinct positive numbers, got {list(dynamic_batch)}")
    h, w = spec.input_size
    command = [
        atc,
        f"--framework={FRAMEWORK_ONNX}",
        f"--model={spec.path}",
        f"--output={output}",
        "--input_format=NCHW",
        f"--input_shape={spec.input_name}:{-1 if sizes else 1},1,{h},{w}",
        f"--soc_version={soc_version}",
        f"--precision_mode={precision_mode}",
        "--output_type=FP32",
    ]
    if sizes:
        command.append("--dynamic_batch_size=" + ",".join(map(str, sizes)))
    return command


def _batch_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected batch sizes like 1,2,4,8, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="an installed model (acc models list)")
    parser.add_argument("--soc-version", action="append", choices=list(SOC_VERSIONS),
                        help="target SoC, repeatable (default: all of them)")  # fmt: skip
    parser.add_argument("--precision-mode", default=DEFAULT_PRECISION, choices=list(PRECISION_MODES),
                        help=f"ATC precision mode (default {DEFAULT_PRECISION})")  # fmt: skip
    parser.add_argument("--dynamic-batch", type=_batch_list, default=[], metavar="SIZES",
                        help="batch sizes the .om accepts, e.g. 1,2,4,8 (default: batch 1 only)")  # fmt: skip
    parser.add_argument("--model-dir", type=Path, help="folder of user-installed models")
    parser.add_argument("--output-dir", type=Path, help="where the .om files go (default: beside the ONNX)")
    parser.add_argument("--run", action="store_true", help="run atc (needs CANN's set_env.sh sourced)")
    args = parser.parse_args(argv)
    try:
        spec = resolve(args.model, args.model_dir)
        if args.run:
            read_verified(spec)  # compile only the file the registry vouches for
        commands = [
            atc_command(spec, soc, (args.output_dir or spec.path.parent) / om_stem(spec, soc, args.dynamic_batch),
                        args.precision_mode, args.dynamic_batch)  # fmt: skip
            for soc in args.soc_version or list(SOC_VERSIONS)
        ]
    except (ModelError, ValueError) as exc:
        print(f"atc_command: {exc}", file=sys.stderr)
        return 2
    if not args.run:
        print("\n".join(shlex.join(c) for c in commands))
        return 0
    if shutil.which("atc") is None:
        print("atc_command: atc is not on PATH: install CANN and source its set_env.sh", file=sys.stderr)
        return 2
    for command in commands:
        print(shlex.join(command), flush=True)
        if subprocess.run(command, check=False).returncode != 0:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
