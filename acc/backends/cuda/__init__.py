"""The CUDA backend: every pixel stays on an NVIDIA GPU between the encoded bytes in and out.

    driver.py     what the NVIDIA driver says (GPUs, CUDA version), without importing numba.cuda
    memory.py     the device buffer pool; a decode batch's photos share one flat buffer
    codecs.py     JPEG decode and encode: nvImageCodec on the GPU, libjpeg-turbo on the host
    models.py     the model on the GPU: ONNX Runtime's CUDA provider, or PyTorch (onnx_torch.py)
    onnx_torch.py the registry's ONNX interpreted by PyTorch, fp16 or bf16
    backend.py    the four stages and their batch forms
    status.py     what `acc doctor` says about it

The colour kernels are in kernels/cuda. emulate=True runs the same code with numba-cuda's simulator for
the kernels and host stand-ins for the codecs and the model (libjpeg-turbo, ONNX Runtime on the CPU).
"""

from acc.backends.cuda.backend import CudaBackend

__all__ = ["CudaBackend"]
