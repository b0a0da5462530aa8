"""The `acc` command: colorize | eval | bench | models | doctor.

Exit status: 0 when every photo succeeded, 1 when any failed (or a check failed), 2 for a usage error or
a run that could not start, 3 when the output folder failed (full, read-only, gone) and the run stopped,
130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from acc import __version__
from acc.libmessages import captured
from acc.pipeline import DRAIN_SECONDS
from acc.progress import one_line
from acc.stopping import StopSignals

# Each command lives in its own module with add_parser(subparsers) and run(args) -> int.
COMMANDS = ["colorize", "eval", "bench", "models", "doctor"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STOPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(Exception):
    """A bad invocation or a run that cannot start; printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acc", description="Colorize black-and-white photographs in bulk.")
    parser.add_argument("--version", action="version", version=f"acc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        import_module(f"acc.commands.{name}").add_parser(sub)
    return parser


def _library_note(text: str) -> None:
    print(f"acc: note: a library printed: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Ctrl-C, a kill or a closed terminal: a clean stop, then at once on a second one. What C libraries
    # print is caught and told in acc's words, per photo where a photo said it.
    with StopSignals(grace=DRAIN_SECONDS + 10), captured(stray=_library_note):
        try:
            return args.run(args)
        except UsageError as exc:
            print(one_line(f"acc: error: {exc}"), file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("acc: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED


if __name__ == "__main__":
    # `python -m acc.cli` runs this file as __main__, a second copy of the module: the commands raise
    # acc.cli.UsageError, which only acc.cli's own main() catches, so run that one.
    from acc.cli import main as package_main

    sys.exit(package_main())
