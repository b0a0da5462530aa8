"""What the NVIDIA driver says about this machine's GPUs, read through cuda-python's driver bindings
(cuda.bindings.driver, installed with numba-cuda) without importing numba.cuda: asking must not fix
the process to the GPU or to the simulator (acc/kernels/cuda/target.py)."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    compute_capability: tuple[int, int]
    memory_bytes: int


@dataclass(frozen=True)
class DriverInfo:
    driver_cuda: tuple[int, int]  # the newest CUDA version the installed driver supports
    driver_version: str  # the driver's own release ("580.159.03"), from NVML; "unknown" without it
    gpus: tuple[Gpu, ...]


class NoGpu(Exception):
    """No usable NVIDIA GPU; str(exc) says why."""


def _check(result: tuple) -> tuple:
    err, *values = result
    if int(err) != 0:
        raise NoGpu(f"CUDA driver error {int(err)} ({getattr(err, 'name', err)})")
    return tuple(values)


@cache
def driver_info() -> DriverInfo:
    """The driver's CUDA version and every GPU it shows; NoGpu when there is no driver or no GPU."""
    try:
        from cuda.bindings import driver
    except ImportError:
        raise NoGpu("cuda-python's driver bindings are not installed (pip install 'acc-colorize[cuda]')") from None
    try:
        _check(driver.cuInit(0))
    except NoGpu as exc:
        raise NoGpu(f"no NVIDIA GPU or driver here ({exc})") from None
    except Exception as exc:  # libcuda.so missing: the bindings raise their own error types
        raise NoGpu(f"no NVIDIA driver here ({type(exc).__name__}: {exc})") from None
    (version,) = _check(driver.cuDriverGetVersion())
    (count,) = _check(driver.cuDeviceGetCount())
    if count == 0:
        raise NoGpu("the NVIDIA driver shows no GPU")
    attr = driver.CUdevice_attribute
    gpus = []
    for index in range(count):
        (device,) = _check(driver.cuDeviceGet(index))
        (raw,) = _check(driver.cuDeviceGetName(64, device))
        (major,) = _check(driver.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device))
        (minor,) = _check(driver.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device))
        (memory,) = _check(driver.cuDeviceTotalMem(device))
        name = raw.split(b"\0", 1)[0].decode(errors="replace")
        gpus.append(Gpu(index, name, (int(major), int(minor)), int(memory)))
    return DriverInfo((version // 1000, version % 1000 // 10), _nvml_driver_version(), tuple(gpus))


def _nvml_driver_version() -> str:
    """The driver's release, from NVML (libnvidia-ml, installed with the driver)."""
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
        if nvml.nvmlInit_v2() != 0:
            return "unknown"
        buffer = ctypes.create_string_buffer(96)
        ok = nvml.nvmlSystemGetDriverVersion(buffer, ctypes.c_uint(len(buffer))) == 0
        nvml.nvmlShutdown()
        return buffer.value.decode() if ok else "unknown"
    except (OSError, AttributeError):
        return "unknown"


def gpu_reason() -> str | None:
    """None when a GPU is usable here, else why not."""
    try:
        driver_info()
    except NoGpu as exc:
        return str(exc)
    return None


NVJPEG_BACKEND_HARDWARE = 3  # nvjpegBackend_t (nvjpeg.h)


def hardware_jpeg_decoder() -> str:
    """Whether nvJPEG's hardware decoder (the NVJPG engines of A100, H100, H200 ...) is usable here, and its
    engines: nvjpegCreateEx(NVJPEG_BACKEND_HARDWARE) then nvjpegGetHardwareDecoderInfo (nvJPEG >= 11.4)."""
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib

        lib = ctypes.CDLL(load_nvidia_dynamic_lib("nvjpeg").abs_path)
    except Exception as exc:  # not installed: the nvidia-nvjpeg wheel, or the toolkit's library
        return f"unknown (nvJPEG not found: {type(exc).__name__})"
    handle = ctypes.c_void_p()
    status = lib.nvjpegCreateEx(NVJPEG_BACKEND_HARDWARE, None, None, 0, ctypes.byref(handle))
    if status != 0:
        return f"not available (nvjpegCreateEx(HARDWARE) returned status {status}: no NVJPG engine, or hidden by MIG or a VM)"
    engines, cores = ctypes.c_uint(), ctypes.c_uint()
    status = lib.nvjpegGetHardwareDecoderInfo(handle, ctypes.byref(engines), ctypes.byref(cores))
    lib.nvjpegDestroy(handle)
    if status != 0:
        return "available (engine count not reported)"
    return f"available, {engines.value} engines x {cores.value} cores"
