"""`acc models list | fetch`: the models acc knows, whether their files verify, and installing official ones."""

from __future__ import annotations

import argparse
from pathlib import Path

from acc.cli import EXIT_FAILED, EXIT_OK, UsageError
from acc.models import ModelError, ModelSpec, default_model_dir, load_catalogue, load_registry, read_verified

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


def model_status(spec: ModelSpec) -> str:
    """'verified', 'not installed', or the reason its file fails."""
    if not spec.path.exists():
        return "not installed"
    try:
        read_verified(spec)
    except ModelError as exc:
        return f"FAILS: {exc}"
    return "verified"


def model_rows(model_dir: Path | None) -> tuple[str, list[tuple[str, str, str, str]]]:
    """(default model, rows of name, where, status, description): the installed models and the fetchable
    ones not installed yet, sorted by name. Raises ModelError for a damaged registry."""
    default, specs = load_registry(model_dir)
    rows = [(name, "bundled" if spec.bundled else "user", model_status(spec), spec.description)
            for name, spec in specs.items()]  # fmt: skip
    rows += [(name, "fetchable", "not installed", f"{item.entry.get('description', '')} (acc models fetch {name})")
             for name, item in load_catalogue().items() if name not in specs]  # fmt: skip
    return default, sorted(rows)


def run_list(args: argparse.Namespace) -> int:
    try:
        default, rows = model_rows(args.model_dir)
    except ModelError as exc:
        raise UsageError(str(exc)) from None
    print(f"user model folder: {args.model_dir or default_model_dir()}")
    for name, where, status, description in rows:
        mark = "*" if name == default else " "
        print(f"{mark} {name:12} {where:9} {status:14} {description}")
    return EXIT_FAILED if any(status.startswith("FAILS") for _, _, status, _ in rows) else EXIT_OK


def run_fetch(args: argparse.Namespace) -> int:
    from acc.fetch import FetchError, fetch

    model_dir = args.model_dir or default_model_dir()
    try:
        spec = fetch(args.name, model_dir, args.source)
    except FetchError as exc:
        raise UsageError(str(exc)) from None
    print(f"installed {spec.name}: {spec.path} (sha256 {spec.sha256})")
    return EXIT_OK
