"""`acc eval ORIGINALS... -o WORKDIR`: colorization quality on colour photos, through the real pipeline."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

from acc.cli import EXIT_FAILED, EXIT_OK, UsageError
from acc.api import run_options
from acc.commands.common import add_engine_options, backend_from, settings_from
from acc.evaluate import Report, evaluate

HELP = """\
Turn colour photos gray (keep L, set a = b = 0), colorize them with the chosen backend and model, and
compare with the originals: PSNR (8-bit RGB), raw AuC of the ab error (thresholds 0..150), and
colourfulness (Hasler-Suesstrunk, signed opponents, CF = sigma + 0.3 mu), beside the no-colour result
and the originals' colourfulness. Writes WORKDIR/eval.json, WORKDIR/contact_sheet.png
(original | gray | colorized) and the gray and colorized photos. --model A,B evaluates each model on
the same photos (in WORKDIR/A, WORKDIR/B) and says how B scores against A (e.g. acc-tiny-int8 against
acc-tiny)."""


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
    # --model A,B: each model on the same photos, each in its own folder, then B's scores against A's
    names = settings.model.split(",") if settings.model else [None]
    reports = []
    for name in names:
        one = replace(settings, model=name)
        with backend_from(one) as backend:
            workdir = args.output / backend.model.name if len(names) > 1 else args.output
            reports.append(evaluate(args.originals, workdir, backend, run_options(one), sheet_rows=args.sheet_rows))
        if reports[-1].images == 0:
            raise UsageError("no photos could be evaluated")
    if args.json:
        print(json.dumps([asdict(r) for r in reports] if len(reports) > 1 else asdict(reports[0]), indent=2))
    else:
        print("\n\n".join(r.table() for r in reports))
        for r in reports[1:]:
            print(compare(r, reports[0]))
    return EXIT_FAILED if any(r.failed for r in reports) else EXIT_OK


def compare(report: Report, first: Report) -> str:
    """One line: how `report` scores against `first` (same photos), colorized results only."""
    d = {k: report.colorized[k] - first.colorized[k] for k in ("psnr", "auc", "cf")}
    return (f"{report.model} against {first.model}: PSNR {d['psnr']:+.2f} dB, AuC {d['auc']:+.2f}, CF {d['cf']:+.2f}"
            f" ({report.images} photos)")
