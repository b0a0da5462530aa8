"""`acc models fetch`: download (from a local HTTP server), verify, convert, install; then use the model.

Every failure (short download, unreachable server, checksum mismatch, unusable file, no onnx) must
leave the user model folder exactly as it was and exit with one line that says what to do.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import yaml

import acc
from acc.cli import main
from acc.models import sha256_bytes
from conftest import TEST_MODEL, build_linear_model, color_photo, gradient_photo, write_registry
from test_convert import expect_weights, release_weights

RELEASE_NAME = "colorization_release_v2-9b330a0b.pth"


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder under `folder`."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in folder.rglob("*")}


class Server(http.server.ThreadingHTTPServer):
    files: dict[str, bytes]
    requests: list[str]


class Handler(http.server.BaseHTTPRequestHandler):
    """GET /NAME serves files[NAME]; GET /truncated/NAME announces all of it and sends half."""

    server: Server

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        truncated = self.path.startswith("/truncated/")
        data = self.server.files.get(self.path.removeprefix("/truncated").lstrip("/"))
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if truncated else data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[SimpleNamespace]:
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.files, httpd.requests = {}, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_address[1]}", files=httpd.files,
                          requests=httpd.requests)  # fmt: skip
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def installed(server: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """ECCV16 (random weights) fetched over HTTP into a folder that already holds the linear test model
    and an older eccv16 conversion: the fetch must keep the one and replace the other."""
    weights = tmp_path_factory.mktemp("release") / RELEASE_NAME
    net = release_weights("eccv16", weights)
    server.files[RELEASE_NAME] = weights.read_bytes()
    model_dir = tmp_path_factory.mktemp("models")
    build_linear_model(model_dir / "linear.onnx")
    write_registry(model_dir, TEST_MODEL, "linear.onnx", sha256_bytes((model_dir / "linear.onnx").read_bytes()))
    doc = yaml.safe_load((model_dir / "registry.yaml").read_text())
    (model_dir / "eccv16-old.onnx").write_bytes((model_dir / "linear.onnx").read_bytes())
    doc["models"]["eccv16"] = {**doc["models"][TEST_MODEL], "file": "eccv16-old.onnx"}
    (model_dir / "registry.yaml").write_text(yaml.safe_dump(doc))

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        expect_weights(mp, weights, url=f"{server.url}/{RELEASE_NAME}")
        code = main(["models", "fetch", "eccv16", "--model-dir", str(model_dir)])
    return SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue(), model_dir=model_dir, net=net)


def test_download_verifies_converts_and_installs(installed: SimpleNamespace, capsys) -> None:
    assert installed.code == 0, installed.err
    assert "eccv16: 100%" in installed.err  # the progress bar ran to the end
    model_dir = installed.model_dir
    registry = yaml.safe_load((model_dir / "registry.yaml").read_text())["models"]
    entry = registry["eccv16"]
    onnx_bytes = (model_dir / entry["file"]).read_bytes()
    assert entry["sha256"] == sha256_bytes(onnx_bytes) and entry["file"] == f"eccv16-{entry['sha256'][:12]}.onnx"
    assert entry["input"] == {"name": "L", "size": [224, 224], "l_offset": 50.0, "l_scale": 0.01}
    assert entry["output"] == {"name": "ab", "size": [56, 56], "ab_scale": 110.0}
    assert entry["source"]["url"].endswith(RELEASE_NAME)
    assert TEST_MODEL in registry  # the other model is kept
    names = {p.name for p in model_dir.iterdir()}
    # no .pth, no temp folder; the (empty) lock file that serialises registry updates stays
    assert names == {"registry.yaml", "linear.onnx", entry["file"], "eccv16.md", ".acc-registry-lock"}
    assert f"installed eccv16: {model_dir / entry['file']}" in installed.out

    assert main(["models", "list", "--model-dir", str(model_dir)]) == 0
    listed = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["eccv16", "user", "verified"] in [line[:3] for line in listed]
    assert ["siggraph17", "fetchable", "not", "installed"] in [line[:4] for line in listed]


def test_colorize_with_the_fetched_model_is_the_seed_pipeline(installed: SimpleNamespace, tmp_path: Path) -> None:
    """The pipeline feeds (L - 50) * 0.01 and scales by 110: its result is what the PyTorch network gives
    when run as the release does, resized and merged as the seed does."""
    photo = tmp_path / "in" / "gray.png"
    photo.parent.mkdir()
    cv2.imwrite(str(photo), gradient_photo(48, 64))
    code = main(["colorize", str(photo.parent), "-o", str(tmp_path / "out"), "--model", "eccv16",
                 "--model-dir", str(installed.model_dir), "--backend", "opencv", "--format", "png"])  # fmt: skip
    assert code == 0
    result = cv2.imread(str(tmp_path / "out" / "gray.png"))

    lab = cv2.cvtColor(cv2.imread(str(photo)).astype(np.float32) / 255, cv2.COLOR_BGR2Lab)
    lightness = cv2.resize(lab, (224, 224))[:, :, 0]
    with torch.no_grad():
        ab = 110 * installed.net(torch.from_numpy((lightness[None, None] - 50) / 100))[0].numpy()
    ab = cv2.resize(np.ascontiguousarray(ab.transpose(1, 2, 0)), (64, 48))
    expected = cv2.cvtColor(np.concatenate([lab[:, :, :1], ab], axis=2), cv2.COLOR_Lab2BGR)
    expected = (np.clip(expected, 0, 1) * 255).astype(np.uint8)
    assert np.abs(result.astype(int) - expected).max() <= 1
    assert np.ptp(result.astype(int), axis=2).max() > 5  # it added colour


def test_eval_with_the_fetched_model(installed: SimpleNamespace, tmp_path: Path) -> None:
    originals = tmp_path / "originals"
    originals.mkdir()
    for i in range(2):
        cv2.imwrite(str(originals / f"p{i}.png"), color_photo(40, 48, seed=i))
    code = main(["eval", str(originals), "-o", str(tmp_path / "work"), "--model", "eccv16",
                 "--model-dir", str(installed.model_dir), "--backend", "opencv"])  # fmt: skip
    assert code == 0
    assert json.loads((tmp_path / "work" / "eval.json").read_text())["images"] == 2


def test_doctor_lists_installed_models(installed: SimpleNamespace, capsys) -> None:
    main(["doctor", "--model-dir", str(installed.model_dir), "--model", "eccv16"])
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["eccv16", "user", "verified"] in lines
    assert [TEST_MODEL, "user", "verified"] in lines
    assert ["siggraph17", "fetchable", "not", "installed"] in lines


def _fails(args: list[str], model_dir: Path, capsys) -> str:
    """Run `acc models fetch ARGS` into model_dir, expect exit 2 and an unchanged folder; the message."""
    before = snapshot(model_dir)
    assert main(["models", "fetch", *args, "--model-dir", str(model_dir)]) == 2
    assert snapshot(model_dir) == before
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 or "%" in err  # one line (after any progress bar)
    return err


def test_truncated_download_leaves_nothing(server, model_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    weights = tmp_path / "w.pth"
    weights.write_bytes(bytes(range(256)) * 1000)
    server.files["w.pth"] = weights.read_bytes()
    expect_weights(monkeypatch, weights, url=f"{server.url}/truncated/w.pth")
    assert "the transfer ended early" in _fails(["eccv16"], model_dir, capsys)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("where", ["missing", "refused"])
def test_failed_download_suggests_from_file(where: str, server, model_dir: Path, tmp_path: Path, monkeypatch,
                                            capsys) -> None:  # fmt: skip
    url = f"{server.url}/nothing.pth" if where == "missing" else f"http://127.0.0.1:{_closed_port()}/w.pth"
    (tmp_path / "w.pth").write_bytes(b"x")
    expect_weights(monkeypatch, tmp_path / "w.pth", url=url)
    err = _fails(["eccv16"], model_dir, capsys)
    assert f"cannot download {url}" in err and "acc models fetch eccv16 --from FILE" in err
    assert ("HTTP 404" in err) if where == "missing" else ("refused" in err.lower())


def test_checksum_mismatch_installs_nothing(model_dir: Path, tmp_path: Path, capsys) -> None:
    weights = tmp_path / RELEASE_NAME
    weights.write_bytes(b"not the official weights")
    err = _fails(["eccv16", "--from", str(weights)], model_dir, capsys)
    assert f"{weights} has sha256 {sha256_bytes(weights.read_bytes())}" in err
    assert "9b330a0bae53f4ded77b1e23defbf78beaa09c10ebc4c4999e8e4f4a160b93f9" in err and "nothing was installed" in err


def test_corrupt_file_with_the_right_checksum_installs_nothing(model_dir: Path, tmp_path: Path, monkeypatch,
                                                               capsys) -> None:  # fmt: skip
    weights = tmp_path / RELEASE_NAME
    weights.write_bytes(b"PK\x03\x04 a damaged archive")
    expect_weights(monkeypatch, weights)
    err = _fails(["siggraph17", "--from", str(weights)], model_dir, capsys)
    assert "not a PyTorch weights file that acc reads safely" in err and "nothing was installed" in err


def test_a_fetch_into_a_new_folder_that_fails_leaves_no_folder_content(tmp_path: Path, capsys) -> None:
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    assert main(["models", "fetch", "eccv16", "--from", str(weights), "--model-dir", str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())


def test_unknown_model_and_missing_onnx(server, model_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    assert "acc can fetch eccv16, siggraph17" in _fails(["dalle"], model_dir, capsys)
    # Without onnx, the message names the extra to install, before anything is downloaded.
    monkeypatch.delitem(sys.modules, "acc.convert", raising=False)
    monkeypatch.delattr(acc, "convert", raising=False)
    monkeypatch.setitem(sys.modules, "onnx", None)
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    server.files["counted.pth"] = weights.read_bytes()
    expect_weights(monkeypatch, weights, url=f"{server.url}/counted.pth")
    requests = len(server.requests)
    err = _fails(["eccv16"], model_dir, capsys)
    assert "needs the onnx package" in err and "pip install 'acc-colorize[onnx]'" in err
    assert len(server.requests) == requests  # nothing was downloaded
    # A file at hand is judged first: a wrong one is called wrong, whatever is installed.
    weights.write_bytes(b"y")
    assert "has sha256" in _fails(["eccv16", "--from", str(weights)], model_dir, capsys)


def test_concurrent_installs_into_one_folder_keep_both(tmp_path: Path, monkeypatch) -> None:
    """Two fetches (two processes, say) finishing together each re-read, change and replace registry.yaml;
    without a lock around that, the later one would drop the other's entry. The conversions run one after
    the other; the installs race, with a slowed-down registry read widening the window."""
    from acc.convert import to_onnx

    model_dir = tmp_path / "models"
    model_dir.mkdir()
    build_linear_model(model_dir / "linear.onnx")  # a registry both installs must read and keep
    write_registry(model_dir, TEST_MODEL, "linear.onnx", sha256_bytes((model_dir / "linear.onnx").read_bytes()))
    converted = []
    for name in ("eccv16", "siggraph17"):
        item = acc.models.load_catalogue()[name]
        work = tmp_path / f"work-{name}"
        work.mkdir()
        release_weights(name, work / "w.pth")
        spec = item.spec(work, f"{name}.onnx", sha256="")
        to_onnx(item.network, (work / "w.pth").read_bytes(), spec)
        converted.append((item, replace(spec, sha256=sha256_bytes(spec.path.read_bytes()))))
    real_read = acc.fetch.read_registry

    def slow_read(path: Path) -> dict:
        doc = real_read(path)
        time.sleep(0.5)
        return doc

    monkeypatch.setattr(acc.fetch, "read_registry", slow_read)
    errors: list[BaseException] = []

    def install(item, spec) -> None:
        try:
            acc.fetch.install(model_dir, item.name, item.registry_entry, spec)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=install, args=c) for c in converted]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    doc = yaml.safe_load((model_dir / "registry.yaml").read_text())
    assert set(doc["models"]) == {TEST_MODEL, "eccv16", "siggraph17"}
    for entry in doc["models"].values():
        assert sha256_bytes((model_dir / entry["file"]).read_bytes()) == entry["sha256"]
