"""`acc models list | fetch | quantize`: the models acc knows, whether their files verify, installing official
ones, and making int8 variants of installed ones."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acc.cli import EXIT_FAILED, EXIT_OK, UsageError
from acc.api import models
from acc.models import ModelError, default_model_dir
from acc.quantize import DEFAULT_PHOTOS, METHODS, QuantizeError, Recipe, quantize_installed

FETCH_HELP = """\
Download the official PyTorch weights of NAME (or take a copy you have: --from FILE), check their
SHA-256, convert them to ONNX (with numpy and onnx, no PyTorch: pip install 'acc-colorize[onnx]') and
install the ONNX in the user model folder, listed in its registry.yaml with its own SHA-256. A failed
download, a checksum mismatch or a failed conversion installs nothing."""

QUANTIZE_HELP = """\
Make an int8 variant of the installed float model NAME with ONNX Runtime's static quantization (QDQ,
uint8 activations, int8 weights per output channel), calibrated on photos: up to --photos of those
under --calibration (a seeded pick: the same folder gives the same set), each turned into the model's
input as the cpu backend does. Without --calibration, the bundled calibration set (public-domain
black-and-white photographs). The result is checked like any model and installed in the user model
folder as NAME-int8 (or --name), with its SHA-256 and its recipe in registry.yaml; run it with
--model NAME-int8 on the cpu backend, and compare it with NAME on your own colour photos with
`acc eval PHOTOS -o DIR --model NAME-int8` (and --model NAME). Needs the onnx package
(pip install 'acc-colorize[onnx]'). int8 runs fastest, and exactly, on x86 CPUs with VNNI."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list and install models", description="Manage colorization models.")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    lp = msub.add_parser("list", help="list known models and whether their files verify")
    lp.add_argument("--model-dir", type=Path, help="folder of user-installed models")
    lp.set_defaults(run=run_list)
    fp = msub.add_parser("fetch", help="install official model weights", description=FETCH_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    fp.add_argument("name", metavar="NAME", help="a fetchable model (see `acc models list`)")
    fp.add_argument("--from", dest="source", type=Path, metavar="FILE", help="use this copy of the official weights")
    fp.add_argument("--model-dir", type=Path, help="folder of user-installed models")
    fp.set_defaults(run=run_fetch)
    qp = msub.add_parser("quantize", help="make an int8 variant of an installed model", description=QUANTIZE_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    qp.add_argument("name", metavar="NAME", help="an installed float model (see `acc models list`)")
    qp.add_argument("--calibration", nargs="+", metavar="PHOTOS",
                    help="photos to calibrate on: files, folders or glob patterns (default: the bundled set)")
    qp.add_argument("--photos", type=int, default=DEFAULT_PHOTOS, metavar="N",
                    help=f"calibration photos to use, at most (default {DEFAULT_PHOTOS})")
    qp.add_argument("--method", choices=METHODS, default=METHODS[0],
                    help="how activation ranges are set from the calibration (default minmax)")
    qp.add_argument("--keep-float", metavar="NODES", default="",
                    help="comma-separated node names or op types to leave in float, e.g. Softmax")
    qp.add_argument("--name", dest="target", metavar="NAME", help="name of the int8 model (default NAME-int8)")
    qp.add_argument("--model-dir", type=Path, help="folder of user-installed models")
    qp.set_defaults(run=run_quantize)


def run_list(args: argparse.Namespace) -> int:
    try:
        infos = models(args.model_dir)
    except ModelError as exc:
        raise UsageError(str(exc)) from None
    print(f"user model folder: {args.model_dir or default_model_dir()}")
    for info in infos:
        description = info.description + (f" (acc models fetch {info.name})" if info.where == "fetchable" else "")
        print(f"{'*' if info.default else ' '} {info.name:12} {info.where:9} {info.status:14} {description}")
    return EXIT_FAILED if any(info.status.startswith("FAILS") for info in infos) else EXIT_OK


def run_fetch(args: argparse.Namespace) -> int:
    from acc.fetch import FetchError, fetch

    model_dir = args.model_dir or default_model_dir()
    try:
        spec = fetch(args.name, model_dir, args.source)
    except FetchError as exc:
        raise UsageError(str(exc)) from None
    print(f"installed {spec.name}: {spec.path} (sha256 {spec.sha256})")
    return EXIT_OK


def run_quantize(args: argparse.Namespace) -> int:
    if args.photos < 1:
        raise UsageError("--photos must be at least 1")
    keep_float = tuple(name for name in args.keep_float.split(",") if name)
    recipe = Recipe(photos=args.photos, method=args.method, keep_float=keep_float)
    try:
        done = quantize_installed(args.name, args.model_dir or default_model_dir(), args.calibration, recipe,
                                  args.target)  # fmt: skip
    except (QuantizeError, ModelError) as exc:
        raise UsageError(str(exc)) from None
    for line in done.calibration.left_out:
        print(f"acc: left out: {line}", file=sys.stderr)
    spec = done.spec
    print(f"installed {spec.name}: {spec.path} (sha256 {spec.sha256})")
    print(f"calibrated on {len(done.calibration.photos)} photos; on them its ab differs from {args.name}'s by "
          f"{done.ab_mean:.2f} on average, {done.ab_max:.2f} at most (Lab units)")
    return EXIT_OK
