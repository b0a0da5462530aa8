"""`acc models list | fetch`: the models acc knows, whether their files verify, and installing official ones."""

from __future__ import annotations

import argparse
from pathlib import Path

from acc.cli import EXIT_FAILED, EXIT_OK, UsageError
from acc.api import models
from acc.models import ModelError, default_model_dir

FETCH_HELP = """\
Download the official PyTorch weights of NAME (or take a copy you have: --from FILE), check their
SHA-256, convert them to ONNX (with numpy and onnx, no PyTorch: pip install 'acc-colorize[onnx]') and
install the ONNX in the user model folder, listed in its registry.yaml with its own SHA-256. A failed
download, a checksum mismatch or a failed conversion installs nothing."""


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
