"""Which numba.cuda this process runs: the GPU's, or numba-cuda's simulator (emulation).

numba-cuda reads NUMBA_ENABLE_CUDASIM when numba.cuda is first imported, and the simulator and the GPU
target cannot both live in one process. So numba.cuda is imported here and nowhere first: the first
call decides the mode for the process, and a later call asking for the other mode fails with a clear
message instead of silently running in the wrong one. The simulator runs the same kernel source on
numpy arrays, one Python thread per CUDA thread: slow, for small images only.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from types import ModuleType

SIMULATOR_ENV = "NUMBA_ENABLE_CUDASIM"
THREADS = 256  # per block on the GPU
# Pixels each GPU thread does at least (its grid-stride loop): fewer, fuller blocks (64 photos of 0.3 MP
# still make over a thousand for 132 multiprocessors), each thread's loads of several pixels in flight.
PIXELS_PER_THREAD = 16
MAX_BLOCKS = 2048  # per photo on the GPU
SIMULATED_THREADS, SIMULATED_BLOCKS = 32, 2  # the simulator starts a Python thread per CUDA thread
INSTALL = "pip install 'acc-colorize[cuda]'"
_lock = threading.Lock()


class CudaUnavailable(Exception):
    """numba-cuda missing, or asked for in the mode this process cannot give; str(exc) says which."""


def installed() -> bool:
    """Whether numba-cuda is installed (without importing it)."""
    return importlib.util.find_spec("numba_cuda") is not None


def simulated() -> bool | None:
    """The mode numba.cuda was imported in by this process: True (simulator), False (GPU), None (not yet)."""
    if "numba.cuda" not in sys.modules:
        return None
    return bool(sys.modules["numba.cuda"].core.config.ENABLE_CUDASIM)


def loaded() -> ModuleType:
    """numba.cuda as numba_cuda() imported it (for the kernel modules, imported after that call)."""
    if simulated() is None:
        raise CudaUnavailable("numba.cuda is not imported yet: call acc.kernels.cuda.target.numba_cuda(emulate) first")
    return sys.modules["numba.cuda"]


def numba_cuda(emulate: bool) -> ModuleType:
    """numba.cuda in the GPU's mode, or (emulate) in the simulator's."""
    if not installed():
        raise CudaUnavailable(f"numba-cuda is not installed ({INSTALL})")
    with _lock:
        mode = simulated()
        if mode is None:
            os.environ[SIMULATOR_ENV] = "1" if emulate else "0"
            import numba

            numba.config.reload_config()
            import numba.cuda  # noqa: F401  (first import: reads SIMULATOR_ENV)

            mode = simulated()
        if mode != emulate:
            now, asked = ("simulator", "GPU") if mode else ("GPU", "simulator")
            raise CudaUnavailable(f"this process already runs numba-cuda's {now}; the {asked} needs a fresh process")
    return sys.modules["numba.cuda"]


def batch_grid(most_pixels: int, photos: int) -> tuple[tuple[int, int], int]:
    """(grid, threads per block) of a batch kernel: block row n works on photo n, with enough blocks for
    PIXELS_PER_THREAD of the largest photo's `most_pixels` per thread (capped; the kernels' grid-stride
    loops do the rest)."""
    if simulated():
        threads, cap, each = SIMULATED_THREADS, SIMULATED_BLOCKS, 1
    else:
        threads, cap, each = THREADS, MAX_BLOCKS, PIXELS_PER_THREAD
    return (max(1, min(cap, -(-most_pixels // (threads * each)))), photos), threads


def event() -> object:
    """A CUDA event for ordering work between streams (no timing: cheaper to record and wait for); the
    simulator's events, which take no arguments, do nothing."""
    cuda = loaded()
    return cuda.event() if simulated() else cuda.event(timing=False)
