"""Compile every CUDA kernel to PTX, no GPU needed: `python -m acc.kernels.cuda.ptx [--cc 9.0] [--out DIR]`.

numba-cuda's simulator runs kernels as Python and checks no types: this build is what proves that a
kernel compiles for a GPU. It needs numba-cuda, NVVM (the nvidia-nvvm wheel) and nvrtc (nvidia-cuda-nvrtc,
which numba-cuda asks for the architectures it supports), and must run in a process that has not imported
numba.cuda in simulator mode. Prints one line per kernel; exit status 1 when any fails to build.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

KERNELS = ("lab_l", "ab_merge")  # module in acc.kernels.cuda == kernel name


def compile_all(cc: tuple[int, int]) -> dict[str, str]:
    """{kernel name: PTX} for compute capability cc."""
    from importlib import import_module

    from acc.kernels.cuda.target import numba_cuda

    cuda = numba_cuda(emulate=False)
    ptx = {}
    for name in KERNELS:
        module = import_module(f"acc.kernels.cuda.{name}")
        ptx[name], _ = cuda.compile_ptx(getattr(module, name).py_func, module.SIGNATURE, cc=cc)
    return ptx


def ptx_isa(ptx: str) -> str:
    """The PTX ISA version a PTX text declares ('.version 9.0'): the newest a driver or linker must take."""
    for line in ptx.splitlines():
        if line.startswith(".version"):
            return line.split()[1]
    return "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cc", default="9.0", help="compute capability, major.minor (default 9.0: H100/H200)")
    ap.add_argument("--out", type=Path, help="also write each kernel's PTX to DIR/<kernel>.ptx")
    args = ap.parse_args()
    cc = tuple(int(part) for part in args.cc.split("."))
    try:
        ptx = compile_all((cc[0], cc[1]))
    except Exception as exc:  # NVVM missing, a typing error in a kernel: say which, fail
        print(f"acc: PTX build failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for name, text in ptx.items():
        print(f"{name}: {len(text)} bytes of PTX ISA {ptx_isa(text)} for sm_{cc[0]}{cc[1]}")
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"{name}.ptx").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
