"""The `acc` command: colorize | eval | bench | models | doctor.

Exit status: 0 when every photo succeeded, 1 when any failed (or a check failed), 2 for a usage error or
a run that could not start, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

# Each command lives in its own module with add_parser(subparsers) and run(args) -> int.
COMMANDS = ["colorize", "eval", "bench", "models", "doctor"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A bad invocation or a run that cannot start; printed as one line, exit status 2."""


def acc_version() -> str:
    try:
        return version("acc-colorize")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acc", description="Colorize black-and-white photographs in bulk.")
    parser.add_argument("--version", action="version", version=f"acc {acc_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        import_module(f"acc.commands.{name}").add_parser(sub)
    return parser


def _stop_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):  # a kill or a closed terminal stops like Ctrl-C
        signal.signal(sig, _stop_as_interrupt)
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"acc: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("acc: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    # `python -m acc.cli` runs this file as __main__, a second copy of the module: the commands raise
    # acc.cli.UsageError, which only acc.cli's own main() catches, so run that one.
    from acc.cli import main as package_main

    sys.exit(package_main())
