"""Single operators on the AI Core, by the signatures of kernels/ascend/singleop.py.

acl.op finds an operator by type + tensor descriptions + attributes exactly as `atc --singleop` compiled
them, so the descriptions made here come from the same functions that write the single-op JSON. Each
signature's handle (acl.op.create_handle, the fast repeat path) is made on first use and kept until
close; data buffers live until the lane's next sync, as the queued execution reads them.
"""

from __future__ import annotations

import threading
from pathlib import Path

from acc.backends.ascend import constants as C
from acc.backends.ascend.acl_api import Acl, AclError
from acc.backends.ascend.lanes import Lane
from acc.backends.ascend.runtime import Runtime
from acc.kernels.ascend.singleop import OpSpec

_SETTERS = {"float": "op.set_attr_float", "bool": "op.set_attr_bool", "int": "op.set_attr_int",
            "list_int": "op.set_attr_list_int"}  # pyACL op/op.cpp: the list form takes a Python list


class Ops:
    def __init__(self, runtime: Runtime, model_dir: Path) -> None:
        self.acl: Acl = runtime.acl
        self.acl("op.set_model_dir", str(model_dir))
        self._lock = threading.Lock()
        self._handles: dict[OpSpec, int] = {}
        self._owned: list[tuple[str, int]] = []  # (void destroy function, object), for close
        runtime.defer(self.close)

    def _create(self, spec: OpSpec) -> int:
        acl, owned = self.acl, []
        try:
            attr = acl.handle("op.create_attr")
            owned.append(("op.destroy_attr", attr))
            for a in spec.attrs:
                acl(_SETTERS[a.type], attr, a.name, a.json_value)
            descs = []
            for t in (*spec.inputs, *spec.outputs):
                dtype, fmt = C.DTYPE_CODES[t.dtype], C.FORMAT_CODES[t.format]
                descs.append(acl.handle("create_tensor_desc", dtype, list(t.shape), fmt))
                owned.append(("destroy_tensor_desc", descs[-1]))
            handle = acl("op.create_handle", spec.op, descs[: len(spec.inputs)], descs[len(spec.inputs) :], attr)
            owned.append(("op.destroy_handle", handle))
            return handle
        finally:
            self._owned.extend(owned)  # released at close, whether or not the handle was made

    def handle(self, spec: OpSpec) -> int:
        with self._lock:
            if spec not in self._handles:
                self._handles[spec] = self._create(spec)
            return self._handles[spec]

    def probe(self, spec: OpSpec) -> AclError | None:
        """Whether the operator was compiled: its handle is made now (and kept), or the lookup's error."""
        try:
            self.handle(spec)
        except AclError as exc:
            return exc
        return None

    def launch(self, lane: Lane, spec: OpSpec, inputs: list[tuple[int, int]], outputs: list[tuple[int, int]]) -> None:
        """Queue spec on the lane's stream; inputs and outputs are (device pointer, bytes)."""
        handle = self.handle(spec)
        buffers = []
        for ptr, size in (*inputs, *outputs):
            buffers.append(self.acl.handle("create_data_buffer", ptr, size))
            lane.after_sync(self.acl, "destroy_data_buffer", buffers[-1])
        self.acl("op.execute_with_handle", handle, buffers[: len(inputs)], buffers[len(inputs) :], lane.stream)

    def close(self) -> None:
        with self._lock:
            owned, self._owned = self._owned, []
            self._handles.clear()
        for destroy, obj in reversed(owned):
            self.acl.void(destroy, obj)
