"""Just enough of the TBE DSL, in numpy, to run acc's operators (kernels/ascend/tbe/) without CANN.

Only the primitives acc_colour.py uses exist here, with the rules the DSL enforces: element-wise
operands of one dtype and one shape (broadcasting is explicit), scalars of the tensor's dtype, vexp and
vlog only in the dtypes the chip supports (float16 alone on the Ascend 310), the casts TBE provides.
Each primitive's result is rounded to its dtype, as numpy does for float16; the device's exp/log are
not correctly rounded, so hardware tolerances are re-measured by tests/hardware.

    load_op()          the operator module, imported against this emulation instead of the real tbe
    run_op(spec, ...)  run one compiled signature (kernels/ascend/singleop.py) on numpy inputs

The real `tbe` package is never shadowed outside load_op's import, so this works beside a CANN install.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from acc.kernels.ascend.singleop import OpSpec
from acc.kernels.ascend.socs import soc as soc_info

OP_FILE = Path(__file__).parent / "tbe" / "acc_colour.py"
# op type -> the entry function in OP_FILE (the op info's opInterface)
CUSTOM_OPS = {"LabL": "lab_l", "AbMerge": "ab_merge"}

DTYPES = {"float16": np.float16, "float32": np.float32, "uint8": np.uint8, "int32": np.int32}
FLOATS = ("float16", "float32")


class TbeEmulationError(Exception):
    """A DSL rule broken by the operator code (what the TBE compiler would refuse)."""


@dataclass
class _Run:
    soc: str
    feeds: dict[str, np.ndarray]
    placeholders: list[np.ndarray] = field(default_factory=list)
    tensor_list: list[np.ndarray] | None = None


_current = threading.local()


def _run() -> _Run:
    run = getattr(_current, "run", None)
    if run is None:
        raise TbeEmulationError("DSL call outside run_op")
    return run


def _dtype(x: np.ndarray) -> str:
    if not isinstance(x, np.ndarray) or x.dtype.name not in DTYPES:
        got = f"{type(x).__name__} {getattr(x, 'dtype', '')}"
        raise TbeEmulationError(f"expected a tensor of {sorted(DTYPES)}, got {got}")
    return x.dtype.name


def _pair(a: np.ndarray, b: np.ndarray, what: str) -> str:
    if _dtype(a) != _dtype(b) or a.shape != b.shape:
        raise TbeEmulationError(f"{what}: operands {a.dtype}{a.shape} and {b.dtype}{b.shape} differ (broadcast first)")
    return a.dtype.name


def _float(x: np.ndarray, what: str) -> str:
    dtype = _dtype(x)
    if dtype not in FLOATS:
        raise TbeEmulationError(f"{what}: {dtype} is not supported (float16/float32 only)")
    return dtype


def _scalar(value: Any, dtype: str, what: str) -> np.generic:
    if isinstance(value, np.generic) and value.dtype.name != dtype:
        raise TbeEmulationError(f"{what}: scalar of {value.dtype} with a {dtype} tensor")
    return DTYPES[dtype](value)


def _supported(api: str, dtype: str) -> None:
    if not api_check_support(api, dtype):
        raise TbeEmulationError(f"{api} does not support {dtype} on {_run().soc}")


# --- tbe.common.platform.platform_info -----------------------------------------------------------------
def api_check_support(api: str, dtype: str) -> bool:
    if api in ("tbe.dsl.vexp", "tbe.dsl.vlog") and dtype == "float32":
        return soc_info(_run().soc).fp32_exp
    return dtype in FLOATS


# --- tbe.dsl --------------------------------------------------------------------------------------------
def vadd(a, b):
    _float(a, "vadd")
    _pair(a, b, "vadd")
    return a + b


def vsub(a, b):
    _float(a, "vsub")
    _pair(a, b, "vsub")
    return a - b


def vmul(a, b):
    _float(a, "vmul")
    _pair(a, b, "vmul")
    return a * b


def vdiv(a, b):
    _float(a, "vdiv")
    _pair(a, b, "vdiv")
    return a / b


def vmuls(a, s):
    return a * _scalar(s, _float(a, "vmuls"), "vmuls")


def vadds(a, s):
    return a + _scalar(s, _float(a, "vadds"), "vadds")


def vmaxs(a, s):
    return np.maximum(a, _scalar(s, _float(a, "vmaxs"), "vmaxs"))


def vmins(a, s):
    return np.minimum(a, _scalar(s, _float(a, "vmins"), "vmins"))


def vexp(a):
    dtype = _float(a, "vexp")
    _supported("tbe.dsl.vexp", dtype)
    return np.exp(a.astype(np.float32)).astype(dtype)


def vlog(a):
    dtype = _float(a, "vlog")
    _supported("tbe.dsl.vlog", dtype)
    if np.any(a <= 0):
        raise TbeEmulationError("vlog of a value <= 0 (guard the input)")
    return np.log(a.astype(np.float32)).astype(dtype)


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "lt": np.less, "gt": np.greater, "le": np.less_equal, "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal,
}  # fmt: skip


def vcmpsel(lhs, rhs=None, operation="lt", slhs=None, srhs=None):
    dtype = _float(lhs, "vcmpsel")
    if operation not in _COMPARE:
        raise TbeEmulationError(f"vcmpsel: unknown operation {operation!r}")

    def operand(x: Any) -> Any:
        if isinstance(x, np.ndarray):
            _pair(lhs, x, "vcmpsel")
            return x
        return _scalar(x, dtype, "vcmpsel")

    return np.where(_COMPARE[operation](lhs, operand(rhs)), operand(slhs), operand(srhs)).astype(dtype)


_CASTS = {("uint8", "float16"), ("uint8", "float32"), ("float16", "float32"), ("float32", "float16"),
          ("float16", "uint8"), ("int32", "float16"), ("int32", "float32")}  # fmt: skip


def cast_to(data, dtype, f1628IntegerFlag=True):  # noqa: N803 (the DSL's own keyword)
    src = _dtype(data)
    if (src, dtype) not in _CASTS:
        raise TbeEmulationError(f"cast_to {src} -> {dtype} is not provided")
    if (src, dtype) == ("float16", "uint8"):
        if not f1628IntegerFlag:
            raise TbeEmulationError("cast_to float16 -> uint8 is emulated for integer data only")
        if np.any((data != np.floor(data)) | (data < 0) | (data > 255)):
            raise TbeEmulationError("cast_to float16 -> uint8 with f1628IntegerFlag: data must be integers in 0..255")
    return data.astype(DTYPES[dtype])


def floor(raw_tensor):
    _float(raw_tensor, "floor")
    return np.floor(raw_tensor).astype(np.int32)


def broadcast(var, shape, output_dtype=None):
    shape = tuple(int(s) for s in shape)
    if isinstance(var, np.ndarray):
        if output_dtype is not None and output_dtype != _dtype(var):
            raise TbeEmulationError("broadcast: a tensor keeps its dtype")
        try:
            return np.broadcast_to(var, shape).copy()
        except ValueError:
            raise TbeEmulationError(f"broadcast: {var.shape} does not broadcast to {shape}") from None
    return np.full(shape, var, DTYPES[output_dtype or "float32"])


def reduce_sum(raw_tensor, axis, keepdims=False):
    dtype = _float(raw_tensor, "reduce_sum")
    return np.sum(raw_tensor, axis=tuple(axis), keepdims=keepdims, dtype=DTYPES[dtype])


def concat(raw_tensors, axis):
    dtypes = {_dtype(t) for t in raw_tensors}
    if len(dtypes) != 1:
        raise TbeEmulationError(f"concat: mixed dtypes {sorted(dtypes)}")
    return np.concatenate(raw_tensors, axis=axis)


def auto_schedule(outputs):
    return outputs


def build(schedule, config):
    _run().tensor_list = list(config["tensor_list"])


# --- tbe.tvm --------------------------------------------------------------------------------------------
def const(value, dtype="float32"):
    return DTYPES[dtype](value)


def placeholder(shape, name, dtype):
    run = _run()
    if name not in run.feeds:
        raise TbeEmulationError(f"placeholder '{name}' has no input")
    data = run.feeds[name]
    if tuple(shape) != data.shape or dtype != data.dtype.name:
        raise TbeEmulationError(f"placeholder '{name}' {dtype}{tuple(shape)} fed {data.dtype}{data.shape}")
    run.placeholders.append(data)
    return data


# --- tbe.common.register / tbe.common.utils.para_check -------------------------------------------------
def register_op_compute(name, op_mode=None, support_fusion=True):
    return lambda func: func


def check_op_params(*kinds):
    return lambda func: func


def check_dtype(dtype, check_list, param_name="input"):
    if dtype not in check_list:
        raise TbeEmulationError(f"{param_name}: dtype {dtype} not in {list(check_list)}")


def _modules() -> dict[str, types.ModuleType]:
    """The fake `tbe` package tree, each module holding its functions from this file."""

    def module(name: str, **attrs: Any) -> types.ModuleType:
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        return mod

    dsl_names = ["vadd", "vsub", "vmul", "vdiv", "vmuls", "vadds", "vmaxs", "vmins", "vexp", "vlog", "vcmpsel",
                 "cast_to", "floor", "broadcast", "reduce_sum", "concat", "auto_schedule", "build"]  # fmt: skip
    dsl = module("tbe.dsl", **{n: globals()[n] for n in dsl_names})
    target = types.SimpleNamespace(cce=contextlib.nullcontext)
    tvm = module("tbe.tvm", const=const, placeholder=placeholder, target=target)
    kinds = {k: k for k in ("REQUIRED_INPUT", "REQUIRED_OUTPUT", "REQUIRED_ATTR_FLOAT", "KERNEL_NAME")}
    para = module("tbe.common.utils.para_check", check_op_params=check_op_params, check_dtype=check_dtype, **kinds)
    platform_info = module("tbe.common.platform.platform_info", api_check_support=api_check_support)
    mods = {
        "tbe": module("tbe", dsl=dsl, tvm=tvm),
        "tbe.dsl": dsl,
        "tbe.tvm": tvm,
        "tbe.common": module("tbe.common"),
        "tbe.common.register": module("tbe.common.register", register_op_compute=register_op_compute),
        "tbe.common.utils": module("tbe.common.utils", para_check=para),
        "tbe.common.utils.para_check": para,
        "tbe.common.platform": module("tbe.common.platform", platform_info=platform_info),
        "tbe.common.platform.platform_info": platform_info,
    }
    return mods


_load_lock = threading.Lock()
_loaded: dict[Path, types.ModuleType] = {}


@contextlib.contextmanager
def _fake_tbe() -> Iterator[None]:
    fakes = _modules()
    saved = {name: sys.modules.get(name) for name in fakes}
    sys.modules.update(fakes)
    try:
        yield
    finally:
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod


def load_op(path: Path = OP_FILE) -> types.ModuleType:
    """The operator module with its `tbe` imports bound to this emulation (cached)."""
    with _load_lock:
        if path not in _loaded:
            spec = importlib.util.spec_from_file_location(f"acc_tbe_emulated_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            with _fake_tbe():
                spec.loader.exec_module(module)
            _loaded[path] = module
        return _loaded[path]


@contextlib.contextmanager
def _running(soc: str, feeds: dict[str, np.ndarray]) -> Iterator[_Run]:
    if getattr(_current, "run", None) is not None:
        raise TbeEmulationError("run_op is not re-entrant")
    _current.run = run = _Run(soc, feeds)
    try:
        yield run
    finally:
        _current.run = None


def run_op(spec: OpSpec, inputs: Sequence[np.ndarray], soc: str) -> list[np.ndarray]:
    """Run the custom operator `spec` (its compiled signature) on inputs; the outputs, checked against spec."""
    entry = getattr(load_op(), CUSTOM_OPS[spec.op])
    desc = lambda t: {"shape": list(t.shape), "dtype": t.dtype, "format": t.format}  # noqa: E731
    feeds = {t.name: np.asarray(x) for t, x in zip(spec.inputs, inputs)}
    with _running(soc, feeds) as run:
        entry(*map(desc, spec.inputs), *map(desc, spec.outputs), *[a.value for a in spec.attrs],
              kernel_name=CUSTOM_OPS[spec.op])  # fmt: skip
        if run.tensor_list is None:
            raise TbeEmulationError(f"{spec.op}: the entry function never called build")
        outputs = [t for t in run.tensor_list if not any(t is p for p in run.placeholders)]
    for t, out in zip(spec.outputs, outputs, strict=True):
        if out.shape != t.shape or out.dtype.name != t.dtype:
            raise TbeEmulationError(f"{spec.op}: output '{t.name}' is {out.dtype}{out.shape}, "
                                    f"compiled {t.dtype}{t.shape}")
    return outputs
