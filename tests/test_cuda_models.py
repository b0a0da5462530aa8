"""How the cuda backend picks and feeds its model engine (acc/backends/cuda/models.py, onnx_torch.py), on the CPU:
ONNX Runtime's CUDA provider only when the session really runs on it, and nothing in the interpreted graph
that would make each forward wait for the GPU.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from acc.backends.cuda import models  # noqa: E402
from acc.backends.cuda.models import NoCudaSession, OrtCudaModel, gpu_model, ort_cuda_reason  # noqa: E402
from acc.backends.cuda.onnx_torch import OnnxModule  # noqa: E402
from acc.models import ModelError, resolve  # noqa: E402


@pytest.fixture
def cuda_listed(monkeypatch):
    """ONNX Runtime (the CPU build here) saying it has a CUDA provider, as a GPU build does whose CUDA or cuDNN
    libraries then fail to load: the session it makes runs on the CPU."""
    real = ort.get_available_providers()
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", *real])
    assert ort_cuda_reason() is None  # what the backend used to check, and all it checked


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_an_onnx_runtime_session_that_fell_back_to_the_cpu_is_not_used(cuda_listed, monkeypatch) -> None:
    spec = resolve("acc-tiny")
    with pytest.raises(NoCudaSession, match="runs on CPUExecutionProvider, not on its CUDA provider"):
        OrtCudaModel(spec, None, None)
    monkeypatch.setattr(models, "torch_cuda_reason", lambda: None)
    monkeypatch.setattr(models, "TorchModel", lambda spec, cuda, precision: ("torch", precision))
    assert gpu_model(spec, None, None, "bf16") == ("torch", "bf16")  # PyTorch takes over
    monkeypatch.setattr(models, "torch_cuda_reason", lambda: "PyTorch cannot use a GPU (test)")
    with pytest.raises(ModelError, match="no engine .*not on its CUDA provider.*; PyTorch cannot use a GPU"):
        gpu_model(spec, None, None)


def resize_graph(scales: list[float]) -> onnx.ModelProto:
    """(1, 1, 4, 4) -> bilinear Resize by `scales` (an initializer, as acc.netspec writes Upsample)."""
    init = onnx.numpy_helper.from_array(np.array(scales, np.float32), "scales")
    node = onnx.helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear",
                                 coordinate_transformation_mode="half_pixel")  # fmt: skip
    graph = onnx.helper.make_graph([node], "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 4, 4])],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], [init])  # fmt: skip
    return onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)])


def test_resize_scales_stay_on_the_host() -> None:
    """Resize reads its scales on the host each forward: as a buffer they would follow the module to the GPU
    (and to fp16), and reading them back would make every forward wait for the device."""
    model = resize_graph([1.0, 1.0, 2.0, 2.0])
    module = OnnxModule(model).to(dtype=torch.float16)
    assert not any(b.numel() == 4 for b in module.buffers())  # no buffer holds the scales
    assert module._host["scales"].dtype == torch.float32 and module._host["scales"].device.type == "cpu"
    x = np.random.default_rng(0).uniform(0, 1, (1, 1, 4, 4)).astype(np.float32)
    got = OnnxModule(model).eval()(torch.from_numpy(x)).detach().numpy()
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert got.shape == (1, 1, 8, 8)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
