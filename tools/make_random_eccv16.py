"""Write a random-weight ECCV16 as ONNX, registered in a user model folder: for timing only.

    python tools/make_random_eccv16.py --out /tmp/acc-models
    acc bench CORPUS --model-dir /tmp/acc-models --model eccv16-random

Same layers, shapes and FLOPs as the official model (acc/networks.py; ~32 GMACs at 224 x 224, 123 MB),
random weights: its colours mean nothing, its speed is the real model's. The file is never shipped or
committed; it is written where you say, with a registry.yaml entry beside it (merged into an existing
registry there) declaring the ECCV16 contract. Needs onnx (the "onnx" extra), not torch.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import yaml

from acc import netspec
from acc.models import load_catalogue
from acc.networks import eccv16

NAME = "eccv16-random"


def make(out: Path, name: str = NAME, seed: int = 0) -> Path:
    """Export the model into folder `out` and register it there; returns the ONNX path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name.replace('-', '_')}.onnx"
    official = load_catalogue()["eccv16"].entry  # the official ECCV16's contract: declared once
    net = eccv16()
    netspec.save_onnx(net, netspec.random_weights(net, seed), path, tuple(official["input"]["size"]))
    registry = out / "registry.yaml"
    doc = (yaml.safe_load(registry.read_text()) if registry.is_file() else None) or {}
    doc.setdefault("models", {})[name] = {
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "description": "ECCV16 architecture, random weights (timing only: colours mean nothing)",
        "input": official["input"],
        "output": official["output"],
    }
    registry.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="user model folder to write into (created)")
    ap.add_argument("--name", default=NAME, help=f"registry name (default {NAME})")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    path = make(args.out, args.name, args.seed)
    size = path.stat().st_size / 1e6
    print(f"wrote {path} ({size:.1f} MB) and registered '{args.name}' in {args.out / 'registry.yaml'}")


if __name__ == "__main__":
    main()
