"""Device memory of the cuda backend: a pool of flat byte buffers, the arrays cut from them, and the
per-thread staging of the small per-photo numbers each launch takes. No batch allocates device memory
once the pool is warm: an allocation or a free (cuMemAlloc, cuMemFree) can make the whole device wait
(numba-cuda's memory docs; the CUDA programming guide's implicit synchronization), which would stall the
other threads' streams once a batch.

    DevicePool  flat uint8 device buffers by size class (powers of two from 1 MiB); a buffer given back
                with the events of its last uses is handed out again only once they have completed, so
                work still queued on another stream never sees it reused
    LumaBatch   one decode batch's luma planes, side by side in one pool buffer (the layout the kernels
                take); back to the pool when the last of its photos is released
    Pooled      a device array (model inputs, a gathered batch, predictions) in a pool buffer, back to the
                pool when nothing refers to it any more, after the events of its uses
    Staging     per thread: offsets and sizes for a launch, packed in one pinned host array and copied
                in one transfer into one device array, both reused from launch to launch

close() frees every buffer the pool keeps.
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from types import ModuleType
from typing import Any

import numpy as np

from acc.kernels.cuda import target

MIN_CLASS = 1 << 20
MIN_STAGING = 1024  # int64 values: the per-photo numbers of a batch of 256 photos


def size_class(nbytes: int) -> int:
    return max(MIN_CLASS, 1 << (max(1, nbytes) - 1).bit_length())


class DevicePool:
    """Flat uint8 device buffers by size class. take() -> a buffer of at least n bytes; give() it back."""

    def __init__(self, cuda: ModuleType) -> None:
        self.cuda = cuda
        self._free: dict[int, list[tuple[Any, tuple[Any, ...]]]] = defaultdict(list)
        self._lock = threading.Lock()
        self.closed = False

    def take(self, nbytes: int) -> Any:
        """A device buffer of at least nbytes, free of pending work; MemoryError when the device has no room
        even after the pool has freed what it keeps."""
        cls = size_class(nbytes)
        with self._lock:
            if self.closed:
                raise RuntimeError("backend is closed")
            reused = self._free[cls].pop() if self._free[cls] else None
        if reused is not None:
            buffer, uses = reused
            for event in uses:
                event.synchronize()  # its last users are long done, as a rule: then this returns at once
            return buffer
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

    def give(self, buffer: Any, uses: tuple[Any, ...] = ()) -> None:
        """Back into the pool; `uses`: events recorded after the buffer's last uses on the GPU, if any are
        still queued (take() waits for them)."""
        with self._lock:
            if not self.closed:
                self._free[buffer.size].append((buffer, tuple(uses)))

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
        self._uses: list[Any] = []
        self._lock = threading.Lock()

    def plane(self, offset: int, height: int, width: int) -> Any:
        """The (height, width) view of one photo's plane."""
        return self.buffer[offset : offset + height * width].reshape(height, width)

    def used(self, event: Any) -> None:
        """`event` was recorded after work on the planes (a decode, a kernel): the buffer waits for it."""
        with self._lock:
            self._uses.append(event)

    def release_one(self) -> None:
        """One photo of the batch is done; the last one gives the buffer back."""
        with self._lock:
            self._live -= 1
            done = self._live == 0
        if done:
            self.pool.give(self.buffer, tuple(self._uses))


class Pooled:
    """A C-contiguous device array of `shape` and `dtype` in a pool buffer. The buffer goes back to the pool
    when this object is garbage, after the events given to used(): keep this object (not only `array` or
    views of it) for as long as the array is read."""

    def __init__(self, pool: DevicePool, shape: tuple[int, ...], dtype: type) -> None:
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        buffer = pool.take(nbytes)
        self.array = buffer[:nbytes].view(dtype).reshape(shape)
        self._uses: list[Any] = []
        weakref.finalize(self, _give_back, pool, buffer, self._uses)

    def used(self, event: Any) -> None:
        """`event` was recorded after a use of the array on some stream: the buffer waits for it."""
        self._uses.append(event)


def _give_back(pool: DevicePool, buffer: Any, uses: list[Any]) -> None:
    pool.give(buffer, tuple(uses))


class Staging:
    """The per-photo numbers of one launch (offsets, sizes), uploaded in one transfer from pinned memory:
    upload(columns) -> one device vector per column. One per thread: its arrays are reused by the thread's
    next launch, queued on the same stream behind this one."""

    def __init__(self, cuda: ModuleType) -> None:
        self.cuda = cuda
        self._host: Any = None
        self._device: Any = None
        self._copied = target.event()  # recorded after each copy out of the pinned array

    def upload(self, columns: list[list[int]], stream: Any) -> list[Any]:
        n = len(columns[0])
        need = len(columns) * n
        self._copied.synchronize()  # the pinned array is about to be overwritten (at once if never recorded)
        if self._host is None or self._host.size < need:
            size = max(need, MIN_STAGING, 2 * (0 if self._host is None else self._host.size))
            self._host = self.cuda.pinned_array(size, np.int64)
            self._device = self.cuda.device_array(size, np.int64)
        for k, column in enumerate(columns):
            self._host[k * n : (k + 1) * n] = column
        self._device[:need].copy_to_device(self._host[:need], stream=stream)
        self._copied.record(stream)
        return [self._device[k * n : (k + 1) * n] for k in range(len(columns))]
