"""Backends by name. Each is imported only when asked for, so a missing optional dependency of one
(numba, CANN, CUDA) never stops the others."""

from __future__ import annotations

import inspect
from importlib import import_module

from acc.errors import AccError
from acc.backends.base import Backend, OutputFormat
from acc.models import ModelSpec

# name -> "module:class"
BACKENDS: dict[str, str] = {
    "opencv": "acc.backends.opencv:OpenCVBackend",
    "cpu": "acc.backends.cpu:CPUBackend",
    "ascend": "acc.backends.ascend:AscendBackend",
    "cuda": "acc.backends.cuda:CudaBackend",
}

# Backends of the design that this version does not ship yet, with what `acc doctor` says about them.
PLANNED: dict[str, str] = {}


class BackendError(AccError):
    """A backend that cannot be used here; str(exc) says why."""


def backend_class(name: str) -> type[Backend]:
    if name not in BACKENDS:
        why = PLANNED.get(name)
        known = ", ".join(BACKENDS)
        raise BackendError(f"backend '{name}': {why}" if why else f"unknown backend '{name}' (known: {known})")
    module, cls = BACKENDS[name].split(":")
    try:
        return getattr(import_module(module), cls)
    except ImportError as exc:
        raise BackendError(f"backend '{name}' needs {exc.name}, which is not installed") from None


def has_emulator(cls: type[Backend]) -> bool:
    """Whether the backend takes emulate=True: runs against an emulator of its device (ascend)."""
    return "emulate" in inspect.signature(cls).parameters


def create_backend(name: str, model: ModelSpec, threads: int = 0, **options: object) -> Backend:
    """A ready backend. `options` are settings some backends have (exact_l: cpu; emulate: ascend and cuda,
    which then run against an emulator of their device); a backend without one ignores it (the opencv
    baseline always computes L from RGB; the cpu backend needs no emulator to run here)."""
    cls = backend_class(name)
    if model.precision not in cls.precisions:
        use = f": use {model.quantized_from}, the model it was made from" if model.quantized_from else ""
        raise BackendError(f"backend '{name}' runs float models, and model '{model.name}' is {model.precision}{use}")
    accepted = inspect.signature(cls).parameters
    if not (options.get("emulate") and has_emulator(cls)):
        reason = cls.unavailable_reason()
        if reason:
            raise BackendError(f"backend '{name}' cannot run here: {reason}")
    return cls(model, threads=threads, **{k: v for k, v in options.items() if k in accepted})


__all__ = ["BACKENDS", "PLANNED", "Backend", "BackendError", "OutputFormat", "backend_class", "create_backend",
           "has_emulator"]
