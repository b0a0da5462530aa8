"""`acc eval ORIGINALS... -o WORKDIR`: colorization quality on colour photos, through the real pipeline."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from acc.cli import EXIT_FAILED, EXIT_OK, UsageError
from acc.api import run_options
from acc.commands.common import add_engine_options, backend_from, settings_from
from acc.evaluate import evaluate

HELP = """\
Turn colour photos gray (keep L, set a = b = 0), colorize them with the chosen backend and model, and
compare with the originals: PSNR (8-bit RGB), raw AuC of the ab error (thresholds 0..150), and
colourfulness (Hasler-Suesstrunk, signed opponents, CF = sigma + 0.3 mu), beside the no-colour result
and the originals' colourfulness. Writes WORKDIR/eval.json, WORKDIR/contact_sheet.png
(original | gray | colorized) and the gray and colorized photos."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="measure colorization quality on colour photos", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("originals", nargs="+", metavar="ORIGINALS", help="colour photos: files, folders or globs")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="WORKDIR", help="folder for results")
    p.add_argument("--sheet-rows", type=int, default=12, help="photos on the contact sheet (default 12)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    add_engine_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"output {args.output} exists and is not a folder")
    with backend_from(settings) as backend:
        options = run_options(settings)
        report = evaluate(args.originals, args.output, backend, options, sheet_rows=args.sheet_rows)
    if report.images == 0:
        raise UsageError("no photos could be evaluated")
    print(json.dumps(asdict(report), indent=2) if args.json else report.table())
    return EXIT_FAILED if report.failed else EXIT_OK
