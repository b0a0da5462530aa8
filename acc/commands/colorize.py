"""`acc colorize INPUT... -o OUTDIR`: colorize photos, mirroring the input tree under OUTDIR."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acc.backends import OutputFormat
from acc.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from acc.commands.common import add_engine_options, backend_from, model_from, settings_from
from acc.inputs import InputSet
from acc.outdir import FolderBusy, OutputDir
from acc.pipeline import Outcome, RunOptions, Runner, plan
from acc.progress import Progress, summary_line

HELP = """\
Colorize black-and-white photographs. INPUT is a file, a folder (walked recursively) or a glob
pattern (quote it). Reads JPEG (baseline and progressive), PNG, BMP, TIFF and WebP, gray or colour,
8 or 16 bits. A colour photo keeps its lightness (L) and gets new colours: its own are replaced.
Each result is written at the photo's full resolution under OUTDIR, at the same relative path, as
JPEG (4:2:0) or PNG; PNG keeps an input's alpha channel, JPEG drops it.

A file that cannot be colorized gets one line with the reason and the run goes on. Results are
written under a temporary name and renamed, and recorded in OUTDIR/.acc-journal.jsonl: running the
same command again skips what is done and retries what failed. Inputs are never modified.
Exit status: 0 all succeeded, 1 some failed, 2 usage error, 130 interrupted."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("colorize", help="colorize photos", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or glob patterns")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUTDIR", help="output folder")
    p.add_argument("--format", choices=["jpeg", "png"], help="output format (default jpeg)")
    p.add_argument("--quality", type=int, help="JPEG quality 1..100 (default 95)")
    p.add_argument("--overwrite", action="store_true", default=None, help="replace existing outputs")
    p.add_argument("--dry-run", action="store_true", help="list what would be done; write nothing")
    add_engine_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args, format=args.format, quality=args.quality, overwrite=args.overwrite)
    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"output {args.output} exists and is not a folder")
    options = RunOptions(
        fmt=OutputFormat(settings.format, settings.quality),
        batch_size=settings.batch_size,
        workers=settings.workers,
        overwrite=settings.overwrite,
        max_pixels=settings.max_pixels,
    )
    spec = model_from(settings)
    inputs = InputSet(args.inputs, outdir=args.output)
    if args.dry_run:
        return _dry_run(inputs, OutputDir(args.output).peek(), options, spec.name)

    with backend_from(settings, spec) as backend:
        try:
            outdir = OutputDir(args.output).open()
        except FolderBusy as exc:
            raise UsageError(str(exc)) from None
        if outdir.stale_removed:
            print(f"acc: removed {outdir.stale_removed} unfinished temporary file(s) of an interrupted run",
                  file=sys.stderr)
        try:
            runner = Runner(backend, outdir, options)
            progress = Progress(runner.summary, total=inputs.count(), stream=sys.stderr)  # today's stderr
            runner.on_outcome = progress
            try:
                summary = runner.run(inputs)
            finally:
                progress.close()
        finally:
            outdir.close()
    print(summary_line(summary))
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if summary.failed else EXIT_OK


def _dry_run(inputs: InputSet, outdir: OutputDir, options: RunOptions, model: str) -> int:
    counts = {"work": 0, "skipped": 0, "failed": 0}
    for item in plan(inputs, outdir, options, model):
        if isinstance(item, Outcome):
            counts[item.status] += 1
            stream = sys.stderr if item.status == "failed" else sys.stdout
            print(f"{item.status}: {item.display}: {item.reason}", file=stream)
        else:
            counts["work"] += 1
            print(f"colorize: {item.source.display} -> {item.target}")
    print(f"dry run: {counts['work']} to colorize, {counts['skipped']} done before, {counts['failed']} refused")
    return EXIT_FAILED if counts["failed"] else EXIT_OK
