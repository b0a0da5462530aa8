"""Device memory of the cuda backend: a pool of flat byte buffers, and batches of frames sharing one.

Decoded photos of one decode batch live side by side in one flat buffer (LumaBatch), the layout the
kernels take (kernels/cuda): their model inputs and outputs are computed in one launch. A LumaBatch goes
back to the pool when the last of its photos is released. Buffers are reused by size class (powers of
two from 1 MiB), so a long run does not allocate on every batch; close() frees them all.

Model inputs and predictions (a few hundred KB a photo) are ordinary numba device arrays, freed when
nothing refers to them.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from types import ModuleType
from typing import Any

MIN_CLASS = 1 << 20


def size_class(nbytes: int) -> int:
    return max(MIN_CLASS, 1 << (max(1, nbytes) - 1).bit_length())


class DevicePool:
    """Flat uint8 device buffers by size class. take() -> a buffer of at least n bytes; give() it back."""

    def __init__(self, cuda: ModuleType) -> None:
        self.cuda = cuda
        self._free: dict[int, list[Any]] = defaultdict(list)
        self._lock = threading.Lock()
        self.closed = False

    def take(self, nbytes: int) -> Any:
        """A device buffer of at least nbytes; MemoryError when the device has no room even after the
        pool has freed what it keeps."""
        cls = size_class(nbytes)
        with self._lock:
            if self.closed:
                raise RuntimeError("backend is closed")
            if self._free[cls]:
                return self._free[cls].pop()
        try:
            return self.cuda.device_array(cls, dtype="uint8")
        except Exception as exc:  # CudaAPIError (out of memory): free what the pool keeps, then try once more
            if "OUT_OF_MEMORY" not in str(exc).upper().replace(" ", "_"):
                raise
        self.trim()
        try:
            return self.cuda.device_array(cls, dtype="uint8")
        except Exception as exc:
            raise MemoryError(f"out of GPU memory for {nbytes / 2**20:.0f} MiB") from exc

    def give(self, buffer: Any) -> None:
        with self._lock:
            if not self.closed:
                self._free[buffer.size].append(buffer)

    def trim(self) -> None:
        """Free every buffer the pool keeps (memory in use stays in use)."""
        with self._lock:
            self._free.clear()

    def close(self) -> None:
        with self._lock:
            self._free.clear()
            self.closed = True


class LumaBatch:
    """One flat device buffer holding the luma planes of the photos of one decode batch."""

    def __init__(self, pool: DevicePool, nbytes: int, photos: int) -> None:
        self.pool = pool
        self.buffer = pool.take(nbytes)
        self._live = photos
        self._lock = threading.Lock()

    def plane(self, offset: int, height: int, width: int) -> Any:
        """The (height, width) view of one photo's plane."""
        return self.buffer[offset : offset + height * width].reshape(height, width)

    def release_one(self) -> None:
        """One photo of the batch is done; the last one gives the buffer back."""
        with self._lock:
            self._live -= 1
            done = self._live == 0
        if done:
            self.pool.give(self.buffer)
