"""What `acc doctor` says about the cuda backend: the GPU, driver and CUDA version, the hardware JPEG
decoder, which codec and which model engine it would use, and (emulated or not) what has run where."""

from __future__ import annotations

from acc.backends.cuda.codecs import nvimgcodec_reason
from acc.backends.cuda.driver import NoGpu, driver_info, hardware_jpeg_decoder
from acc.backends.cuda.models import ort_cuda_reason, torch_cuda_reason
from acc.kernels.cuda import target
from acc.models import ModelSpec

# What this version of the backend has run on. Change it only with a device check's results (README).
GPU_RUNS = ("not yet run on a GPU: tested in numba-cuda's simulator, its kernels built to sm_90 PTX; "
            "tools/device_check.sh is the first GPU run")  # fmt: skip


def _engine() -> str:
    if not ort_cuda_reason():
        return "model: ONNX Runtime, CUDA provider"
    if not torch_cuda_reason():
        return "model: PyTorch on the GPU, fp16 (onnxruntime-gpu is not installed)"
    return f"model: no engine for the GPU ({ort_cuda_reason()}; {torch_cuda_reason()})"


def _codecs() -> list[str]:
    reason = nvimgcodec_reason()
    if reason:
        return [f"JPEG: on the host, libjpeg-turbo ({reason})"]
    return ["JPEG decode: nvImageCodec on the GPU (hardware decoder first)",
            "JPEG encode: nvImageCodec on the GPU (ACC_CUDA_JPEG_ENCODER=host for libjpeg-turbo)"]  # fmt: skip


def report(spec: ModelSpec | None, emulate: bool) -> tuple[list[str], bool]:
    """(lines to print, whether the backend can run here in the asked mode)."""
    lines = [f"status: {GPU_RUNS}"]
    if not target.installed():
        return [*lines, f"numba-cuda: not installed ({target.INSTALL}); neither the GPU nor --emulate can run"], False
    try:
        info = driver_info()
    except NoGpu as exc:
        info, no_gpu = None, str(exc)
    if info is None:
        lines.append(f"GPU: none ({no_gpu})")
    else:
        for gpu in info.gpus:
            lines.append(f"GPU {gpu.index}: {gpu.name}, compute capability {gpu.compute_capability[0]}."
                         f"{gpu.compute_capability[1]}, {gpu.memory_bytes / 2**30:.0f} GiB")  # fmt: skip
        lines.append(f"driver: {info.driver_version}, CUDA {info.driver_cuda[0]}.{info.driver_cuda[1]}")
        lines.append(f"hardware JPEG decoder: {hardware_jpeg_decoder()}")
    if emulate:
        lines.append("mode: emulated (numba-cuda's simulator for the kernels; libjpeg-turbo and ONNX Runtime on "
                     "the CPU for the codecs and the model)")  # fmt: skip
        return lines, True
    if info is None:
        return [*lines, "mode: not available here (--emulate runs it on the CPU)"], False
    engine = _engine()
    return [*lines, *_codecs(), engine], "no engine" not in engine
