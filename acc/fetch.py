"""`acc models fetch`: official weights -> checksum -> ONNX -> installed in the user model folder.

All work happens in a hidden temporary folder inside the model folder (same file system, so the final
renames are atomic) that is removed however the fetch ends. The converted ONNX is installed under a
name carrying its own checksum, so it cannot overwrite a file the registry still points at; replacing
the user's registry.yaml is the single step that makes the model installed. Until then the folder's
registry is unchanged, and after any failure nothing of this fetch is left but its message. Fetches
into one folder from several processes take turns at that last step (a lock file), so none loses another's
entry.
"""

from __future__ import annotations

import fcntl
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from tqdm import tqdm

from acc.models import Fetchable, ModelError, ModelSpec, bundled_dir, load_catalogue, load_registry, read_registry
from acc.models import sha256_bytes, user_spec

TIMEOUT_S = 30  # per connect and per read: a stalled server fails the fetch instead of hanging it
CHUNK = 1 << 20
ONNX_EXTRA = "pip install 'acc-colorize[onnx]'"
REGISTRY_LOCK = ".acc-registry-lock"


class FetchError(Exception):
    """A fetch that did not install anything; the message says why and what to do."""


def fetch(name: str, model_dir: Path, source: Path | None = None) -> ModelSpec:
    """Install model `name` from its official URL, or from `source` (a copy of the official file).

    A file is judged first: its SHA-256 is checked before anything else is asked of the machine, so a
    wrong file is called wrong whatever is installed. Without a file yet, a missing converter is said
    before the download (which it would only waste).
    """
    catalogue = load_catalogue()
    if name not in catalogue:
        raise FetchError(f"unknown model '{name}': acc can fetch {', '.join(sorted(catalogue))}")
    item = catalogue[name]
    if source is not None:
        data = _read(source)
        _check_weights(item, data, source)
    convert = _convert_module()
    try:
        load_registry(model_dir)  # a damaged user registry fails now, not after the download
    except ModelError as exc:
        raise FetchError(f"{exc}; fix or remove it, then fetch again") from None
    model_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".fetch-{name}-", dir=model_dir) as tmp:
        work = Path(tmp)
        if source is None:
            source = work / Path(item.url).name
            download(item.url, source, name)
            data = _read(source)
            _check_weights(item, data, source)
        spec = item.spec(work, f"{name}.onnx", sha256="")  # its checksum is known once it is written
        try:
            convert.to_onnx(item.network, data, spec)
        except convert.ConvertError as exc:
            raise FetchError(f"cannot convert {source}: {exc}; nothing was installed") from None
        del data  # the weights file's bytes: not needed while ONNX Runtime checks the graph
        converted = replace(spec, sha256=sha256_bytes(spec.path.read_bytes()))
        card = bundled_dir() / item.entry["card"] if item.entry.get("card") else None
        try:
            return install(model_dir, name, item.registry_entry, converted, card)
        except ModelError as exc:
            raise FetchError(str(exc)) from None


def _convert_module() -> ModuleType:
    try:
        from acc import convert
    except ImportError as exc:
        if exc.name != "onnx":
            raise
        raise FetchError(f"converting weights needs the onnx package (not installed): {ONNX_EXTRA}") from None
    return convert


def download(url: str, dest: Path, name: str) -> None:
    """`url` -> `dest`, with a progress bar on stderr; a short or failed transfer raises FetchError."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp, dest.open("wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name) as bar:
                while chunk := resp.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
            if total is not None and out.tell() != total:
                raise http.client.IncompleteRead(b"", total - out.tell())
    except (OSError, http.client.HTTPException) as exc:  # URLError, HTTPError and timeouts are OSErrors
        raise FetchError(
            f"cannot download {url}: {_reason(exc)}. Without network access here: download that file on another "
            f"machine, copy it here and run `acc models fetch {name} --from FILE`"
        ) from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, http.client.IncompleteRead):
        return "the transfer ended early"
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    return str(getattr(exc, "reason", None) or exc)


def _read(source: Path) -> bytes:
    try:
        return source.read_bytes()
    except OSError as exc:
        raise FetchError(f"cannot read {source}: {exc.strerror}") from None


def _check_weights(item: Fetchable, data: bytes, source: Path) -> None:
    digest = sha256_bytes(data)
    if digest != item.weights_sha256:
        raise FetchError(
            f"{source} has sha256 {digest}, but the official {item.name} weights have {item.weights_sha256}: "
            f"the file is damaged, incomplete or a different one; nothing was installed. "
            f"Get it again from {item.url}"
        )


def install(model_dir: Path, name: str, entry: Callable[[str, str], dict[str, Any]], converted: ModelSpec,
            card: Path | None = None) -> ModelSpec:  # fmt: skip
    """Install the ONNX `converted` (in a work folder inside model_dir) as model `name`: check it against its
    contract, move it (and its `card`) in, then commit by replacing the registry, whose entry for it is
    entry(file name, sha256). Used by fetch and by `acc models quantize`. Raises ModelError, having
    installed nothing."""
    from acc.inference import OrtColorizer  # onnxruntime: only once there is something to check

    try:
        OrtColorizer(converted)  # the graph must match the declared contract
    except ModelError as exc:
        raise ModelError(f"{exc}; nothing was installed") from None
    with _registry_lock(model_dir):  # read, change and replace the registry as one step
        return _commit(model_dir, name, entry, converted, card)


def _commit(model_dir: Path, name: str, entry: Callable[[str, str], dict[str, Any]], converted: ModelSpec,
            card: Path | None) -> ModelSpec:  # fmt: skip
    registry = model_dir / "registry.yaml"
    try:
        doc = read_registry(registry) if registry.is_file() else {}  # re-read: keep what changed meanwhile
    except ModelError as exc:
        raise ModelError(f"{exc}; nothing was installed") from None
    work, sha = converted.path.parent, converted.sha256
    file = f"{name}-{sha[:12]}.onnx"
    models = doc.setdefault("models", {})
    old = (models.get(name) or {}).get("file")
    models[name] = entry(file, sha)
    (work / "registry.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    if card is not None:
        shutil.copyfile(card, work / card.name)
        os.replace(work / card.name, model_dir / card.name)
    os.replace(converted.path, model_dir / file)  # no registry names this file yet
    try:
        os.replace(work / "registry.yaml", registry)  # the commit
    except OSError as exc:
        if old != file:
            (model_dir / file).unlink(missing_ok=True)
        raise ModelError(f"cannot update {registry}: {exc.strerror}; nothing was installed") from None
    if old and old != file:
        (model_dir / old).unlink(missing_ok=True)  # the previous file, no longer referenced
    return user_spec(name, models[name], model_dir)


@contextmanager
def _registry_lock(model_dir: Path) -> Iterator[None]:
    with open(model_dir / REGISTRY_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # held for milliseconds: wait rather than fail
        yield  # closing the file releases the lock
