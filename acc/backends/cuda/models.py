"""The model on the GPU, and emulation's stand-in. Each takes a batch's model input as a device array
(N, h, w) float32 and returns ab (N, 2, oh, ow) float32 in Lab units (the registry's ab_scale applied) as
a device array, ready when the call returns:

    OrtCudaModel  ONNX Runtime's CUDA provider (onnxruntime-gpu), input and output bound to device memory
                  (IOBinding), fp32, ab_scale folded into the graph as a final Mul
    TorchModel    PyTorch running the ONNX (onnx_torch.py) in fp16 (or bf16), zero-copy in and out
    HostModel     emulation: ONNX Runtime on the CPU (acc/inference.py), through host copies
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from acc.models import ModelError, ModelSpec, read_verified

PRECISIONS = ("fp16", "bf16")


def ort_cuda_reason() -> str | None:
    """None when ONNX Runtime has its CUDA provider here, else why not."""
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime is not installed"
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "onnxruntime has no CUDA provider (pip install onnxruntime-gpu)"
    return None


def torch_cuda_reason() -> str | None:
    """None when PyTorch can run on a GPU here, else why not."""
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed (pip install 'acc-colorize[cuda]')"
    if not torch.cuda.is_available():
        return f"PyTorch {torch.__version__} cannot use a GPU (a CPU build, or no driver)"
    return None


def _pointer(array: Any) -> int:
    return int(array.__cuda_array_interface__["data"][0])


class OrtCudaModel:
    name = "ONNX Runtime, CUDA provider (fp32)"

    def __init__(self, spec: ModelSpec, cuda: ModuleType) -> None:
        import onnx
        import onnxruntime as ort

        self.spec, self.cuda = spec, cuda
        graph = onnx.load_from_string(read_verified(spec))
        scale = onnx.numpy_helper.from_array(np.array(spec.ab_scale, np.float32), "acc_ab_scale")
        self.output = f"{spec.output_name}_lab"
        graph.graph.initializer.append(scale)
        graph.graph.node.append(onnx.helper.make_node("Mul", [spec.output_name, "acc_ab_scale"], [self.output]))
        graph.graph.output.append(onnx.helper.make_tensor_value_info(self.output, onnx.TensorProto.FLOAT, None))
        try:
            self.session = ort.InferenceSession(graph.SerializeToString(),
                                                providers=["CUDAExecutionProvider", "CPUExecutionProvider"])  # fmt: skip
        except Exception as exc:
            raise ModelError(f"model '{spec.name}': ONNX Runtime (CUDA) cannot load {spec.path}: {exc}") from None

    def __call__(self, x: Any, stream: Any) -> Any:
        (h, w), (oh, ow) = self.spec.input_size, self.spec.output_size
        out = self.cuda.device_array((x.shape[0], 2, oh, ow), np.float32)
        binding = self.session.io_binding()
        binding.bind_input(self.spec.input_name, "cuda", 0, np.float32, [x.shape[0], 1, h, w], _pointer(x))
        binding.bind_output(self.output, "cuda", 0, np.float32, list(out.shape), _pointer(out))
        self.session.run_with_iobinding(binding)  # returns once the provider's stream is done
        return out


class TorchModel:
    def __init__(self, spec: ModelSpec, cuda: ModuleType, precision: str = "fp16") -> None:
        import torch

        from acc.backends.cuda.onnx_torch import TorchColorizer

        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.name = f"PyTorch {torch.__version__} ({precision}, the ONNX interpreted by acc)"
        self.cuda, self.torch = cuda, torch
        torch.backends.cudnn.benchmark = True  # one input shape per batch size: let cuDNN pick its fastest
        dtype = torch.float16 if precision == "fp16" else torch.bfloat16
        self.colorizer = TorchColorizer(spec, "cuda", dtype)

    def __call__(self, x: Any, stream: Any) -> Any:
        torch = self.torch
        ab = self.colorizer(torch.as_tensor(x, device="cuda"))  # zero-copy view of the numba array
        torch.cuda.current_stream().synchronize()
        return self.cuda.as_cuda_array(ab)  # keeps the tensor alive


class HostModel:
    name = "ONNX Runtime on the CPU (emulation's stand-in)"

    def __init__(self, spec: ModelSpec, cuda: ModuleType, threads: int = 0) -> None:
        from acc.inference import OrtColorizer

        self.cuda = cuda
        self.colorizer = OrtColorizer(spec, threads)

    def __call__(self, x: Any, stream: Any) -> Any:
        host = x.copy_to_host(stream=stream)
        stream.synchronize()
        ab = self.cuda.to_device(self.colorizer(host), stream=stream)
        stream.synchronize()
        return ab
