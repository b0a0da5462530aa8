"""The model on the GPU, and emulation's stand-in. Each is called with a batch's model input as a device
array (N, h, w) float32, ready on the caller's stream, and that stream; it returns (ab, owner): ab (N, 2, oh,
ow) float32 in Lab units (the registry's ab_scale applied) as a device array, ready on that stream once
what is queued there now has run, and what keeps ab's memory (a memory.Pooled, or None):

    OrtCudaModel  ONNX Runtime's CUDA provider (onnxruntime-gpu), input and output bound to device memory
                  (IOBinding), fp32, ab_scale folded into the graph as a final Mul. ONNX Runtime runs on
                  its own stream: the caller's is synchronized first, and Run returns when it is done.
    TorchModel    PyTorch running the ONNX (onnx_torch.py) in fp16 (or bf16), zero-copy in and out, on
                  the caller's stream
    HostModel     emulation: ONNX Runtime on the CPU (acc/inference.py), through host copies

gpu_model picks the engine: ONNX Runtime when it has its CUDA provider and the session it makes really
runs on it, else PyTorch. (ONNX Runtime builds a CPU session when its CUDA provider cannot load its
libraries, with only a log line: get_available_providers() still lists CUDA. Then IOBinding of device
pointers would fail or copy through the host.) onnxruntime-gpu replaces onnxruntime: both install the
package `onnxruntime`, so the one installed last wins; install onnxruntime-gpu alone.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from acc.backends.cuda.codecs import stream_handle
from acc.backends.cuda.memory import DevicePool, Pooled
from acc.models import ModelError, ModelSpec, read_verified

PRECISIONS = ("fp16", "bf16")
CUDA_PROVIDER = "CUDAExecutionProvider"


class NoCudaSession(ModelError):
    """ONNX Runtime made a session that does not run on its CUDA provider."""


def ort_cuda_reason() -> str | None:
    """None when ONNX Runtime has its CUDA provider here, else why not."""
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime is not installed"
    if CUDA_PROVIDER not in ort.get_available_providers():
        return "onnxruntime has no CUDA provider (pip uninstall onnxruntime, then pip install onnxruntime-gpu)"
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

    def __init__(self, spec: ModelSpec, cuda: ModuleType, pool: DevicePool) -> None:
        import onnx
        import onnxruntime as ort

        self.spec, self.cuda, self.pool = spec, cuda, pool
        graph = onnx.load_from_string(read_verified(spec))
        scale = onnx.numpy_helper.from_array(np.array(spec.ab_scale, np.float32), "acc_ab_scale")
        self.output = f"{spec.output_name}_lab"
        graph.graph.initializer.append(scale)
        graph.graph.node.append(onnx.helper.make_node("Mul", [spec.output_name, "acc_ab_scale"], [self.output]))
        graph.graph.output.append(onnx.helper.make_tensor_value_info(self.output, onnx.TensorProto.FLOAT, None))
        try:
            self.session = ort.InferenceSession(graph.SerializeToString(), providers=[CUDA_PROVIDER, "CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"model '{spec.name}': ONNX Runtime (CUDA) cannot load {spec.path}: {exc}") from None
        providers = self.session.get_providers()
        if not providers or providers[0] != CUDA_PROVIDER:
            raise NoCudaSession(f"ONNX Runtime's session runs on {', '.join(providers) or 'nothing'}, not on its "
                                f"CUDA provider (its CUDA or cuDNN libraries did not load)")  # fmt: skip

    def __call__(self, x: Any, stream: Any) -> tuple[Any, Pooled]:
        (h, w), (oh, ow) = self.spec.input_size, self.spec.output_size
        out = Pooled(self.pool, (x.shape[0], 2, oh, ow), np.float32)
        binding = self.session.io_binding()
        binding.bind_input(self.spec.input_name, "cuda", 0, np.float32, [x.shape[0], 1, h, w], _pointer(x))
        binding.bind_output(self.output, "cuda", 0, np.float32, list(out.array.shape), _pointer(out.array))
        stream.synchronize()  # x is written on the caller's stream, which ONNX Runtime's does not wait for
        self.session.run_with_iobinding(binding)  # returns once the provider's stream is done
        return out.array, out


class TorchModel:
    def __init__(self, spec: ModelSpec, cuda: ModuleType, precision: str = "fp16") -> None:
        import torch

        from acc.backends.cuda.onnx_torch import TorchColorizer

        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.name = f"PyTorch {torch.__version__} ({precision}, the ONNX interpreted by acc)"
        self.cuda, self.torch = cuda, torch
        torch.backends.cudnn.benchmark = True  # batches are padded to a few shapes: cuDNN tunes each once
        dtype = torch.float16 if precision == "fp16" else torch.bfloat16
        self.colorizer = TorchColorizer(spec, "cuda", dtype)

    def __call__(self, x: Any, stream: Any) -> tuple[Any, None]:
        torch = self.torch
        with torch.cuda.stream(torch.cuda.ExternalStream(stream_handle(stream))):
            ab = self.colorizer(torch.as_tensor(x, device="cuda"))  # zero-copy view of the numba array
        # ab's memory is the caching allocator's, tied to this stream: the next model call on it reuses it
        # only once ab is freed, which is after the photos it holds are rendered (render synchronizes).
        return self.cuda.as_cuda_array(ab), None  # keeps the tensor alive


class HostModel:
    name = "ONNX Runtime on the CPU (emulation's stand-in)"

    def __init__(self, spec: ModelSpec, cuda: ModuleType, threads: int = 0) -> None:
        from acc.inference import OrtColorizer

        self.cuda = cuda
        self.colorizer = OrtColorizer(spec, threads)

    def __call__(self, x: Any, stream: Any) -> tuple[Any, None]:
        host = x.copy_to_host(stream=stream)
        stream.synchronize()
        return self.cuda.to_device(self.colorizer(host), stream=stream), None


def gpu_model(spec: ModelSpec, cuda: ModuleType, pool: DevicePool, precision: str = "fp16") -> OrtCudaModel | TorchModel:
    """ONNX Runtime's CUDA provider when it is there and its session runs on it, else PyTorch on the GPU."""
    reason = ort_cuda_reason()
    if reason is None:
        try:
            return OrtCudaModel(spec, cuda, pool)
        except NoCudaSession as exc:
            reason = str(exc)
    if not torch_cuda_reason():
        return TorchModel(spec, cuda, precision)
    raise ModelError(f"no engine for the model on the GPU: {reason}; {torch_cuda_reason()}")
