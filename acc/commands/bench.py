"""`acc bench INPUT...`: backends side by side: per-stage time, codec floor, model-only and end to end."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from acc.api import run_options
from acc.benchmark import BASELINE, Bench, draw_chart, format_table, load_photos, report
from acc.cli import EXIT_FAILED, EXIT_OK, UsageError
from acc.commands.common import add_engine_options, backend_from, model_from, settings_from

HELP = """\
Measure backends side by side on the same photos and model: per-stage time (decode, model_input,
render + encode; p50 and p95), the codec floor (luma decode + output encode of the same photos),
model-only throughput, and end-to-end throughput of the batch runner (images/s, MP/s), with ratios
against the opencv baseline and against the bound the stages' own costs set (cores x photos / their
core-seconds): end to end runs the photos as many times as a steady state needs (--steady-seconds). Measurements are interleaved: every round runs each of them once, the
contenders alternating, so a busy machine slows them alike. Compare numbers from one run only.

--backend takes a comma-separated list (default: opencv and the configured backend). A synthetic
corpus: python tools/make_corpus.py --out DIR; an ECCV16-size model for timing:
python tools/make_random_eccv16.py --out MODELS, then --model-dir MODELS --model eccv16-random."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure backends side by side", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="photos: files, folders or glob patterns")
    p.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="rounds run first and not recorded (default 1)")
    p.add_argument("--no-end-to-end", dest="end_to_end", action="store_false", help="skip the batch runner runs")
    p.add_argument("--steady-seconds", type=float, default=10.0, metavar="S",
                   help="end to end: repeat the photos until a run holds S seconds of work at the bound (default 10)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the full report as JSON")
    p.add_argument("--chart", type=Path, metavar="FILE", help="draw the report as a PNG chart")
    p.add_argument("--format", choices=["jpeg", "png"], help="output format (default jpeg)")
    p.add_argument("--quality", type=int, help="JPEG quality 1..100 (default 95)")
    add_engine_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.rounds < 1 or args.warmup < 0 or args.steady_seconds < 0:
        raise UsageError("--rounds must be at least 1, --warmup and --steady-seconds at least 0")
    names = args.backend.split(",") if args.backend else None
    settings = settings_from(args, backend=names[0] if names else None, format=args.format, quality=args.quality)
    names = list(dict.fromkeys(names or [BASELINE, settings.backend]))
    photos, left_out = load_photos(args.inputs, settings.max_pixels)
    for line in left_out:
        print(f"acc: left out: {line}", file=sys.stderr)
    if not photos:
        raise UsageError("no photos to measure")
    spec = model_from(settings)
    options = run_options(settings)
    backends = {}
    try:
        for name in names:
            backends[name] = backend_from(replace(settings, backend=name))
        with tempfile.TemporaryDirectory(prefix="acc-bench-") as scratch:
            bench = Bench(photos, backends, options, args.inputs, Path(scratch), args.end_to_end, args.steady_seconds)
            bench.run(args.rounds, args.warmup, log=lambda line: print(f"acc: {line}", file=sys.stderr, flush=True))
    finally:
        for backend in backends.values():
            backend.close()
    rep = report(bench, args.rounds, args.warmup, spec.name)
    print(format_table(rep))
    if args.json:
        args.json.write_text(json.dumps(rep, indent=2) + "\n")
    if args.chart:
        draw_chart(rep, args.chart)
    failed = left_out or any(r["failed"] for r in rep["end_to_end"].values())
    return EXIT_FAILED if failed else EXIT_OK
