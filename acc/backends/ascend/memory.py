"""Device memory for the backend: a pool per memory kind, and copies between host and device.

Three kinds, never interchangeable: "dvpp" (acl.media.dvpp_malloc: what JPEGD, VPC and JPEGE read and
write), "device" (acl.rt.malloc: operator and model tensors) and "host" (acl.rt.malloc_host: staging
for downloads). Freed buffers are kept by size class for reuse, up to a byte budget, since photos of
one batch tend to share sizes and device allocation is slow; close() frees everything, lent or not.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass

from acc.backends.ascend import constants as C
from acc.backends.ascend.acl_api import Acl
from acc.backends.ascend.runtime import Runtime

_ALLOC = {
    "device": lambda acl, n: acl("rt.malloc", n, C.ACL_MEM_MALLOC_HUGE_FIRST),
    "dvpp": lambda acl, n: acl("media.dvpp_malloc", n),
    "host": lambda acl, n: acl("rt.malloc_host", n),
}
_FREE = {"device": "rt.free", "dvpp": "media.dvpp_free", "host": "rt.free_host"}


@dataclass(frozen=True)
class Buffer:
    ptr: int
    size: int  # what was asked for; the allocation may be larger (its size class)
    kind: str


def size_class(size: int) -> int:
    """Round up to a quarter of the enclosing power of two (at most 25% unused), at least 4 KiB."""
    size = max(size, 4096)
    step = 1 << max(size.bit_length() - 3, 0)
    return -(-size // step) * step


class MemoryPool:
    def __init__(self, runtime: Runtime, keep_bytes: int = 512 << 20) -> None:
        self.runtime = runtime
        self.acl: Acl = runtime.acl
        self.keep_bytes = keep_bytes
        self._lock = threading.Lock()
        self._free: dict[tuple[str, int], list[int]] = defaultdict(list)
        self._kept = 0
        self._owned: dict[int, tuple[str, int]] = {}  # every live allocation: ptr -> (kind, class size)
        self._closed = False
        runtime.defer(self.close)

    def take(self, kind: str, size: int) -> Buffer:
        cls = size_class(size)
        with self._lock:
            if self._free[(kind, cls)]:
                self._kept -= cls
                return Buffer(self._free[(kind, cls)].pop(), size, kind)
        self.runtime.bind_thread()  # whichever thread asks: pyacl contexts are per thread
        ptr = _ALLOC[kind](self.acl, cls)
        with self._lock:
            self._owned[ptr] = (kind, cls)
        return Buffer(ptr, size, kind)

    def give(self, buffer: Buffer) -> None:
        if self._closed:
            return  # close() freed it already
        kind, cls = self._owned[buffer.ptr]
        with self._lock:
            if self._kept + cls <= self.keep_bytes:
                self._free[(kind, cls)].append(buffer.ptr)
                self._kept += cls
                return
            del self._owned[buffer.ptr]
        self.runtime.bind_thread()
        self.acl(_FREE[kind], buffer.ptr)

    def upload(self, buffer: Buffer, data: bytes, offset: int = 0) -> None:
        """Synchronous host -> device copy of `data` (bytes: what bytes_to_ptr takes; it is held for the whole
        copy) into buffer at offset."""
        self.runtime.bind_thread()
        src = self.acl.raw.util.bytes_to_ptr(data)
        self.acl("rt.memcpy", buffer.ptr + offset, buffer.size - offset, src, len(data), self.runtime.h2d)

    def download(self, buffer: Buffer, size: int, offset: int = 0) -> bytes:
        """Synchronous device -> host copy of `size` bytes at offset, through pinned host memory."""
        staging = self.take("host", size)
        try:
            self.acl("rt.memcpy", staging.ptr, size, buffer.ptr + offset, size, self.runtime.d2h)
            return self.acl.raw.util.ptr_to_bytes(staging.ptr, size)
        finally:
            self.give(staging)

    def copy(self, dst: Buffer, src: Buffer, size: int, dst_offset: int = 0, src_offset: int = 0) -> None:
        """Synchronous device -> device copy."""
        self.runtime.bind_thread()
        self.acl("rt.memcpy", dst.ptr + dst_offset, dst.size - dst_offset, src.ptr + src_offset, size,
                 C.ACL_MEMCPY_DEVICE_TO_DEVICE)  # fmt: skip

    def close(self) -> None:
        with self._lock:
            owned, self._owned = self._owned, {}
            self._closed = True
            self._free.clear()
            self._kept = 0
        for ptr, (kind, _) in owned.items():
            self.acl(_FREE[kind], ptr)
