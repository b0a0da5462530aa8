#!/usr/bin/env python3
"""Quantize a bundled model to int8 for the package, calibrated on the training photos (never the development set).

    python tools/quantize_model.py --data DATA/train --out models/acc_tiny_int8.onnx

What it runs is what `acc models quantize` runs (acc/quantize.py: the cpu backend's own model inputs,
ONNX Runtime's static QDQ quantization, uint8 activations, int8 weights per output channel); only the
photos and the destination differ. The photos: --photos of the large photos of the training pool
(DATA/imagenet_sample, bsds500_trainval, urban100: the sets acc-tiny was trained on at full size; the
64 x 64 sets would calibrate on upscaled blur), picked by a seeded shuffle of their sorted paths.
Deterministic: the same DATA, seed and versions of ONNX Runtime and onnx give the same file (the card,
models/acc_tiny.md, records a re-run). Prints the registry entry to put in models/registry.yaml.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

import onnxruntime
import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from acc.models import resolve, sha256_bytes  # noqa: E402
from acc.quantize import DEFAULT_PHOTOS, METHODS, Recipe, ab_difference, calibration_inputs, quantize  # noqa: E402

LARGE_SETS = ("imagenet_sample", "bsds500_trainval", "urban100")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path, help="the training pool (folders named as LARGE_SETS)")
    ap.add_argument("--out", required=True, type=Path, help="the int8 ONNX to write")
    ap.add_argument("--model", default="acc-tiny", help="the bundled float model (default acc-tiny)")
    ap.add_argument("--photos", type=int, default=DEFAULT_PHOTOS)
    ap.add_argument("--method", choices=METHODS, default=METHODS[0])
    ap.add_argument("--keep-float", default="", help="comma-separated node names or op types left in float")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    spec = resolve(args.model)
    recipe = Recipe(args.photos, args.method, tuple(k for k in args.keep_float.split(",") if k), args.seed)
    calibration = calibration_inputs(spec, [str(args.data / s) for s in LARGE_SETS], recipe)
    for line in calibration.left_out:
        print(f"left out: {line}", file=sys.stderr)
    data = quantize(spec, calibration, recipe)
    args.out.write_bytes(data)
    made = replace(spec, path=args.out, sha256=sha256_bytes(data), precision="int8")
    mean, most = ab_difference(spec, made, calibration.inputs)
    print(f"wrote {args.out} ({len(data):,} bytes), sha256 {made.sha256}")
    print(f"calibration: {len(calibration.photos)} photos; ab differs from {spec.name}'s by {mean:.3f} on average, "
          f"{most:.3f} at most (Lab units), on them")
    entry = {
        "file": args.out.name,
        "sha256": made.sha256,
        "description": f"{spec.name} quantized to int8 (QDQ, per-channel weights); the cpu backend's default "
                       "on CPUs with VNNI",
        "card": spec.card.name if spec.card else None,
        "precision": "int8",
        "quantized": {"from": spec.name, "from_sha256": spec.sha256,
                      "calibration": "training pool: " + ", ".join(LARGE_SETS), **recipe.describe()},
        **spec.contract(),
    }  # fmt: skip
    print(f"# python tools/quantize_model.py {' '.join(sys.argv[1:])} (onnxruntime {onnxruntime.__version__})")
    print(yaml.safe_dump({f"{spec.name}-int8": entry}, sort_keys=False, default_flow_style=None, width=110))


if __name__ == "__main__":
    main()
