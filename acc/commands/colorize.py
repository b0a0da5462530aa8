"""`acc colorize INPUT... -o OUTDIR`: colorize photos, mirroring the input tree under OUTDIR."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from acc.api import colorize_files, run_options
from acc.backends import BackendError
from acc.cluster import ClusterError
from acc.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_STOPPED, UsageError
from acc.commands.common import add_engine_options, model_from, settings_from
from acc.inputs import InputSet, OutputIsInput
from acc.metadata.credentials import SigningError
from acc.models import ModelError
from acc.outdir import FolderBusy, OutputDir
from acc.pipeline import Outcome, RunOptions, plan
from acc.progress import Progress, one_line, summary_lines

HELP = """\
Colorize black-and-white photographs. INPUT is a file, a folder (walked recursively) or a glob
pattern (quote it). Reads JPEG (baseline and progressive), PNG, BMP, TIFF and WebP, gray or colour,
8 or 16 bits. A colour photo keeps its lightness (L) and gets new colours: its own are replaced.
Each result is written at the photo's full resolution under OUTDIR, at the same relative path, as
JPEG (4:2:0) or PNG; PNG keeps an input's alpha channel, JPEG drops it.

A file that cannot be colorized gets one line with the reason and the run goes on; a photo whose
decoder reports damaged data is colorized with a warning line (a failure with --strict). Results are
written under a temporary name and renamed, and recorded in OUTDIR/.acc-journal.jsonl: running the
same command again skips what is done and retries what failed. Inputs are never modified. When two
photos of a folder would get the same output name (scan.png, scan.tif), each keeps its whole name
(scan.png.jpg, scan.tif.jpg). A full, read-only or vanished output folder stops the run.
Exit status: 0 all succeeded, 1 some failed, 2 usage error, 3 stopped because the output folder
could not be written (run again to resume), 130 interrupted (a second Ctrl-C stops at once).

--ray ADDRESS runs the same job on a Ray cluster, with the same results, journal and exit status:
inputs, OUTDIR and the model folder must be on storage every node mounts at the same path. Results
are reported as workers finish them (input order within each task of up to 256 photos)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("colorize", help="colorize photos", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or glob patterns")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUTDIR", help="output folder")
    p.add_argument("--format", choices=["jpeg", "png"], help="output format (default jpeg)")
    p.add_argument("--quality", type=int, help="JPEG quality 1..100 (default 95)")
    p.add_argument("--overwrite", action="store_true", default=None, help="replace existing outputs")
    p.add_argument("--strict", action="store_true", default=None,
                   help="fail photos whose decoder reports damaged data (default: colorize them, with a warning)")
    p.add_argument("--dry-run", action="store_true", help="list what would be done; write nothing")
    p.add_argument("--metadata", choices=["copy", "strip"],
                   help="copy the source's EXIF, XMP, IPTC, text and resolution into outputs (default), or strip them")
    p.add_argument("--no-provenance", dest="provenance", action="store_false", default=None,
                   help="do not label outputs as colorized by a trained model (XMP DigitalSourceType, CreatorTool)")
    p.add_argument("--c2pa-sign", nargs=2, type=Path, metavar=("CERT", "KEY"),
                   help="sign a C2PA manifest into each output with this PEM certificate chain and private key; "
                        "needs pip install 'acc-colorize[c2pa]'")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run on a Ray cluster: ray://HOST:10001, HOST:6379, auto (the cluster this machine is in) "
                        "or local (a throwaway cluster here); needs pip install 'acc-colorize[ray]'")
    add_engine_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args, format=args.format, quality=args.quality, overwrite=args.overwrite,
                             strict=args.strict, ray=args.ray, metadata=args.metadata, provenance=args.provenance,
                             c2pa_sign=args.c2pa_sign)  # fmt: skip
    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"output {args.output} exists and is not a folder")
    spec = model_from(settings)
    try:
        inputs = InputSet(args.inputs, outdir=args.output)
    except OutputIsInput as exc:
        raise UsageError(str(exc)) from None
    if args.dry_run:
        return _dry_run(inputs, OutputDir(args.output).peek(), run_options(settings), spec.recipe)

    progress = Progress(total=inputs.count(), stream=sys.stderr)
    try:
        summary = colorize_files(args.inputs, args.output, on_outcome=progress, on_notice=progress.notice,
                                 **asdict(settings))  # fmt: skip
    except (BackendError, ModelError, FolderBusy, ClusterError, SigningError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # the output folder cannot be made or locked
        raise UsageError(f"cannot use the output folder {args.output}: {exc.strerror or exc}") from None
    finally:
        progress.close()
    for line in summary_lines(summary):
        print(line)
    if summary.interrupted:
        if _threads_left(seconds=1.0):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)  # a worker stuck in a write must not keep the process alive
        return EXIT_INTERRUPTED
    if summary.stopped:
        return EXIT_STOPPED
    return EXIT_FAILED if summary.failed else EXIT_OK


def _dry_run(inputs: InputSet, outdir: OutputDir, options: RunOptions, recipe: str) -> int:
    counts = {"work": 0, "skipped": 0, "failed": 0}
    for item in plan(inputs, outdir, options, recipe):
        if isinstance(item, Outcome):
            counts[item.status] += 1
            stream = sys.stderr if item.status == "failed" else sys.stdout
            print(one_line(f"{item.status}: {item.display}: {item.reason}"), file=stream)
        else:
            counts["work"] += 1
            print(one_line(f"colorize: {item.source.display} -> {item.target}"))
    print(f"dry run: {counts['work']} to colorize, {counts['skipped']} done before, {counts['failed']} refused")
    return EXIT_FAILED if counts["failed"] else EXIT_OK


def _threads_left(seconds: float) -> bool:
    """Whether a thread of the run is still alive after `seconds` (one that has just finished its photo
    ends in moments; one stuck in a write on a dead share does not)."""
    deadline = time.monotonic() + seconds
    for t in threading.enumerate():
        if t is not threading.main_thread() and not t.daemon:
            t.join(max(0.0, deadline - time.monotonic()))
    return any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread())
