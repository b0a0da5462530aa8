"""The model registry: which colorization models exist, their contracts, and verified loading.

A model is an ONNX file plus a declared contract (models/registry.yaml): input name, size and the
transform applied to L, output name, size and the scale that turns it into Lab ab units. Every load
checks the file's SHA-256 first, and the bytes that were hashed are the bytes that are loaded.

Two registries are read: the bundled one (shipped inside the package, files beside it) and the user's
(``<model_dir>/registry.yaml``, files beside it), where models fetched or converted later are listed.
The bundled registry also holds the catalogue of models `acc models fetch` can install (``fetchable:``):
where their official weights are, their checksum, and the contract their converted ONNX will have.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from acc.errors import AccError
from acc.machine import has_vnni

USER_MODEL_DIR_ENV = "ACC_MODEL_DIR"
# libyaml's safe loader where PyYAML was built with it: the same documents, 8x faster than the pure-Python
# one (the registry is read several times at every start)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ModelError(AccError):
    """A model that cannot be used: unknown, missing, failing its checksum, or not matching its contract."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: Path
    sha256: str
    description: str
    input_name: str
    input_size: tuple[int, int]  # (h, w)
    l_offset: float  # model input = (L - l_offset) * l_scale
    l_scale: float
    output_name: str
    output_size: tuple[int, int]  # (h, w)
    ab_scale: float  # ab (Lab units) = model output * ab_scale (saturation included)
    bundled: bool
    card: Path | None = None
    saturation: float = 1.0  # the chroma gain folded into ab_scale (with_saturation)
    precision: str = "fp32"  # "int8": quantized (QDQ), for the backends that run ONNX Runtime on the host
    quantized_from: str | None = None  # the float model an int8 one was made from

    def with_saturation(self, saturation: float) -> ModelSpec:
        """This model with its predicted chroma scaled by `saturation`: a scale of the output contract,
        so every backend applies it where it applies ab_scale (renderers clamp to the sRGB gamut)."""
        return replace(self, ab_scale=self.ab_scale * saturation / self.saturation, saturation=saturation)

    def contract(self) -> dict[str, Any]:
        """The registry's input and output declarations of this model (saturation not applied)."""
        scale = self.ab_scale / self.saturation
        return {"input": {"name": self.input_name, "size": list(self.input_size), "l_offset": self.l_offset,
                          "l_scale": self.l_scale},
                "output": {"name": self.output_name, "size": list(self.output_size), "ab_scale": scale}}  # fmt: skip

    @property
    def recipe(self) -> str:
        """What decides this model's colours: its name, and the saturation when it is not 1."""
        return self.name if self.saturation == 1.0 else f"{self.name} saturation={self.saturation:g}"


def default_model_dir() -> Path:
    """Where user-installed models live: $ACC_MODEL_DIR, else $XDG_DATA_HOME/acc/models."""
    if os.environ.get(USER_MODEL_DIR_ENV):
        return Path(os.environ[USER_MODEL_DIR_ENV]).expanduser()
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "acc" / "models"


def bundled_dir() -> Path:
    return Path(str(resources.files("acc.model_files")))


def read_registry(path: Path) -> dict[str, Any]:
    """A registry file as a document, checked to be a mapping whose sections are mappings."""
    try:
        doc = yaml.load(path.read_text(), Loader=SAFE_LOADER) or {}
    except yaml.YAMLError as exc:
        raise ModelError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k) or {}, dict) for k in ("models", "fetchable")):
        raise ModelError(f"{path}: expected a mapping whose 'models' and 'fetchable' are mappings")
    return doc


def _size(value: Any, where: str) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value)):
        raise ModelError(f"{where}: size must be [height, width] in pixels, got {value!r}")
    return value[0], value[1]


def _spec(name: str, entry: dict[str, Any], folder: Path, bundled: bool, registry: Path) -> ModelSpec:
    where = f"{registry}: model '{name}'"
    try:
        inp, out = entry["input"], entry["output"]
        return ModelSpec(
            name=name,
            path=folder / entry["file"],
            sha256=str(entry["sha256"]).lower(),
            description=str(entry.get("description", "")),
            input_name=str(inp["name"]),
            input_size=_size(inp["size"], f"{where} input"),
            l_offset=float(inp.get("l_offset", 50.0)),
            l_scale=float(inp.get("l_scale", 1.0)),
            output_name=str(out["name"]),
            output_size=_size(out["size"], f"{where} output"),
            ab_scale=float(out.get("ab_scale", 1.0)),
            bundled=bundled,
            card=folder / entry["card"] if entry.get("card") else None,
            precision=str(entry.get("precision", "fp32")),
            quantized_from=str(entry["quantized"]["from"]) if entry.get("quantized") else None,
        )
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{where}: missing or malformed field {exc}") from None


@dataclass(frozen=True)
class Fetchable:
    """A model `acc models fetch` can install: official weights to download, and the contract once converted."""

    name: str
    network: str  # the architecture in acc.networks the weights belong to
    url: str
    weights_sha256: str  # of the downloaded weights file
    size_mb: float  # approximate download size, for messages
    entry: dict[str, Any]  # the user-registry entry to install, less 'file' and 'sha256'

    def registry_entry(self, file: str, sha256: str) -> dict[str, Any]:
        """The entry written to the user's registry once the converted ONNX `file` is in place."""
        source = {"url": self.url, "sha256": self.weights_sha256}
        return {**self.entry, "file": file, "sha256": sha256, "source": source}

    def spec(self, folder: Path, file: str, sha256: str) -> ModelSpec:
        return user_spec(self.name, self.registry_entry(file, sha256), folder)


def user_spec(name: str, entry: dict[str, Any], folder: Path) -> ModelSpec:
    """The spec of a user-registry `entry` for a model file in `folder`."""
    return _spec(name, entry, folder, False, folder / "registry.yaml")


def load_catalogue() -> dict[str, Fetchable]:
    """The bundled registry's `fetchable:` models, their contracts checked as strictly as installed ones'."""
    path = bundled_dir() / "registry.yaml"
    doc = read_registry(path)
    catalogue = {}
    for name, raw in (doc.get("fetchable") or {}).items():
        where = f"{path}: fetchable model '{name}'"
        if name in (doc.get("models") or {}):
            raise ModelError(f"{where} has the name of a bundled model")
        try:
            weights = raw["weights"]
            entry = {k: v for k, v in raw.items() if k not in ("network", "weights")}
            item = Fetchable(name, str(raw["network"]), str(weights["url"]), str(weights["sha256"]).lower(),
                             float(weights["size_mb"]), entry)  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{where}: missing or malformed field {exc}") from None
        item.spec(path.parent, f"{name}.onnx", sha256="")  # a malformed contract fails here, not after a download
        catalogue[name] = item
    return catalogue


def load_registry(model_dir: Path | None = None) -> tuple[str, dict[str, ModelSpec]]:
    """(default model name, {name: spec}) from the bundled registry and the user's."""
    bundled_path = bundled_dir() / "registry.yaml"
    doc = read_registry(bundled_path)
    specs = {n: _spec(n, e, bundled_path.parent, True, bundled_path) for n, e in (doc.get("models") or {}).items()}
    default = str(doc.get("default", ""))
    user_path = (model_dir or default_model_dir()) / "registry.yaml"
    if user_path.is_file():
        for name, entry in (read_registry(user_path).get("models") or {}).items():
            if name in specs and specs[name].bundled:
                raise ModelError(f"{user_path}: model '{name}' would shadow the bundled model of that name")
            specs[name] = _spec(name, entry, user_path.parent, False, user_path)
    return default, specs


def default_for(backend: str | None) -> str:
    """The bundled registry's default model for `backend`: on the cpu backend its int8_default where int8
    runs fast and exact (x86 with VNNI: acc/quantize.py), else its default (float)."""
    doc = read_registry(bundled_dir() / "registry.yaml")
    if backend == "cpu" and doc.get("int8_default") and has_vnni():
        return str(doc["int8_default"])
    return str(doc.get("default", ""))


def resolve(name: str | None = None, model_dir: Path | None = None, backend: str | None = None) -> ModelSpec:
    """The spec of model `name`; when None, the default for `backend` (default_for)."""
    _, specs = load_registry(model_dir)
    name = name or default_for(backend)
    if name not in specs:
        if name in load_catalogue():
            where = f" --model-dir {model_dir}" if model_dir else ""
            raise ModelError(f"model '{name}' is not installed: run `acc models fetch {name}{where}`")
        known = ", ".join(sorted(specs)) or "none"
        raise ModelError(f"unknown model '{name}' (known: {known}; see `acc models list`)")
    return specs[name]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_status(spec: ModelSpec) -> str:
    """'verified', 'not installed', or the reason its file fails ('FAILS: ...')."""
    if not spec.path.exists():
        return "not installed"
    try:
        read_verified(spec)
    except ModelError as exc:
        return f"FAILS: {exc}"
    return "verified"


def read_verified(spec: ModelSpec) -> bytes:
    """The model file's bytes, after checking them against the registry's SHA-256."""
    try:
        data = spec.path.read_bytes()
    except OSError as exc:
        raise ModelError(f"model '{spec.name}': cannot read {spec.path}: {exc.strerror}") from None
    digest = sha256_bytes(data)
    if digest != spec.sha256:
        raise ModelError(
            f"model '{spec.name}': checksum mismatch for {spec.path} (sha256 {digest}, expected {spec.sha256}); "
            "the file is damaged or was replaced: reinstall it"
        )
    return data
