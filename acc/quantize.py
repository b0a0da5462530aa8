"""int8 variants of models: ONNX Runtime's static quantization in QDQ form, calibrated on photos.

    acc models quantize NAME [--calibration PHOTOS...] [--photos N] [--method minmax] [--keep-float NODES]

1. Calibration photos: up to N of the photos found under PHOTOS (files, folders, globs), picked by a
   seeded shuffle of their sorted paths (seed 0), so the same folder gives the same set. Each becomes
   the model's input exactly as the cpu backend makes it at run time (acc/backends/cpu.py: decode to
   luminance, LabL at the model's input size, the registry's transform): the quantized model is
   calibrated on what it will see. Without PHOTOS: the bundled calibration set (models/calibration/,
   public-domain black-and-white photographs of 1838-1926).
2. quant_pre_process (ONNX shape inference, ONNX Runtime's basic graph optimizations), then
   quantize_static: QDQ format, activations uint8 (asymmetric, ranges from the calibration method),
   weights int8 per output channel (symmetric). Nodes named in keep_float (node names, or op types
   such as Softmax) stay float: a colorizer's decode (the softmax over colour bins and the conv that
   turns bins into ab) is where 8 bits lose most.
3. The result is checked as any installed model is (ONNX Runtime loads it, its input and output match
   the float model's contract) and compared with the float model on the calibration inputs.

Why uint8 activations with int8 weights (U8S8): on x86 with VNNI (AVX-512 VNNI, AVX-VNNI) it is ONNX
Runtime's fastest int8 convolution and exact; without VNNI its AVX2 kernels multiply pairs with
VPMADDUBSW, whose 16-bit sums can saturate (ONNX Runtime's quantization guide). acc therefore makes an
int8 model the cpu backend's default only on CPUs with VNNI (models.int8_runs_well).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acc.errors import AccError
from acc.inputs import InputFile, InputSet
from acc.models import ModelSpec, bundled_dir, read_verified

DEFAULT_PHOTOS = 64
METHODS = ("minmax", "entropy", "percentile")
ONNX_EXTRA = "pip install 'acc-colorize[onnx]'"


class QuantizeError(AccError):
    """A quantization that did not produce a model; the message says why."""


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the int8 file, besides the float model and the photos."""

    photos: int = DEFAULT_PHOTOS  # calibration photos (at most)
    method: str = "minmax"  # how activation ranges come from the calibration: minmax, entropy, percentile
    keep_float: tuple[str, ...] = ()  # node names or op types left in float
    seed: int = 0  # of the shuffle that picks the photos

    def describe(self) -> dict[str, object]:
        return {"photos": self.photos, "method": self.method, "keep_float": list(self.keep_float), "seed": self.seed}


@dataclass
class Calibration:
    """The model inputs made from the calibration photos (N, h, w), and what was left out."""

    inputs: np.ndarray
    photos: list[str]  # as displayed, in the order used
    left_out: list[str] = field(default_factory=list)  # "photo: reason"


def bundled_calibration() -> Path:
    return bundled_dir() / "calibration"


def pick_photos(sources: Sequence[str], count: int, seed: int) -> tuple[list[InputFile], list[str]]:
    """Up to `count` photos under `sources`, by a seeded shuffle of their sorted paths; and a line for
    each source that is not there or not a photo."""
    found, problems = [], []
    for item in InputSet(list(sources)):
        if isinstance(item, InputFile):
            found.append(item)
        else:
            problems.append(f"{item.display}: {item.reason}")
    found.sort(key=lambda p: str(p.path))
    order = np.random.default_rng(seed).permutation(len(found))
    return [found[i] for i in order[:count]], problems


def calibration_inputs(spec: ModelSpec, sources: Sequence[str], recipe: Recipe) -> Calibration:
    """Model inputs of the picked photos, made by the cpu backend's own decode and model_input."""
    from acc.backends.cpu import CPUBackend
    from acc.probe import BadImage, probe

    picked, left_out = pick_photos(sources, recipe.photos, recipe.seed)
    inputs, used = [], []
    with CPUBackend(spec, threads=1) as backend:
        for photo in picked:
            try:
                data = photo.path.read_bytes()
                frame = backend.decode(data, probe(data))
            except (OSError, BadImage) as exc:
                left_out.append(f"{photo.display}: {exc}")
                continue
            inputs.append(backend.model_input(frame))
            used.append(photo.display)
    if not inputs:
        why = f" ({'; '.join(left_out[:3])})" if left_out else ""
        raise QuantizeError(f"no calibration photos could be read under {', '.join(sources)}{why}")
    return Calibration(np.stack(inputs).astype(np.float32), used, left_out)


def _ort_quantization():
    try:
        from onnxruntime import quantization
    except ImportError as exc:  # onnxruntime.quantization imports onnx
        if exc.name != "onnx":
            raise
        raise QuantizeError(f"quantizing needs the onnx package (not installed): {ONNX_EXTRA}") from None
    return quantization


def quantize(spec: ModelSpec, calibration: Calibration, recipe: Recipe) -> bytes:
    """The int8 (QDQ) ONNX of the verified float model `spec`, calibrated on `calibration.inputs`."""
    if recipe.method not in METHODS:
        raise QuantizeError(f"unknown calibration method '{recipe.method}' (known: {', '.join(METHODS)})")
    q = _ort_quantization()
    import onnx

    with tempfile.TemporaryDirectory(prefix="acc-quantize-") as tmp:
        work = Path(tmp)
        (work / "float.onnx").write_bytes(read_verified(spec))
        # The symbolic shape inference needs sympy; ONNX's own shape inference is enough for these graphs.
        q.quant_pre_process(str(work / "float.onnx"), str(work / "pre.onnx"), skip_symbolic_shape=True)
        nodes = onnx.load(str(work / "pre.onnx")).graph.node
        unknown = [k for k in recipe.keep_float if not any(k in (n.name, n.op_type) for n in nodes)]
        if unknown:
            raise QuantizeError(f"keep_float names no node or op type of {spec.name}: {', '.join(unknown)}")
        keep = [n.name for n in nodes if n.name in recipe.keep_float or n.op_type in recipe.keep_float]
        method = {"minmax": q.CalibrationMethod.MinMax, "entropy": q.CalibrationMethod.Entropy,
                  "percentile": q.CalibrationMethod.Percentile}[recipe.method]  # fmt: skip
        q.quantize_static(
            str(work / "pre.onnx"),
            str(work / "int8.onnx"),
            _Reader(spec.input_name, calibration.inputs),
            quant_format=q.QuantFormat.QDQ,
            per_channel=True,
            activation_type=q.QuantType.QUInt8,
            weight_type=q.QuantType.QInt8,
            nodes_to_exclude=keep,
            calibrate_method=method,
            # the ONNX Runtime used for calibration runs where the models run: the CPU
            calibration_providers=["CPUExecutionProvider"],
        )
        return (work / "int8.onnx").read_bytes()


class _Reader:
    """ONNX Runtime's CalibrationDataReader protocol: one input batch per get_next(), then None."""

    def __init__(self, name: str, inputs: np.ndarray) -> None:
        self._batches = iter([{name: x[None, None]} for x in inputs])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def ab_difference(float_spec: ModelSpec, int8_spec: ModelSpec, inputs: np.ndarray) -> tuple[float, float]:
    """(mean, max) absolute difference of the predicted ab (Lab units) between the two models."""
    from acc.inference import OrtColorizer

    diffs = []
    a, b = OrtColorizer(float_spec, threads=1), OrtColorizer(int8_spec, threads=1)
    for start in range(0, len(inputs), 8):
        batch = inputs[start : start + 8]
        diffs.append(np.abs(a(batch) - b(batch)))
    d = np.concatenate(diffs)
    return float(d.mean()), float(d.max())


@dataclass(frozen=True)
class Quantized:
    """What `acc models quantize` made: the installed model, its calibration, and how far it is from the float one."""

    spec: ModelSpec
    calibration: Calibration
    ab_mean: float  # mean absolute ab difference from the float model on the calibration inputs (Lab units)
    ab_max: float


def quantize_installed(name: str, model_dir: Path, sources: Sequence[str] | None, recipe: Recipe,
                       target: str | None = None) -> Quantized:  # fmt: skip
    """Quantize the installed float model `name` and install the result in model_dir as `target`
    (default NAME-int8), registered with its SHA-256 and its recipe like any other model. An existing
    model of that name is replaced only when it was quantized from `name` in the same folder."""
    from acc.fetch import install
    from acc.models import ModelError, load_registry, resolve, sha256_bytes, user_spec

    spec = resolve(name, model_dir)
    if spec.precision != "fp32":
        raise QuantizeError(f"model '{name}' is {spec.precision} already; quantize its float model instead")
    target = target or f"{name}-int8"
    existing = load_registry(model_dir)[1].get(target)
    if existing is not None and (existing.bundled or existing.quantized_from != name):
        where = "a bundled model" if existing.bundled else "a model in " + str(model_dir)
        raise QuantizeError(f"'{target}' is {where} already: choose another name (--name)")
    named = list(sources) if sources else ["the bundled calibration set"]
    calibration = calibration_inputs(spec, list(sources) if sources else [str(bundled_calibration())], recipe)
    data = quantize(spec, calibration, recipe)
    entry: dict = {
        "description": f"{name} quantized to int8 (QDQ, per-channel weights), calibrated on "
                       f"{len(calibration.photos)} photos",
        "precision": "int8",
        "quantized": {"from": name, "from_sha256": spec.sha256, "calibration": named,
                      "photos_used": len(calibration.photos), **recipe.describe()},
        **spec.contract(),
    }  # fmt: skip
    card = None
    if spec.card is not None and spec.card.is_file():
        entry["card"] = spec.card.name
        card = spec.card if spec.card.parent != model_dir else None  # a bundled card is copied beside it
    model_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".quantize-{target}-", dir=model_dir) as tmp:
        path = Path(tmp) / f"{target}.onnx"
        path.write_bytes(data)
        converted = user_spec(target, {**entry, "file": path.name, "sha256": sha256_bytes(data)}, Path(tmp))
        try:
            installed = install(model_dir, target, lambda file, sha: {**entry, "file": file, "sha256": sha},
                                converted, card)  # fmt: skip
        except ModelError as exc:
            raise QuantizeError(str(exc)) from None
    return Quantized(installed, calibration, *ab_difference(spec, installed, calibration.inputs))
