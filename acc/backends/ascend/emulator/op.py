"""acl.op: single operators found by op type + tensor descriptions + attributes, exactly as compiled.

acl.op.set_model_dir loads what `atc --singleop` compiled. There is no ATC here, so the emulator loads
the single-op JSON itself (every *.json up to three directory levels down, as set_model_dir searches
for .om files) and treats each entry as a compiled operator. A call whose type, input or output
descriptions (dtype, shape, format) or attributes (name, type, value) differ from every compiled entry
fails with the code the real lookup gives.

Custom operators (LabL, AbMergeY, AbMergeChroma, ChromaToU8) run their TBE compute through
kernels/ascend/tbe_numpy.py; the stock ones acc uses are numpy: Cast, MatMul and BatchMatMul with the
device's float16 arithmetic (float16 in, float32 accumulation, float16 out), ReduceSumD (float32 sums)
and TransposeD.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acc.backends.ascend import constants as C
from acc.backends.ascend.emulator.core import AclFail, Device, Task, api
from acc.kernels.ascend import tbe_numpy
from acc.kernels.ascend.singleop import Attr, OpSpec, Tensor

_NP = {"float16": np.float16, "float32": np.float32, "uint8": np.uint8, "int32": np.int32}


@dataclass(frozen=True)
class Desc:
    dtype: str
    shape: tuple[int, ...]
    format: str

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(_NP[self.dtype]).itemsize


def _spec_of(entry: dict) -> OpSpec:
    tensor = lambda d: Tensor(d.get("name", ""), d["type"], tuple(d["shape"]), d["format"])  # noqa: E731
    attrs = tuple(Attr(a["name"], a["type"], tuple(a["value"]) if a["type"] == "list_int" else a["value"])
                  for a in entry.get("attr", []))  # fmt: skip
    return OpSpec(entry["op"], tuple(map(tensor, entry["input_desc"])), tuple(map(tensor, entry["output_desc"])), attrs)


def _matmul(x1: np.ndarray, x2: np.ndarray, t1: bool, t2: bool) -> np.ndarray:
    a = np.swapaxes(x1, -1, -2) if t1 else x1
    b = np.swapaxes(x2, -1, -2) if t2 else x2
    return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)


def _stock(spec: OpSpec, inputs: Sequence[np.ndarray], soc: str) -> list[np.ndarray]:
    attrs = {a.name: a.value for a in spec.attrs}
    if spec.op == "Cast":
        return [inputs[0].astype(_NP[spec.outputs[0].dtype])]
    if spec.op == "MatMul":
        return [_matmul(*inputs, attrs["transpose_x1"], attrs["transpose_x2"])]
    if spec.op == "BatchMatMul":
        return [_matmul(*inputs, attrs["adj_x1"], attrs["adj_x2"])]
    if spec.op == "ReduceSumD":
        return [np.sum(inputs[0], axis=attrs["axes"], keepdims=attrs["keep_dims"], dtype=inputs[0].dtype)]
    return [np.transpose(inputs[0], attrs["perm"])]  # TransposeD


IMPLEMENTATIONS: dict[str, Callable[[OpSpec, Sequence[np.ndarray], str], list[np.ndarray]]] = {
    **dict.fromkeys(("Cast", "MatMul", "BatchMatMul", "ReduceSumD", "TransposeD"), _stock),
    **dict.fromkeys(tbe_numpy.CUSTOM_OPS, tbe_numpy.run_op),
}


class Op:
    def __init__(self, dev: Device) -> None:
        self.dev = dev

    @api("ret")
    def set_model_dir(self, path: str) -> None:
        root = Path(path)
        if not root.is_dir():
            raise AclFail(C.ACL_ERROR_INVALID_FILE, f"operator model folder {path} does not exist")
        files = [f for depth in ("*.json", "*/*.json", "*/*/*.json") for f in sorted(root.glob(depth))]
        for file in files:
            try:
                entries = json.loads(file.read_text())
                specs = [_spec_of(e) for e in entries]
            except (ValueError, KeyError, TypeError) as exc:
                raise AclFail(C.ACL_ERROR_INVALID_FILE, f"{file}: not a single-op JSON: {exc}") from None
            for spec in specs:
                if spec.op not in IMPLEMENTATIONS:
                    raise AclFail(C.ACL_ERROR_INVALID_FILE, f"{file}: operator {spec.op} is not emulated")
                self.dev.compiled.setdefault(spec.op, {}).setdefault(_as_descs(spec.inputs), []).append(spec)

    @api("value")
    def create_attr(self) -> int:
        return self.dev.new("op_attr", {})

    @api("void")
    def destroy_attr(self, attr: int) -> None:
        self.dev.drop(attr, "op_attr")

    def _set_attr(self, attr: int, name: str, kind: str, value: object) -> None:
        self.dev.get(attr, "op_attr")[name] = (kind, value)

    @api("ret")
    def set_attr_bool(self, attr: int, name: str, value: bool) -> None:
        self._set_attr(attr, name, "bool", bool(value))

    @api("ret")
    def set_attr_int(self, attr: int, name: str, value: int) -> None:
        self._set_attr(attr, name, "int", int(value))

    @api("ret")
    def set_attr_float(self, attr: int, name: str, value: float) -> None:
        self._set_attr(attr, name, "float", float(np.float32(value)))

    @api("ret")
    def set_attr_list_int(self, attr: int, name: str, values: list) -> None:
        """pyACL (op/op.cpp) takes a list, or, with a warning, a numpy array; anything else raises."""
        if isinstance(values, np.ndarray):
            warnings.warn("argument 3 only support the format of list in the future.", stacklevel=3)
        elif not isinstance(values, list):
            raise TypeError("acl.op.set_attr_list_int: argument 3 is not list or numpy array")
        self._set_attr(attr, name, "list_int", tuple(int(v) for v in values))

    def _descs(self, handles: Sequence[int]) -> tuple[Desc, ...]:
        return tuple(self.dev.get(h, "tensor_desc") for h in handles)

    def _lookup(self, op_type: str, inputs: tuple[Desc, ...], outputs: tuple[Desc, ...], attrs: dict) -> OpSpec:
        candidates = self.dev.compiled.get(op_type)
        if not candidates:
            raise AclFail(C.ACL_ERROR_OP_NOT_FOUND, f"no operator {op_type!r} was compiled (acl.op.set_model_dir)")
        by_inputs = candidates.get(inputs)
        if not by_inputs:
            raise AclFail(C.ACL_ERROR_OP_INPUT_NOT_MATCH, f"{op_type}: no compiled variant takes {_show(inputs)}")
        by_outputs = [s for s in by_inputs if _as_descs(s.outputs) == outputs]
        if not by_outputs:
            raise AclFail(C.ACL_ERROR_OP_OUTPUT_NOT_MATCH, f"{op_type}: no compiled variant gives {_show(outputs)}")
        wanted = {name: (kind, value) for name, (kind, value) in attrs.items()}
        as_set = lambda a: (a.type, float(np.float32(a.value)) if a.type == "float" else a.value)  # noqa: E731
        for spec in by_outputs:
            if {a.name: as_set(a) for a in spec.attrs} == wanted:
                return spec
        raise AclFail(C.ACL_ERROR_OP_ATTR_NOT_MATCH, f"{op_type}: attributes {wanted} were not compiled "
                      f"(compiled: {[{a.name: a.value for a in s.attrs} for s in by_outputs]})")  # fmt: skip

    @api("value_ret")
    def create_handle(self, op_type: str, input_descs: list, output_descs: list, attr: int) -> int:
        spec = self._lookup(op_type, self._descs(input_descs), self._descs(output_descs), self.dev.get(attr, "op_attr"))
        return self.dev.new("op_handle", spec)

    @api("void")
    def destroy_handle(self, handle: int) -> None:
        self.dev.drop(handle, "op_handle")

    @api("ret")
    def execute_with_handle(self, handle: int, inputs: list, outputs: list, stream: int) -> None:
        s = self.dev.stream(stream)
        spec: OpSpec = self.dev.get(handle, "op_handle")
        if len(inputs) != len(spec.inputs) or len(outputs) != len(spec.outputs):
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"{spec.op}: {len(inputs)} inputs / {len(outputs)} outputs given")
        placed = []
        for role, buffers, tensors in (("input", inputs, spec.inputs), ("output", outputs, spec.outputs)):
            for buffer, tensor in zip(buffers, tensors):
                ptr, size = self.dev.get(buffer, "data_buffer")
                need = Desc(tensor.dtype, tensor.shape, tensor.format).size
                if size < need:
                    raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"{spec.op} {role} '{tensor.name}': {size} bytes < {need}")
                block = self.dev.find_kind(ptr, need, ("device", "dvpp"), f"{spec.op} {role} '{tensor.name}'")
                placed.append((block, ptr - block.base, need, tensor))
        ins, outs = placed[: len(spec.inputs)], placed[len(spec.inputs) :]

        def run() -> None:
            arrays = [np.frombuffer(b.data[o : o + n].tobytes(), _NP[t.dtype]).reshape(t.shape) for b, o, n, t in ins]
            try:
                results = IMPLEMENTATIONS[spec.op](spec, arrays, self.dev.soc.name)
            except tbe_numpy.TbeEmulationError as exc:
                raise AclFail(C.ACL_ERROR_RT_AICORE_EXCEPTION, str(exc)) from None
            for (b, o, n, _), value in zip(outs, results):
                b.data[o : o + n] = np.frombuffer(np.ascontiguousarray(value).tobytes(), np.uint8)

        task = Task(spec.op, run, [(b, o, n) for b, o, n, _ in ins], [(b, o, n) for b, o, n, _ in outs],
                    C.ACL_ERROR_RT_AICORE_EXCEPTION)  # fmt: skip
        self.dev.enqueue(s, task, float_writes=all(t.dtype.startswith("float") for t in spec.outputs))


def _as_descs(tensors: Sequence[Tensor]) -> tuple[Desc, ...]:
    return tuple(Desc(t.dtype, t.shape, t.format) for t in tensors)


def _show(descs: tuple[Desc, ...]) -> str:
    return ", ".join(f"{d.dtype}{list(d.shape)} {d.format}" for d in descs)
