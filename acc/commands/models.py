"""`acc models list`: the models acc knows, where their files are, and whether they verify."""

from __future__ import annotations

import argparse
from pathlib import Path

from acc.cli import EXIT_FAILED, EXIT_OK, UsageError
from acc.models import ModelError, ModelSpec, default_model_dir, load_registry, read_verified


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the colorization models", description="Manage colorization models.")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    lp = msub.add_parser("list", help="list known models and whether their files verify")
    lp.add_argument("--model-dir", type=Path, help="folder of user-installed models")
    lp.set_defaults(run=run_list)


def model_status(spec: ModelSpec) -> str:
    """'verified', 'not installed', or the reason its file fails."""
    if not spec.path.exists():
        return "not installed"
    try:
        read_verified(spec)
    except ModelError as exc:
        return f"FAILS: {exc}"
    return "verified"


def run_list(args: argparse.Namespace) -> int:
    try:
        default, specs = load_registry(args.model_dir)
    except ModelError as exc:
        raise UsageError(str(exc)) from None
    print(f"user model folder: {args.model_dir or default_model_dir()}")
    worst = EXIT_OK
    for name, spec in sorted(specs.items()):
        status = model_status(spec)
        if status.startswith("FAILS"):
            worst = EXIT_FAILED
        mark = "*" if name == default else " "
        where = "bundled" if spec.bundled else "user"
        print(f"{mark} {name:12} {where:8} {status:14} {spec.description}")
    return worst
