"""acc from Python: a Colorizer for photos already in memory, and the batch runner for files.

    with acc.Colorizer() as c:                     # the embedded model on the cpu backend
        rgb = c.colorize(gray)                      # (H, W) uint8 -> (H, W, 3) uint8 RGB
        jpeg = c.colorize_bytes(open("scan.jpg", "rb").read())   # encoded in, encoded out

    summary = acc.colorize_files(["scans/"], "out/")   # what `acc colorize scans/ -o out/` does

The CLI is a thin layer over these: the same settings (the configuration keys), the same errors (one
class per reason, acc.errors), the same bytes out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from acc import __version__
from acc.backends import BACKENDS, PLANNED, BackendError, backend_class, create_backend, has_emulator
from acc.backends.base import Backend, OutputFormat
from acc.config import Settings, resolve_settings
from acc.errors import BadImage, UnsupportedImage
from acc.inputs import InputSet
from acc.libmessages import captured
from acc.metadata import MetadataPolicy, check, decode_taken_in, finish, tool_name
from acc.models import default_for, file_status, load_catalogue, load_registry, resolve
from acc.outdir import OutputDir
from acc.pipeline import Outcome, RunOptions, Runner, Summary
from acc.probe import ImageInfo, probe


def run_options(settings: Settings) -> RunOptions:
    """The runner's options from resolved settings."""
    return RunOptions(
        fmt=OutputFormat(settings.format, settings.quality),
        batch_size=settings.batch_size,
        workers=settings.workers,
        overwrite=settings.overwrite,
        max_pixels=settings.max_pixels,
        memory_limit=settings.memory_limit,
        strict=settings.strict,
        metadata=metadata_policy(settings),
    )


def metadata_policy(settings: Settings) -> MetadataPolicy:
    return MetadataPolicy(settings.metadata, settings.provenance, settings.c2pa_sign)


def open_backend(settings: Settings) -> Backend:
    """The settings' model (verified, saturation applied) loaded on the settings' backend."""
    spec = resolve(settings.model, settings.model_dir, settings.backend).with_saturation(settings.saturation)
    return create_backend(settings.backend, spec, threads=settings.threads, exact_l=settings.exact_l,
                          emulate=settings.emulate)  # fmt: skip


class Colorizer:
    """One loaded model on one backend, for photos already in memory. A context manager: close() (or
    the end of the `with` block) releases the backend and everything it holds.

    Args:
        model: a name from acc.models() (None: the registry's default, the embedded acc-tiny).
        backend: "cpu" (default), "opencv" (the baseline), "ascend", "cuda"; see acc.backends().
        threads: ONNX Runtime threads per inference (0: one).
        saturation: scale of the predicted chroma (1: as the model predicts; 0: gray).
        **settings: other configuration keys (model_dir, exact_l, emulate, max_pixels, batch_size).

    Thread-safe: several threads may call its methods at once (decoding and rendering run side by side;
    the model runs one batch at a time). Bad input raises a subclass of acc.BadImage naming the reason;
    a result is never silently wrong.
    """

    def __init__(self, model: str | None = None, backend: str = "cpu", threads: int = 0, saturation: float = 1.0,
                 **settings: Any) -> None:  # fmt: skip
        self.settings = resolve_settings(None, {"model": model, "backend": backend, "threads": threads,
                                                "saturation": saturation, **settings})  # fmt: skip
        check(metadata_policy(self.settings))
        self._backend: Backend | None = open_backend(self.settings)
        self._infer_lock = threading.Lock()

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            raise RuntimeError("this Colorizer is closed")
        return self._backend

    def colorize(self, image: np.ndarray) -> np.ndarray:
        """Colorize one photo held as pixels.

        Args:
            image: (H, W) or (H, W, 1) gray, or (H, W, 3) RGB; uint8, uint16, or float32/float64 in
                [0, 1]. A colour photo keeps its lightness L and gets new colours, as `acc colorize` does.

        Returns:
            (H, W, 3) uint8 RGB, sRGB, at the photo's full size.
        """
        return self.colorize_many([image])[0]

    def colorize_many(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Colorize photos held as pixels, the model running on batches of batch_size; each image as in
        colorize(). Raises on the first bad image, before any work."""
        encoded = [_lossless(image) for image in images]
        items = [(data, probe(data, self.settings.max_pixels)) for data in encoded]
        rendered = _raise_first(self._run(items, OutputFormat("png"), MetadataPolicy("strip", False), None))
        return [cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                for png in rendered]  # fmt: skip

    def colorize_bytes(self, data: bytes, format: str = "jpeg", quality: int = 95, name: str | None = None) -> bytes:
        """Colorize one encoded photo into an encoded result: the fast path, pixels never in Python.

        Args:
            data: a JPEG, PNG, BMP, TIFF or WebP file's bytes.
            format: "jpeg" (4:2:0) or "png" (keeps an alpha channel).
            quality: JPEG quality 1..100.
            name: the source's file name, for the output's provenance (XMP DerivedFrom and History);
                None: only its SHA-256 is recorded.

        Returns:
            The encoded result, its metadata carried as `acc colorize` carries it (the settings metadata,
            provenance, c2pa_sign): the same bytes `acc colorize` writes for a file of that name.
        """
        return _raise_first(self.colorize_each([data], format, quality, [name]))[0]

    def colorize_each(
        self, photos: Sequence[bytes], format: str = "jpeg", quality: int = 95,
        names: Sequence[str | None] | None = None,
    ) -> list[bytes | Exception]:  # fmt: skip
        """Colorize encoded photos, the model running on batches of batch_size: for each, its encoded
        result as colorize_bytes() gives it (`names`: the sources' file names, as colorize_bytes' name),
        or the exception that says why it could not be (an acc.BadImage subclass for a bad photo); a
        bad photo never stops the others."""
        fmt = resolve_settings(None, {"format": format, "quality": quality})
        results: list[bytes | Exception | None] = [None] * len(photos)
        items, where, kept_names = [], [], []
        for i, data in enumerate(photos):
            try:
                items.append((data, probe(data, self.settings.max_pixels)))
                where.append(i)
                kept_names.append(names[i] if names else None)
            except BadImage as exc:
                results[i] = exc
        policy = metadata_policy(self.settings)
        for i, result in zip(where, self._run(items, OutputFormat(fmt.format, fmt.quality), policy, kept_names)):
            results[i] = result
        return results  # type: ignore[return-value]  # every slot is filled

    def _run(self, items: list[tuple[bytes, ImageInfo]], fmt: OutputFormat, policy: MetadataPolicy,
             names: list[str | None] | None) -> list[bytes | Exception]:  # fmt: skip
        """The four stages over photos already checked by probe(): each photo's result, or its failure.
        names None: the result is left as the backend encoded it, without metadata (pixels are wanted)."""
        backend, results = self.backend, []
        size = self.settings.batch_size
        tool = tool_name(__version__, backend.model.name, backend.name)
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            taken = decode_taken_in(backend, chunk, policy)
            out: list[Any] = [frame for frame, _ in taken]
            frames = [(i, frame) for i, frame in enumerate(out) if not isinstance(frame, Exception)]
            try:
                inputs = backend.model_input_batch([frame for _, frame in frames]) if frames else []
                ready = []
                for (i, frame), x in zip(frames, inputs):
                    if isinstance(x, Exception):
                        out[i] = x
                    else:
                        ready.append((i, frame, x))
                if ready:
                    with self._infer_lock:
                        predictions = backend.infer([x for _, _, x in ready])
                    rendered = backend.render_batch([f for _, f, _ in ready], predictions, fmt)
                    for (i, _, _), data in zip(ready, rendered):
                        if names is not None and not isinstance(data, Exception):
                            data = self._finish(data, fmt, taken[i][1], policy, tool, names[start + i])
                        out[i] = data
            finally:
                for _, frame in frames:
                    backend.release(frame)
            results += out
        return results

    @staticmethod
    def _finish(data: bytes, fmt: OutputFormat, intake: Any, policy: MetadataPolicy, tool: str, name: str | None
                ) -> bytes | Exception:  # fmt: skip
        try:
            return finish(data, fmt.kind, intake, policy, tool, name)[0]
        except Exception as exc:  # a C2PA signature that cannot be made: this photo's failure
            return exc

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> Colorizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lossless(image: np.ndarray) -> bytes:
    """An array as uncompressed PNG: the same path as a file, and the same result as `acc colorize`
    on that PNG. RGB arrays are stored as PNG stores them (OpenCV takes BGR)."""
    if not isinstance(image, np.ndarray):
        raise UnsupportedImage(f"expected a numpy array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3) or 0 in image.shape:
        raise UnsupportedImage(f"expected (H, W), (H, W, 1) or (H, W, 3) pixels, got shape {image.shape}")
    if image.dtype.kind == "f":
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise UnsupportedImage("float pixels must be finite and within [0, 1]")
        image = np.round(image * 65535.0).astype(np.uint16)
    elif image.dtype not in (np.uint8, np.uint16):
        raise UnsupportedImage(f"unsupported pixel type {image.dtype} (uint8, uint16 or float in [0, 1])")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image), [cv2.IMWRITE_PNG_COMPRESSION, 0])
    if not ok:
        raise UnsupportedImage(f"cannot take pixels of shape {image.shape} and type {image.dtype}")
    return buf.tobytes()


def _raise_first(results: list[Any]) -> list[Any]:
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


def colorize_files(
    inputs: Sequence[str | PathLike[str]],
    output_dir: str | PathLike[str],
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
    config: str | PathLike[str] | None = None,
    **settings: Any,
) -> Summary:
    """Colorize files, folders and glob patterns into `output_dir`, mirroring the input tree: what
    `acc colorize INPUT... -o OUTDIR` does, with every guarantee (README, "What it does").

    Args:
        inputs: files, folders (walked recursively) and glob patterns.
        output_dir: the output folder; its journal lets the same call resume.
        on_outcome: called once per input, in input order, from the calling thread, with its Outcome
            (status "ok", "failed", "skipped" or "unfinished", reason, output path, decoder warnings):
            progress for the caller's own UI.
        on_notice: one-line notices (what a stopping run waits for, library messages no photo said).
        config: a YAML file of settings; `settings` win over it.
        **settings: configuration keys: backend="cpu", model=None, batch_size=4, workers, format="jpeg",
            quality=95, saturation=1.0, memory_limit="6G", strict=False, overwrite=False, ...
            ray="ADDRESS" runs on a Ray cluster (README, "Beyond one machine: Ray"): "local", "auto", a
            cluster's address; a process already connected to Ray (ray.init) uses its connection. Results
            then come in the order workers finish them.

    Returns:
        The Summary: counts, pixels, seconds, whether it was interrupted or stopped (and why).

    Raises:
        acc.ConfigError, acc.ModelError, acc.BackendError before any work; acc.FolderBusy when another
        run holds output_dir; acc.OutputIsInput when output_dir is an input folder; acc.ClusterError when
        a Ray run cannot start (Ray not installed, no cluster at the address); an acc.AccError
        (SigningError) when c2pa_sign cannot sign (no c2pa extra, an unusable key or certificate).

    While it runs, what C libraries print to file descriptor 2 is caught and attributed to photos;
    sys.stderr keeps writing where it did (callbacks should use sys.stderr as it is when called).
    """
    opts = resolve_settings(Path(config) if config else None, settings)
    check(metadata_policy(opts))
    notice = on_notice or (lambda text: None)
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output {out} exists and is not a folder")
    files = InputSet([str(i) for i in inputs], outdir=out)
    if opts.ray:
        from acc.cluster import colorize_on_ray  # Ray itself is imported only there, and only now

        return colorize_on_ray(files, out, opts, on_outcome or (lambda o: None), notice)
    with open_backend(opts) as backend, OutputDir(out) as outdir:
        if backend.notice:
            notice(backend.notice)
        if outdir.stale_removed:
            notice(f"removed {outdir.stale_removed} unfinished temporary file(s) of an interrupted run")
        with captured(stray=lambda text: notice(f"a library printed: {text}")) as messages:
            runner = Runner(backend, outdir, run_options(opts), on_outcome or (lambda o: None), messages, notice)
            return runner.run(files)


@dataclass(frozen=True)
class ModelInfo:
    """A model acc knows: where it lives, and whether its file is there and verifies."""

    name: str
    where: str  # "bundled", "user" (installed in the model folder) or "fetchable" (acc models fetch NAME)
    status: str  # "verified", "not installed", or why its file fails ("FAILS: checksum mismatch ...")
    description: str
    default: bool  # the model the cpu backend runs unless told otherwise, on this machine (models.default_for)
    path: Path | None


def models(model_dir: str | PathLike[str] | None = None) -> list[ModelInfo]:
    """Every model acc knows, installed or fetchable, with its file checked against its SHA-256.
    Raises acc.ModelError when a registry is damaged."""
    folder = Path(model_dir).expanduser() if model_dir else None
    _, specs = load_registry(folder)
    default = default_for("cpu")  # what a Colorizer() or `acc colorize` runs here unless told otherwise
    infos = [ModelInfo(name, "bundled" if spec.bundled else "user", file_status(spec), spec.description,
                       name == default, spec.path) for name, spec in specs.items()]  # fmt: skip
    infos += [ModelInfo(name, "fetchable", "not installed", item.entry.get("description", ""), False, None)
              for name, item in load_catalogue().items() if name not in specs]  # fmt: skip
    return sorted(infos, key=lambda info: info.name)


@dataclass(frozen=True)
class BackendInfo:
    """A backend and whether it runs here: `reason` says why not (None when it does)."""

    name: str
    available: bool
    emulated: bool  # available only through its emulator (emulate=True)
    reason: str | None


def backends(emulate: bool = False) -> list[BackendInfo]:
    """Every backend of the design and whether it runs on this machine (with emulate=True, a backend
    with an emulator counts as available)."""
    infos = []
    for name in [*BACKENDS, *PLANNED]:
        try:
            cls = backend_class(name)
            emulated = emulate and has_emulator(cls)
            reason = None if emulated else cls.unavailable_reason()
        except BackendError as exc:
            emulated, reason = False, str(exc).split(": ", 1)[-1]
        infos.append(BackendInfo(name, reason is None, emulated, reason))
    return infos


__all__ = ["BackendInfo", "Colorizer", "ModelInfo", "backends", "colorize_files", "models"]
