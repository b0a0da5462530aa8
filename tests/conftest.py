"""Shared fixtures: a small ONNX model built here (tests never need data from outside the repository), and photos made here."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

TEST_MODEL = "test-linear"
# The test model's ab: a = A_GAIN * x + A_BIAS and b = B_GAIN * x + B_BIAS, x = 4x4 mean of the input.
A_GAIN, A_BIAS, B_GAIN, B_BIAS = 0.6, 8.0, -0.4, 20.0


def build_linear_model(path: Path, size: int = 224, out: int = 56) -> None:
    """N x 1 x size x size -> average pool (size/out) -> 1x1 conv to 2 channels: ab at out x out."""
    k = size // out
    weight = numpy_helper.from_array(np.array([A_GAIN, B_GAIN], np.float32).reshape(2, 1, 1, 1), "w")
    bias = numpy_helper.from_array(np.array([A_BIAS, B_BIAS], np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("AveragePool", ["L"], ["pooled"], kernel_shape=[k, k], strides=[k, k]),
            helper.make_node("Conv", ["pooled", "w", "b"], ["ab"]),
        ],
        "linear_colorizer",
        [helper.make_tensor_value_info("L", TensorProto.FLOAT, ["N", 1, size, size])],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, ["N", 2, out, out])],
        [weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def write_registry(model_dir: Path, name: str, file: str, sha: str, **extra: object) -> None:
    entry = {
        "file": file,
        "sha256": sha,
        "description": "linear test model",
        "input": {"name": "L", "size": [224, 224], "l_offset": 50.0, "l_scale": 1.0},
        "output": {"name": "ab", "size": [56, 56], "ab_scale": 1.0},
        **extra,
    }
    import yaml

    (model_dir / "registry.yaml").write_text(yaml.safe_dump({"models": {name: entry}}))


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A user model folder holding the linear test model, registered with its true checksum."""
    folder = tmp_path / "models"
    folder.mkdir()
    build_linear_model(folder / "linear.onnx")
    sha = hashlib.sha256((folder / "linear.onnx").read_bytes()).hexdigest()
    write_registry(folder, TEST_MODEL, "linear.onnx", sha)
    return folder


def gradient_photo(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """An 8-bit gray photo-like image: smooth gradient, a bright disc and some noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = 40 + 150 * x / width + 30 * np.sin(y / 7.0)
    img[(y - height / 2) ** 2 + (x - width / 3) ** 2 < (height / 4) ** 2] = 230
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def color_photo(height: int = 80, width: int = 120, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = gradient_photo(height, width, seed)
    tint = rng.integers(-40, 40, size=(1, 1, 3))
    return np.clip(base[:, :, None].astype(int) + tint, 0, 255).astype(np.uint8)


def encode(img: np.ndarray, ext: str, *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok
    return buf.tobytes()


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    """A small tree of valid photos: gray and colour JPEGs, a PNG, in a nested folder."""
    root = tmp_path / "scans"
    (root / "box1").mkdir(parents=True)
    (root / "a.jpg").write_bytes(encode(gradient_photo(seed=1), ".jpg"))
    (root / "b.png").write_bytes(encode(color_photo(seed=2), ".png"))
    (root / "box1" / "c.jpg").write_bytes(encode(gradient_photo(64, 72, seed=3), ".jpg"))
    return root


# --- shared by the core suite (test_pipeline, test_cli, test_opencv_backend, ...) ----------------------


def make_model_dir(folder: Path) -> Path:
    """`folder` set up as a user model folder holding the linear test model (for module-scoped fixtures)."""
    folder.mkdir(parents=True, exist_ok=True)
    build_linear_model(folder / "linear.onnx")
    sha = hashlib.sha256((folder / "linear.onnx").read_bytes()).hexdigest()
    write_registry(folder, TEST_MODEL, "linear.onnx", sha)
    return folder


@pytest.fixture
def test_spec(model_dir: Path):
    """The ModelSpec of the linear test model."""
    from acc.models import resolve

    return resolve(TEST_MODEL, model_dir)


@pytest.fixture
def acc_env(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """ACC_MODEL_DIR set to the test model folder for in-process runs; returns the env for subprocesses."""
    import os

    monkeypatch.setenv("ACC_MODEL_DIR", str(model_dir))
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def write_photos(folder: Path, count: int, size: tuple[int, int] = (48, 64), ext: str = ".jpg") -> list[Path]:
    """`count` distinct gray photos named p000.jpg, p001.jpg ... in `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"p{i:03d}{ext}"
        path.write_bytes(encode(gradient_photo(*size, seed=100 + i), ext))
        paths.append(path)
    return paths
