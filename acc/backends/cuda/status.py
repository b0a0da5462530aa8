"""What `acc doctor` says about the cuda backend: the GPU, driver and CUDA version, the hardware JPEG
decoder, which codec and which model engine it would use, and (emulated or not) what has run where."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from acc.backends.cuda.codecs import import_notes, nvimgcodec_reason
from acc.backends.cuda.driver import NoGpu, driver_info, hardware_jpeg_decoder
from acc.backends.cuda.models import ort_cuda_reason, torch_cuda_reason
from acc.kernels.cuda import target
from acc.models import ModelSpec

# What this version of the backend has run on. Change it only with a device check's results (README).
GPU_RUNS = ("not yet run on a GPU: tested in numba-cuda's simulator with nvImageCodec on its CPU backends, its "
            "kernels built to sm_90 PTX; tools/device_check.sh is the first GPU run")  # fmt: skip


def _installed(dist: str) -> bool:
    try:
        version(dist)
    except PackageNotFoundError:
        return False
    return True


def _engine() -> list[str]:
    lines = []
    if _installed("onnxruntime") and _installed("onnxruntime-gpu"):
        lines.append("WARNING: onnxruntime and onnxruntime-gpu are both installed; they share one package folder, "
                     "so the one installed last wins: uninstall both, then install onnxruntime-gpu alone")  # fmt: skip
    if not ort_cuda_reason():
        lines.append("model: ONNX Runtime, CUDA provider (PyTorch if its session does not get the provider)")
    elif not torch_cuda_reason():
        lines.append("model: PyTorch on the GPU, fp16 (onnxruntime-gpu is not installed)")
    else:
        lines.append(f"model: no engine for the GPU ({ort_cuda_reason()}; {torch_cuda_reason()})")
    return lines


def _codecs(emulate: bool) -> list[str]:
    reason = nvimgcodec_reason()
    if reason:
        return [f"JPEG: on the host, libjpeg-turbo ({reason})"]
    where = "on its CPU backends (emulation)" if emulate else "on the GPU"
    lines = [f"JPEG decode: nvImageCodec {where}" + ("" if emulate else " (hardware decoder first)"),
             f"JPEG encode: nvImageCodec {where} (ACC_CUDA_JPEG_ENCODER=host for libjpeg-turbo)"]  # fmt: skip
    return lines + [f"nvImageCodec at import: {note}" for note in import_notes() if not note.startswith("Note:")]


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
        lines.append("mode: emulated (numba-cuda's simulator for the kernels, about 40,000 pixels a second; "
                     "ONNX Runtime on the CPU for the model)")  # fmt: skip
        return [*lines, *_codecs(emulate)], True
    if info is None:
        return [*lines, "mode: not available here (--emulate runs it on the CPU)"], False
    engine = _engine()
    return [*lines, *_codecs(emulate), *engine], not any(line.startswith("model: no engine") for line in engine)
