"""`acc doctor`: versions, which backends run here and why the others do not, and the model's checksum."""

from __future__ import annotations

import argparse
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from acc.api import backends, models
from acc.backends.ascend.status import report as ascend_report
from acc import __version__
from acc.backends.cuda.status import report as cuda_report
from acc.cli import EXIT_FAILED, EXIT_OK
from acc.commands.common import add_engine_options, settings_from
from acc.machine import cpu_model, has_vnni, usable_cores
from acc.models import ModelError, default_model_dir, file_status, resolve

PACKAGES = ["numpy", "opencv-python-headless", "onnxruntime", "simplejpeg", "numba", "pyyaml", "tqdm"]
OPTIONAL = ["torch", "onnx"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check what works on this machine")
    add_engine_options(p)
    p.set_defaults(run=run)


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _print_models(model_dir: Path | None) -> None:
    """Every model acc knows and whether its file verifies (a damaged registry shows in the model line)."""
    try:
        infos = models(model_dir)
    except ModelError:
        return
    print("models:")
    for info in infos:
        print(f"  {info.name:12} {info.where:9} {info.status}")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    healthy = True
    print(f"acc {__version__} on Python {sys.version.split()[0]} ({platform.system()} {platform.machine()})")
    print("packages: " + ", ".join(f"{p} {_version(p)}" for p in PACKAGES))
    print("optional: " + ", ".join(f"{p} {_version(p)}" for p in OPTIONAL))
    print(f"cpu: {cpu_model()}, {usable_cores()} usable cores, int8 dot products (VNNI): "
          f"{'yes: the cpu backend runs int8 models by default' if has_vnni() else 'no'}")
    print("backends:")
    for info in backends(settings.emulate):
        mark = "selected" if info.name == settings.backend else ""
        state = ("ok (emulated)" if info.emulated else "ok") if info.available else "not available: " + info.reason
        print(f"  {info.name:8} {state} {mark}".rstrip())
        if info.name == settings.backend and not info.available:
            healthy = False
    print(f"user model folder: {settings.model_dir or default_model_dir()}")
    _print_models(settings.model_dir)
    try:
        spec = resolve(settings.model, settings.model_dir, settings.backend)
        status = file_status(spec)
        print(f"model: {spec.name} ({'bundled' if spec.bundled else 'user'}) {spec.path}: {status}")
        healthy = healthy and status == "verified"
    except ModelError as exc:
        print(f"model: {exc}")
        spec, healthy = None, False
    lines, ascend_ok = ascend_report(spec if settings.backend == "ascend" else None, settings.emulate)
    print("ascend:\n" + "\n".join("  " + line for line in lines))
    healthy = healthy and (ascend_ok or settings.backend != "ascend")
    lines, cuda_ok = cuda_report(spec if settings.backend == "cuda" else None, settings.emulate)
    print("cuda:\n" + "\n".join("  " + line for line in lines))
    healthy = healthy and (cuda_ok or settings.backend != "cuda")
    print("status: ready" if healthy else "status: NOT ready (see above)")
    return EXIT_OK if healthy else EXIT_FAILED
