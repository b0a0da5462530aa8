"""An emulator of the part of CANN's `acl` module (pyacl) that acc uses, for machines without an Ascend.

    acl = Emulator("Ascend310")      # or "Ascend310P3"; run_mode=ACL_DEVICE plays an Atlas 200 DK

It keeps pyacl's names, arguments and return shapes, and enforces what the CANN documentation and ACL
sources state, failing the way the real library does: a non-zero return code (the documented one), at
the call for what the host-side library checks and at acl.rt.synchronize_stream for what the device
checks, with the reason in acl.get_recent_err_msg(). Enforced:

- call order and lifetimes: acl.init first; a current context per thread (acl.rt.set_context) for
  anything touching the device; streams used only in their context; handles used only while alive
  and as what they are (a picture description is not a channel); a channel description outlives its
  channel (148051);
- memory kinds: device (rt.malloc), DVPP (media.dvpp_malloc), host (rt.malloc_host, util.bytes_to_ptr);
  separate address spaces in ACL_HOST run mode (memcpy's kind must match where its pointers live), one
  in ACL_DEVICE mode (where load_from_mem takes device memory); DVPP work takes DVPP memory only; frees
  must match allocations; ranges must lie inside one allocation;
- util.bytes_to_ptr: bytes only (ValueError), and a pointer into a bytes object that has since been
  freed raises EmulatorFault (pyACL keeps no reference to it);
- DVPP rules per SoC (see emulator/media.py): JPEGD supported streams, sizes, EXIF orientation, odd
  sizes and output strides; VPC even sizes, stride alignment, size limits, scale range and
  interpolations; JPEGE sizes, strides, 128-byte alignment, quality range;
- asynchrony: *_async calls and operator executions only queue work; their outputs hold poison (NaN
  for float data, noise otherwise) until acl.rt.synchronize_stream runs them in order; memory freed or
  overwritten while queued work uses it makes that synchronize fail; a model run on an input queued
  work is still writing fails;
- single operators: found by op type + tensor descriptions + attributes exactly as compiled in the
  single-op JSON (emulator/op.py);
- leaks: acl.finalize returns success, as CANN's does, then raises EmulatorLeak listing every
  allocation, description, channel, stream, context, model, dataset and handle still alive.

What it computes: JPEG decoding and encoding with libjpeg-turbo (simplejpeg), VPC resizing with OpenCV,
the model with ONNX Runtime from the registry's ONNX file (in place of the .om), the custom operators
with their own TBE code on numpy (kernels/ascend/tbe_numpy.py, each chip's DSL rules). Timings mean
nothing. Emulator.fail_next lets tests make the device report a failure.
"""

from __future__ import annotations

from acc.backends.ascend import constants as C
from acc.backends.ascend.emulator.core import AclFail, Device, EmulatorFault, EmulatorLeak, api
from acc.backends.ascend.emulator.mdl import DEFAULT_BATCHES, Mdl
from acc.backends.ascend.emulator.media import Media
from acc.backends.ascend.emulator.op import Desc, Op
from acc.backends.ascend.emulator.rt import Rt
from acc.kernels.ascend.socs import DEFAULT_SOC


class Util:
    def __init__(self, dev: Device) -> None:
        self.dev = dev

    def bytes_to_ptr(self, data: bytes) -> int:
        with self.dev.lock:
            return self.dev.borrow(data)

    def ptr_to_bytes(self, ptr: int, size: int) -> bytes:
        """Reads the application's memory; given another pointer the real function reads garbage or crashes."""
        with self.dev.lock:
            try:
                block = self.dev.find_kind(ptr, size, self.dev.app_memory, "acl.util.ptr_to_bytes")
            except AclFail as fail:
                raise EmulatorFault(fail.message) from None
            return block.view(ptr, size).tobytes()


class Emulator:
    def __init__(self, soc: str = DEFAULT_SOC, threads: int = 0, batches: tuple[int, ...] = DEFAULT_BATCHES,
                 run_mode: int = C.ACL_HOST) -> None:  # fmt: skip
        """threads: ONNX Runtime's intra-op threads for the model (0: its default); batches: the batch
        sizes the emulated .om is built for (emulator/mdl.py); run_mode: where the application runs,
        ACL_HOST (a server with an Atlas 300 card) or ACL_DEVICE (on an Atlas 200 DK itself)."""
        self.dev = Device(soc, run_mode)
        self.rt = Rt(self.dev)
        self.media = Media(self.dev)
        self.mdl = Mdl(self.dev, threads, batches)
        self.op = Op(self.dev)
        self.util = Util(self.dev)
        self.last_leaks: list[str] = []

    def fail_next(self, task: str, code: int = C.ACL_ERROR_RT_AICPU_EXCEPTION) -> None:
        """Test hook: the next queued work named `task` ("JPEGD", "VPC resize", "JPEGE", an op type) fails on
        the device, reported by synchronize_stream with `code`. The documented rules cannot provoke every
        device-side failure (a stream JPEGD's hardware cannot decode, say); this lets tests see how the
        caller copes with one."""
        with self.dev.lock:
            self.dev.faults.setdefault(task, []).append(code)

    @api("ret", needs_init=False)
    def init(self, config_path: str | None = None) -> None:
        if self.dev.initialized:
            raise AclFail(C.ACL_ERROR_REPEAT_INITIALIZE, "acl.init called twice")
        self.dev.initialized = True

    @api("ret", needs_init=False)
    def finalize(self) -> None:
        """Returns success as CANN does; anything still alive raises EmulatorLeak (CANN documents no code)."""
        if not self.dev.initialized:
            raise AclFail(C.ACL_ERROR_REPEAT_FINALIZE, "acl.finalize without acl.init")
        self.last_leaks = self.leaks()
        self.dev.reset()  # everything the process held is gone
        if self.last_leaks:
            raise EmulatorLeak(f"still alive at acl.finalize: {'; '.join(self.last_leaks)}")

    def leaks(self) -> list[str]:
        """Everything still alive: handles by kind, allocations by kind, an open device."""
        with self.dev.lock:
            found = [f"{kind} {h:#x}" for h, (kind, _) in self.dev.handles.items()
                     if not (kind == "context" and h == self.dev.default_context)]  # fmt: skip
            blocks = [b for b in self.dev.blocks.values() if b.kind != "borrowed"]
            found += [f"{b.kind} memory {b.base:#x} ({b.size} bytes)" for b in blocks]
            if self.dev.device_set:
                found.append("device 0 (acl.rt.reset_device not called)")
            return found

    def get_soc_name(self) -> str:
        return self.dev.soc.name

    def get_recent_err_msg(self) -> str:
        return self.dev.error_message

    @api("value")
    def create_data_buffer(self, ptr: int, size: int) -> int:
        return self.dev.new("data_buffer", (ptr, size))

    @api("ret")
    def destroy_data_buffer(self, buffer: int) -> None:
        self.dev.drop(buffer, "data_buffer")

    @api("value")
    def create_tensor_desc(self, dtype: int, dims: list[int], fmt: int) -> int:
        if dtype not in C.DTYPE_NAMES or fmt not in C.FORMAT_NAMES:
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"tensor dtype {dtype!r} / format {fmt!r}")
        return self.dev.new("tensor_desc", Desc(C.DTYPE_NAMES[dtype], tuple(int(d) for d in dims), C.FORMAT_NAMES[fmt]))

    @api("void")
    def destroy_tensor_desc(self, desc: int) -> None:
        self.dev.drop(desc, "tensor_desc")

    @api("value")
    def get_tensor_desc_size(self, desc: int) -> int:
        return self.dev.get(desc, "tensor_desc").size


__all__ = ["AclFail", "Emulator", "EmulatorFault", "EmulatorLeak"]
