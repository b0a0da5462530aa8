"""Settings: defaults, then a YAML config file, then command-line flags (flags win).

The config file uses the flags' names with '_' for '-' (batch_size for --batch-size). An unknown key
or a bad value is an error that names the key, so a typo never passes silently.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from acc.errors import AccError
from acc.budget import parse_size
from acc.machine import usable_cores
from acc.probe import DEFAULT_MAX_PIXELS


MAX_SATURATION = 4.0
# batch_size when not set, per backend (others: Settings.batch_size). A GPU needs whole batches to be busy:
# one launch, one codec call and one model call per 64 photos.
DEFAULT_BATCH_SIZE = {"cuda": 64}


class ConfigError(AccError):
    """A bad configuration; str(exc) names the key and what is wrong."""


@dataclass(frozen=True)
class Settings:
    backend: str = "cpu"
    model: str | None = None  # None: the registry's default
    model_dir: Path | None = None  # None: $ACC_MODEL_DIR or ~/.local/share/acc/models
    batch_size: int = 4
    workers: int = min(64, usable_cores())  # compute slots: one stage (or inference) per core at once
    threads: int = 0  # ONNX Runtime intra-op threads per inference; 0: one (acc/inference.py)
    format: str = "jpeg"
    quality: int = 95
    overwrite: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    exact_l: bool = False  # cpu backend: L of colour JPEGs from RGB, not from luma
    emulate: bool = False  # ascend backend: run against the acl emulator instead of CANN and a device
    memory_limit: int | None = None  # bytes the run may peak at; None: half the machine's memory
    strict: bool = False  # a photo its decoder warned about (damaged data) fails
    saturation: float = 1.0  # scale of the predicted chroma (0: gray, 1: as the model predicts)
    ray: str | None = None  # run on Ray: a cluster's address, "auto", or "local" (acc/cluster.py)
    metadata: str = "copy"  # carry the source's metadata into outputs ("copy") or none of it ("strip")
    provenance: bool = True  # label outputs as colorized by a trained model (acc/metadata/provenance.py)
    c2pa_sign: tuple[Path, Path] | None = None  # (certificate chain, private key) PEM: sign a C2PA manifest


def _positive_int(key: str, value: Any, low: int = 1, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ConfigError(f"'{key}' must be a whole number {span}, got {value!r}")
    return value


def _check(key: str, value: Any) -> Any:
    """Validate one setting's value; returns it in its typed form."""
    if key == "ray":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"'ray' must be a Ray address (local, auto, ray://HOST:10001 or HOST:6379), "
                              f"got {value!r}")  # fmt: skip
        return value.strip()
    if key in ("backend", "model"):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"'{key}' must be a name, got {value!r}")
        return value
    if key == "model_dir":
        if not isinstance(value, (str, Path)) or not str(value):
            raise ConfigError(f"'model_dir' must be a folder path, got {value!r}")
        return Path(value).expanduser()
    if key == "batch_size":
        return _positive_int(key, value, 1, 256)
    if key == "workers":
        return _positive_int(key, value, 1, 64)
    if key == "threads":
        return _positive_int(key, value, 0, 256)
    if key == "quality":
        return _positive_int(key, value, 1, 100)
    if key == "max_pixels":
        return _positive_int(key, value, 1)
    if key == "format":
        if value not in ("jpeg", "png"):
            raise ConfigError(f"'format' must be jpeg or png, got {value!r}")
        return value
    if key == "memory_limit":
        try:
            return parse_size(value)
        except ValueError as exc:
            raise ConfigError(f"'memory_limit': {exc}") from None
    if key == "saturation":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_SATURATION:
            raise ConfigError(f"'saturation' must be a number from 0 to {MAX_SATURATION:g}, got {value!r}")
        return float(value)
    if key == "metadata":
        if value not in ("copy", "strip"):
            raise ConfigError(f"'metadata' must be copy or strip, got {value!r}")
        return value
    if key == "c2pa_sign":
        if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(isinstance(v, (str, Path)) and str(v)
                                                                              for v in value):  # fmt: skip
            raise ConfigError(f"'c2pa_sign' must be two file paths [certificate chain, private key], got {value!r}")
        return (Path(value[0]).expanduser(), Path(value[1]).expanduser())
    if key in ("overwrite", "exact_l", "emulate", "strict", "provenance"):
        if not isinstance(value, bool):
            raise ConfigError(f"'{key}' must be true or false, got {value!r}")
        return value
    raise ConfigError(f"unknown key '{key}' (known: {', '.join(KEYS)})")


KEYS = tuple(f.name for f in fields(Settings))


def load_config(path: Path) -> dict[str, Any]:
    """Read and validate a YAML config file into {key: typed value}."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(doc).__name__}")
    try:
        return {str(k): _check(str(k), v) for k, v in doc.items()}
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def resolve_settings(config_file: Path | None, flags: dict[str, Any]) -> Settings:
    """Defaults, overridden by the config file, overridden by flags that were given (not None)."""
    values: dict[str, Any] = load_config(config_file) if config_file else {}
    values.update({k: _check(k, v) for k, v in flags.items() if v is not None})
    if "batch_size" not in values:
        values["batch_size"] = DEFAULT_BATCH_SIZE.get(values.get("backend", Settings.backend), Settings.batch_size)
    return replace(Settings(), **values)
