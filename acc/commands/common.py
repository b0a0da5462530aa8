"""Options shared by the commands that run a model (colorize, eval, bench), and their resolution."""

from __future__ import annotations

import argparse
from pathlib import Path

from acc.api import open_backend
from acc.backends import Backend, BackendError
from acc.cli import UsageError
from acc.config import ConfigError, Settings, resolve_settings
from acc.models import ModelError, ModelSpec, resolve


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """Flags default to None so that a config file's value is kept unless the flag is given."""
    parser.add_argument("--config", type=Path, metavar="FILE", help="YAML file of settings (keys as the flags, with _)")
    parser.add_argument("--backend", help="cpu (default), opencv (the baseline) ... `acc doctor` says what runs here")
    parser.add_argument("--model", help="model name from `acc models list` (default: the registry's default)")
    parser.add_argument("--model-dir", type=Path, help="folder of user-installed models")
    parser.add_argument("--batch-size", type=int, help="photos per model call (default 4; 64 on cuda)")
    parser.add_argument("--workers", type=int,
                        help="stages run at once: decode, inference, render (default: this machine's cores)")
    parser.add_argument("--threads", type=int,
                        help="ONNX Runtime threads per inference (default 1; the runner runs one inference per worker)")
    parser.add_argument("--max-pixels", type=int, help="refuse images larger than this many pixels (default 100000000)")
    parser.add_argument("--exact-l", action="store_true", default=None,
                        help="cpu backend: L of colour JPEGs from RGB as the baseline does (default: luma, faster)")
    parser.add_argument("--saturation", type=float, metavar="S",
                        help="scale the predicted colours' chroma (default 1; 0 gray, 1.3 stronger)")
    parser.add_argument("--memory-limit", metavar="SIZE",
                        help="memory the run may use at its peak, e.g. 6G or 512M (default: half of this machine's)")
    parser.add_argument("--emulate", action="store_true", default=None,
                        help="ascend backend: run against the acl emulator (no device, no CANN; docs/ascend.md)")


def settings_from(args: argparse.Namespace, **extra_flags: object) -> Settings:
    flags = {
        "backend": args.backend,
        "model": args.model,
        "model_dir": args.model_dir,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "threads": args.threads,
        "max_pixels": args.max_pixels,
        "exact_l": args.exact_l,
        "emulate": args.emulate,
        "saturation": args.saturation,
        "memory_limit": args.memory_limit,
        **extra_flags,
    }
    try:
        return resolve_settings(args.config, flags)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def model_from(settings: Settings) -> ModelSpec:
    try:
        return resolve(settings.model, settings.model_dir, settings.backend).with_saturation(settings.saturation)
    except ModelError as exc:
        raise UsageError(str(exc)) from None


def backend_from(settings: Settings) -> Backend:
    try:
        return open_backend(settings)
    except (BackendError, ModelError) as exc:
        raise UsageError(str(exc)) from None
