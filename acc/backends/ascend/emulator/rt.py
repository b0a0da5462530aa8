"""acl.rt: device, contexts, streams, memory and copies.

In ACL_HOST run mode (an Atlas 300 card in a server, the default) host memory and device memory are
different address spaces, so every copy's kind must match where its pointers live. In ACL_DEVICE mode
(an Atlas 200 DK: the application runs on the board's own CPUs) there is one address space and the
application's memory is device memory too; acc copies with DEVICE_TO_DEVICE there, as the Ascend
samples' acllite does (python/common/acllite/acllite_utils.py).
"""

from __future__ import annotations

from acc.backends.ascend import constants as C
from acc.backends.ascend.emulator.core import AclFail, Device, Stream, api

DEVICE_ID = 0
_HOST = ("host", "borrowed")
_DEVICE = ("device", "dvpp")
_KINDS = {
    C.ACL_MEMCPY_HOST_TO_HOST: (_HOST, _HOST),
    C.ACL_MEMCPY_HOST_TO_DEVICE: (_HOST, _DEVICE),
    C.ACL_MEMCPY_DEVICE_TO_HOST: (_DEVICE, _HOST),
    C.ACL_MEMCPY_DEVICE_TO_DEVICE: (_DEVICE, _DEVICE),
}
_KIND_NAMES = {0: "HOST_TO_HOST", 1: "HOST_TO_DEVICE", 2: "DEVICE_TO_HOST", 3: "DEVICE_TO_DEVICE"}


class Rt:
    def __init__(self, dev: Device) -> None:
        self.dev = dev

    def _device_id(self, device_id: int) -> None:
        if device_id != DEVICE_ID:
            raise AclFail(C.ACL_ERROR_RT_INVALID_DEVICEID, f"device {device_id!r} does not exist (the emulator has 0)")

    @api("ret")
    def set_device(self, device_id: int) -> None:
        """Opens the device and makes its default context current for this thread."""
        self._device_id(device_id)
        if not self.dev.device_set:
            self.dev.default_context = self.dev.new("context", "default")
            self.dev.device_set = True
        self.dev.set_current(self.dev.default_context)

    @api("ret")
    def reset_device(self, device_id: int) -> None:
        self._device_id(device_id)
        if not self.dev.device_set:
            raise AclFail(C.ACL_ERROR_RT_PARAM_INVALID, "reset_device without set_device")
        self.dev.drop(self.dev.default_context, "context")
        self.dev.device_set = False
        self.dev.set_current(None)

    @api("value_ret")
    def create_context(self, device_id: int) -> int:
        self._device_id(device_id)
        if not self.dev.device_set:
            raise AclFail(C.ACL_ERROR_RT_CONTEXT_NULL, "create_context before set_device")
        ctx = self.dev.new("context", "explicit")
        self.dev.set_current(ctx)
        return ctx

    @api("ret")
    def set_context(self, context: int) -> None:
        self.dev.get(context, "context")
        self.dev.set_current(context)

    @api("ret")
    def destroy_context(self, context: int) -> None:
        if context == self.dev.default_context:
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, "the default context goes with reset_device, not destroy_context")
        owned = [h for h, s in self.dev.live("stream") if s.context == context]
        if owned:
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"context still has {len(owned)} stream(s): destroy them first")
        self.dev.drop(context, "context")

    @api("value_ret")
    def create_stream(self) -> int:
        return self.dev.new("stream", Stream(self.dev.current_context()))

    @api("ret")
    def destroy_stream(self, stream: int) -> None:
        s = self.dev.stream(stream)
        if s.tasks:
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"stream {stream:#x} has {len(s.tasks)} unsynchronised task(s)")
        self.dev.drop(stream, "stream")

    @api("ret")
    def synchronize_stream(self, stream: int) -> None:
        self.dev.synchronize(self.dev.stream(stream))

    @api("value_ret")
    def get_run_mode(self) -> int:
        return self.dev.run_mode

    @api("value_ret")
    def malloc(self, size: int, policy: int) -> int:
        self.dev.current_context()
        if policy not in (C.ACL_MEM_MALLOC_HUGE_FIRST, C.ACL_MEM_MALLOC_HUGE_ONLY, C.ACL_MEM_MALLOC_NORMAL_ONLY):
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"malloc policy {policy!r}")
        return self.dev.allocate("device", size).base

    @api("ret")
    def free(self, ptr: int) -> None:
        self.dev.current_context()
        self.dev.release(ptr, ("device",), "acl.rt.free")

    @api("value_ret")
    def malloc_host(self, size: int) -> int:
        self.dev.current_context()
        return self.dev.allocate("host", size).base

    @api("ret")
    def free_host(self, ptr: int) -> None:
        self.dev.release(ptr, ("host",), "acl.rt.free_host")

    @api("ret")
    def memcpy(self, dst: int, dest_max: int, src: int, count: int, kind: int) -> None:
        """Synchronous copy. Reading memory queued work will write gives what is there now (poison);
        writing memory queued work uses spoils that work (synchronize_stream then fails)."""
        self.dev.current_context()
        if kind not in _KINDS:
            raise AclFail(C.ACL_ERROR_RT_PARAM_INVALID, f"memcpy kind {kind!r}")
        if not isinstance(count, int) or count <= 0 or count > dest_max:
            raise AclFail(C.ACL_ERROR_RT_PARAM_INVALID, f"memcpy of {count!r} bytes into {dest_max!r}")
        src_kinds, dst_kinds = _KINDS[kind]
        if self.dev.run_mode == C.ACL_DEVICE:  # one address space: the application's memory is device memory
            src_kinds = dst_kinds = _HOST + _DEVICE
        src_block = self.dev.find(src, count, "memcpy source")
        dst_block = self.dev.find(dst, dest_max, "memcpy destination")
        for block, kinds, side in ((src_block, src_kinds, "source"), (dst_block, dst_kinds, "destination")):
            if block.kind not in kinds:
                raise AclFail(C.ACL_ERROR_RT_PARAM_INVALID,
                              f"memcpy {_KIND_NAMES[kind]}: the {side} is {block.kind} memory")  # fmt: skip
        if dst_block.readonly:
            raise AclFail(C.ACL_ERROR_RT_PARAM_INVALID, "memcpy destination is an immutable bytes object")
        data = src_block.view(src, count).copy()
        self.dev.host_wrote(dst_block, dst - dst_block.base, count)
        dst_block.view(dst, count)[:] = data
