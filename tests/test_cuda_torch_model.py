"""The cuda backend's PyTorch path for the model (acc/backends/cuda/onnx_torch.py), on the CPU here and on
the GPU with `pytest -m cuda`: the ONNX interpreted by torch against ONNX Runtime on the same inputs.

Tolerances in ab units (Lab), measured here on acc-tiny (2026-12-02, torch 2.13 CPU): fp32 max 3.6e-5
(asserted 1e-4); fp16 max 0.036 (asserted 0.1); bf16, whose 8-bit mantissa rounds every activation,
max 0.49 (asserted 1.0; one 8-bit RGB level is about 1 ab unit).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from acc.backends.cuda.driver import gpu_reason  # noqa: E402
from acc.backends.cuda.onnx_torch import OnnxModule, TorchColorizer  # noqa: E402
from acc.inference import OrtColorizer  # noqa: E402
from acc.kernels import reference as ref  # noqa: E402
from acc.models import ModelError, resolve  # noqa: E402
from conftest import TEST_MODEL, write_registry  # noqa: E402

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.jpg"))
TOLERANCE = {torch.float32: 1e-4, torch.float16: 0.1, torch.bfloat16: 1.0}
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    if request.param == "cuda" and (gpu_reason() or not torch.cuda.is_available()):
        pytest.skip(f"needs an NVIDIA GPU with a CUDA build of torch: {gpu_reason() or 'torch.cuda unavailable'}")
    return request.param


def model_inputs(spec, count: int = 3) -> np.ndarray:
    """LabL of real photos, and one of noise, as the model takes them."""
    photos = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in EXAMPLES[:count]]
    x = [(ref.lab_l(g, spec.input_size) - spec.l_offset) * spec.l_scale for g in photos]
    x.append(np.random.default_rng(0).uniform(-50, 50, spec.input_size) * spec.l_scale)
    return np.stack(x).astype(np.float32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_the_bundled_model_in_torch_matches_onnx_runtime(device: str, dtype) -> None:
    spec = resolve("acc-tiny")
    x = model_inputs(spec)
    want = OrtColorizer(spec)(x)  # ab in Lab units
    got = TorchColorizer(spec, device, dtype)(torch.from_numpy(x).to(device))
    assert got.dtype == torch.float32 and got.device.type == device
    error = np.abs(got.cpu().numpy() - want).max()
    assert error <= TOLERANCE[dtype], error


def test_the_test_model_applies_its_ab_scale(model_dir: Path, device: str) -> None:
    """A registry entry's ab_scale multiplies the output, as ONNX Runtime's path does (acc/inference.py)."""
    import yaml

    doc = yaml.safe_load((model_dir / "registry.yaml").read_text())
    entry = doc["models"][TEST_MODEL]
    write_registry(model_dir, TEST_MODEL, entry["file"], entry["sha256"], output={"name": "ab", "size": [56, 56],
                                                                                 "ab_scale": 2.5})  # fmt: skip
    spec = resolve(TEST_MODEL, model_dir)
    x = np.random.default_rng(1).uniform(-50, 50, (2, 224, 224)).astype(np.float32)
    got = TorchColorizer(spec, device, torch.float32)(torch.from_numpy(x).to(device)).cpu().numpy()
    np.testing.assert_allclose(got, OrtColorizer(spec)(x), atol=1e-4, rtol=0)


@pytest.fixture(scope="module")
def official_architectures(tmp_path_factory) -> dict[str, Path]:
    """ECCV16 and SIGGRAPH17 as acc exports them, random weights, at 32 x 32 (their operators, not their cost)."""
    from acc.netspec import random_weights, save_onnx
    from acc.networks import NETWORKS

    folder = tmp_path_factory.mktemp("architectures")
    paths = {}
    for name, network in NETWORKS.items():
        paths[name] = folder / f"{name}.onnx"
        net = network()
        save_onnx(net, random_weights(net, seed=2), paths[name], size=(32, 32))
    return paths


@pytest.mark.parametrize("name", ["eccv16", "siggraph17"])
def test_the_official_architectures_in_torch_match_onnx_runtime(official_architectures, name: str) -> None:
    path = official_architectures[name]
    x = np.random.default_rng(3).normal(0, 0.5, (2, 1, 32, 32)).astype(np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"L": x})[0]
    got = OnnxModule(onnx.load(path)).eval()(torch.from_numpy(x)).detach().numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4 * max(1.0, np.abs(want).max()), rtol=0)


def test_an_unsupported_operator_is_refused_by_name(tmp_path: Path) -> None:
    graph = onnx.helper.make_graph([onnx.helper.make_node("Erf", ["L"], ["ab"])], "g",
                                   [onnx.helper.make_tensor_value_info("L", onnx.TensorProto.FLOAT, [1, 1, 4, 4])],
                                   [onnx.helper.make_tensor_value_info("ab", onnx.TensorProto.FLOAT, [1, 1, 4, 4])])  # fmt: skip
    with pytest.raises(ModelError, match="Erf"):
        OnnxModule(onnx.helper.make_model(graph))


def test_a_model_whose_input_is_not_the_registered_one_is_refused(model_dir: Path) -> None:
    data = (model_dir / "linear.onnx").read_bytes()
    write_registry(model_dir, TEST_MODEL, "linear.onnx", hashlib.sha256(data).hexdigest(),
                   input={"name": "gray", "size": [224, 224], "l_offset": 50.0, "l_scale": 1.0})  # fmt: skip
    with pytest.raises(ModelError, match="input named 'gray'"):
        TorchColorizer(resolve(TEST_MODEL, model_dir), "cpu", torch.float32)
