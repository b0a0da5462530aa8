"""The emulated device: handles, memory, contexts, streams, and the call convention of pyacl.

Every emulated API function is wrapped by `api`: it runs under one lock, checks acl.init was called,
and turns an `AclFail` raised anywhere inside into the return code the real function would give, in
the real function's return shape (`ret`, `(value, ret)`, a bare value, or nothing). The reason goes to
acl.get_recent_err_msg(), as CANN does.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from acc.backends.ascend import constants as C
from acc.kernels.ascend.socs import soc as soc_info

DEVICE_BASE = 1 << 48  # emulated device addresses lie above any host address a 48-bit CPU hands out
DVPP_BASE = 2 << 48
ALIGN = 128  # rt.malloc and dvpp_malloc return 128-byte aligned memory
GUARD = 4096  # gap between emulated allocations, so an overrun never lands in a neighbour
FREED_KEEP = 4096  # freed bytes_to_ptr buffers remembered, to name a use after free as such


class AclFail(Exception):
    """An emulated call failing: the return code and why."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{C.ERROR_NAMES.get(code, code)} ({code}): {message}")
        self.code = code
        self.message = message


class EmulatorFault(Exception):
    """A call the real library has no return code for and would crash or corrupt memory on."""


class EmulatorLeak(EmulatorFault):
    """acl.finalize with resources still alive. CANN documents no return code for that (it returns
    success), so the emulator raises this instead, listing them."""


@dataclass
class Block:
    base: int
    size: int
    kind: str  # "device" | "dvpp" | "host" (malloc_host) | "borrowed" (bytes_to_ptr)
    data: np.ndarray  # uint8 view of the memory
    readonly: bool = False
    owner: bytes | None = None  # borrowed: the bytes object the pointer points into

    def view(self, ptr: int, size: int) -> np.ndarray:
        off = ptr - self.base
        return self.data[off : off + size]

    @property
    def freed(self) -> bool:
        """Borrowed memory whose bytes object only the emulator still references: CPython would have freed it."""
        return self.owner is not None and self._owner_refs() <= _OWNER_REFS

    def _owner_refs(self) -> int:
        return sys.getrefcount(self.owner)


def _count_owner_refs() -> int:
    """The count Block.freed sees for a bytes object held by a Block alone (its owner field and its numpy
    view's base), measured rather than assumed: CPython versions differ in what getrefcount counts."""
    data = b"%d" % id(object())  # a fresh object, not a cached constant
    block = Block(0, len(data), "borrowed", np.frombuffer(data, np.uint8), owner=data)
    del data
    return block._owner_refs()


_OWNER_REFS = _count_owner_refs()


@dataclass
class Task:
    """Work queued on a stream: checked when queued, executed at synchronize_stream."""

    name: str
    run: Callable[[], None]
    reads: list[tuple[Block, int, int]]
    writes: list[tuple[Block, int, int]]
    fail_code: int
    spoiled: str | None = None  # why it can no longer run correctly (memory freed or overwritten meanwhile)


@dataclass
class Stream:
    context: int
    tasks: list[Task] = field(default_factory=list)


class Device:
    """State of one emulated process: one device (id 0) of one SoC."""

    def __init__(self, soc_name: str, run_mode: int = C.ACL_HOST) -> None:
        if run_mode not in (C.ACL_HOST, C.ACL_DEVICE):
            raise ValueError(f"run mode {run_mode!r}: ACL_HOST ({C.ACL_HOST}) or ACL_DEVICE ({C.ACL_DEVICE})")
        self.soc = soc_info(soc_name)
        self.run_mode = run_mode
        self.lock = threading.RLock()
        self.faults: dict[str, list[int]] = {}  # task name -> codes its next runs fail with (Emulator.fail_next)
        self.reset()

    def reset(self) -> None:
        """The state of a process that has not called acl.init (acl.finalize returns here)."""
        self.initialized = False
        self.error_message = ""
        self._local = threading.local()
        self._ids = itertools.count(0x7000_0000, 16)
        self.handles: dict[int, tuple[str, Any]] = {}
        self.blocks: dict[int, Block] = {}
        self._bases: list[int] = []
        self._next = {"device": DEVICE_BASE, "dvpp": DVPP_BASE}
        self._borrowed: dict[int, Block] = {}
        self._freed: OrderedDict[int, int] = OrderedDict()  # base -> size of bytes objects since freed
        self.device_set = False
        self.default_context: int | None = None
        # op type -> input descriptions -> OpSpecs loaded by acl.op.set_model_dir
        self.compiled: dict[str, dict[tuple, list]] = {}
        self._rng = np.random.default_rng(0xACC)

    # --- handles ----------------------------------------------------------------------------------------
    def new(self, kind: str, obj: Any) -> int:
        handle = next(self._ids)
        self.handles[handle] = (kind, obj)
        return handle

    def get(self, handle: Any, kind: str) -> Any:
        entry = self.handles.get(handle) if isinstance(handle, int) else None
        if entry is None or entry[0] != kind:
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"{handle!r} is not a live {kind}")
        return entry[1]

    def drop(self, handle: Any, kind: str) -> Any:
        obj = self.get(handle, kind)
        del self.handles[handle]
        return obj

    def live(self, kind: str) -> list[tuple[int, Any]]:
        return [(h, obj) for h, (k, obj) in self.handles.items() if k == kind]

    # --- threads and contexts ---------------------------------------------------------------------------
    def current_context(self) -> int:
        ctx = getattr(self._local, "context", None)
        if ctx is None or ctx not in self.handles:
            raise AclFail(C.ACL_ERROR_RT_CONTEXT_NULL, "this thread has no current context (acl.rt.set_context)")
        return ctx

    def set_current(self, context: int | None) -> None:
        self._local.context = context

    def stream(self, handle: Any) -> Stream:
        stream = self.get(handle, "stream")
        if stream.context != self.current_context():
            raise AclFail(C.ACL_ERROR_RT_STREAM_CONTEXT, f"stream {handle:#x} belongs to another context")
        return stream

    # --- memory -----------------------------------------------------------------------------------------
    def allocate(self, kind: str, size: Any) -> Block:
        if not isinstance(size, int) or size <= 0:
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"allocation size {size!r}")
        data = np.empty(size, np.uint8)
        if kind == "host":
            base = data.ctypes.data  # host memory: a real address, as malloc_host returns
        else:
            base = self._next[kind]
            self._next[kind] = base + -(-(size + GUARD) // ALIGN) * ALIGN
        self.poison(data)
        block = Block(base, size, kind, data)
        self._insert(block)
        return block

    @property
    def app_memory(self) -> tuple[str, ...]:
        """Memory kinds the application's own code can touch: its process memory; on the device itself
        (ACL_DEVICE: Atlas 200 DK) that process runs on the device, so device memory too."""
        host = ("host", "borrowed")
        return host if self.run_mode == C.ACL_HOST else (*host, "device", "dvpp")

    def borrow(self, obj: Any) -> int:
        """bytes_to_ptr: the address of a bytes object's buffer. pyACL (util/bytes_convert.cpp) takes bytes only
        (ValueError otherwise) and keeps no reference: the pointer is valid while the caller holds the object.
        The emulator holds it too, to notice (Block.freed) when no one else does."""
        if not isinstance(obj, bytes):
            raise ValueError(f"acl.util.bytes_to_ptr needs bytes, got {type(obj).__name__}")
        self._sweep()
        data = np.frombuffer(obj, np.uint8)
        base = data.ctypes.data if data.size else id(obj)
        if base in self.blocks and self.blocks[base].kind != "borrowed":
            raise EmulatorFault(f"bytes_to_ptr address {base:#x} collides with live host memory")
        old = self._borrowed.pop(base, None)
        if old is not None:
            self._remove(old)
        self._freed.pop(base, None)
        block = Block(base, data.size, "borrowed", data, readonly=True, owner=obj)
        self._insert(block)
        self._borrowed[base] = block
        return base

    def _sweep(self) -> None:
        """Let go of bytes objects no one else holds (their addresses may be reused), remembering where they were."""
        for base, block in list(self._borrowed.items()):
            if block.freed:
                del self._borrowed[base]
                self._remove(block)
                self._freed[base] = block.size
        while len(self._freed) > FREED_KEEP:
            self._freed.popitem(last=False)

    def _freed_fault(self, ptr: int, what: str) -> EmulatorFault:
        return EmulatorFault(f"{what}: {ptr:#x} points into a bytes object that has been freed; keep the object "
                             "given to acl.util.bytes_to_ptr referenced for as long as its pointer is used")

    def release(self, ptr: Any, kinds: tuple[str, ...], caller: str) -> None:
        block = self.blocks.get(ptr) if isinstance(ptr, int) else None
        if block is None or block.kind == "borrowed":
            raise AclFail(C.ACL_ERROR_RT_MEMORY_FREE, f"{caller}: {ptr!r} is not the start of a live allocation")
        if block.kind not in kinds:
            frees = " or ".join(kinds)
            raise AclFail(C.ACL_ERROR_RT_INVALID_MEMORY_TYPE,
                          f"{caller} given {block.kind} memory at {ptr:#x} (it frees {frees} memory)")  # fmt: skip
        self._spoil(block, 0, block.size, f"memory at {ptr:#x} was freed before the stream ran")
        self._remove(block)

    def _insert(self, block: Block) -> None:
        self.blocks[block.base] = block
        bisect.insort(self._bases, block.base)

    def _remove(self, block: Block) -> None:
        del self.blocks[block.base]
        self._bases.pop(bisect.bisect_left(self._bases, block.base))

    def find(self, ptr: Any, size: int, what: str) -> Block:
        """The allocation holding [ptr, ptr + size), or a failure naming `what`."""
        if not isinstance(ptr, int) or ptr == 0:
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"{what}: null or non-integer pointer {ptr!r}")
        i = bisect.bisect_right(self._bases, ptr) - 1
        block = self.blocks[self._bases[i]] if i >= 0 else None
        if block is None or ptr >= block.base + block.size:
            if any(base <= ptr < base + n for base, n in self._freed.items()):
                raise self._freed_fault(ptr, what)
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"{what}: {ptr:#x} is not inside any live allocation")
        if block.freed:
            raise self._freed_fault(ptr, what)
        if size < 0 or ptr + size > block.base + block.size:
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"{what}: {size} bytes at {ptr:#x} overrun its "
                          f"{block.size}-byte {block.kind} allocation")  # fmt: skip
        return block

    def peek(self, ptr: Any, size: int) -> Block | None:
        """The allocation holding the range, or None: for tracking what queued work touches, where a bad
        pointer is the device's to report (at synchronize), not the caller's."""
        try:
            return self.find(ptr, size, "")
        except (AclFail, EmulatorFault):
            return None

    def find_kind(self, ptr: Any, size: int, kinds: tuple[str, ...], what: str) -> Block:
        block = self.find(ptr, size, what)
        if block.kind not in kinds:
            needs = " or ".join(kinds)
            raise AclFail(C.ACL_ERROR_INVALID_PARAM,
                          f"{what}: {ptr:#x} is {block.kind} memory; this needs {needs} memory")  # fmt: skip
        return block

    def poison(self, data: np.ndarray, floats: bool = False) -> None:
        """What memory holds before anything is written there: NaN bytes for float data, noise otherwise."""
        if floats:
            data[:] = 0xFF
        else:
            data[:] = self._rng.integers(0, 256, data.size, dtype=np.uint8)

    # --- streams ----------------------------------------------------------------------------------------
    def enqueue(self, stream: Stream, task: Task, float_writes: bool = False) -> None:
        for block, off, n in task.writes:
            self.poison(block.data[off : off + n], float_writes)
        codes = self.faults.get(task.name)
        if codes:
            code = codes.pop(0)

            def fail() -> None:
                raise AclFail(code, "injected device-side failure (Emulator.fail_next)")

            task.run = fail
        stream.tasks.append(task)

    def _pending(self) -> list[Task]:
        return [t for _, s in self.live("stream") for t in s.tasks]

    def _spoil(self, block: Block, off: int, n: int, why: str) -> None:
        for task in self._pending():
            for b, o, m in task.reads + task.writes:
                if b is block and o < off + n and off < o + m:
                    task.spoiled = task.spoiled or f"{task.name}: {why}"

    def host_wrote(self, block: Block, off: int, n: int) -> None:
        """A synchronous write (memcpy) into memory queued work still reads or writes: a race."""
        self._spoil(block, off, n, f"{block.kind} memory at {block.base + off:#x} was overwritten while queued")

    def pending_write(self, block: Block, off: int, n: int) -> Task | None:
        for task in self._pending():
            for b, o, m in task.writes:
                if b is block and o < off + n and off < o + m:
                    return task
        return None

    def synchronize(self, stream: Stream) -> None:
        tasks, stream.tasks = stream.tasks, []
        for task in tasks:
            if task.spoiled:
                raise AclFail(task.fail_code, task.spoiled)
            try:
                task.run()
            except AclFail as fail:
                raise AclFail(task.fail_code, f"{task.name}: {fail.message}") from None

    def record(self, fail: AclFail) -> None:
        self.error_message = fail.message


def api(shape: str, arity: int = 1, needs_init: bool = True) -> Callable:
    """Give an emulated function pyacl's call convention.

    shape: "ret" -> ret; "value_ret" -> (value, ret) or (*values, ret) when arity > 1;
           "value" -> value (0 on failure); "void" -> None.
    """

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def call(self: Any, *args: Any) -> Any:
            dev: Device = self.dev
            with dev.lock:
                try:
                    if needs_init and not dev.initialized:
                        raise AclFail(C.ACL_ERROR_UNINITIALIZE, "acl.init has not been called")
                    result = fn(self, *args)
                except AclFail as fail:
                    dev.record(fail)
                    return {"ret": fail.code, "value": 0, "void": None}.get(shape, (*([0] * arity), fail.code))
            if shape == "ret":
                return C.ACL_SUCCESS
            if shape == "value_ret":
                return (*result, C.ACL_SUCCESS) if arity > 1 else (result, C.ACL_SUCCESS)
            return result if shape == "value" else None

        return call

    return wrap
