"""Just enough of the TBE DSL, in numpy, to run acc's operators (kernels/ascend/tbe/) without CANN.

Only the primitives acc_colour.py uses exist here (plus vcmpsel and floor, so that code using them fails
its test the way it would fail or degrade on the chip), each with the rules CANN's own DSL applies on the
chip the run plays (kernels/ascend/dsl_support.py, transcribed from CANN 8.1.RC1):

- the per-SoC dtype table (DSL_CHECK_SUPPORT_MAP): a call in a dtype the chip lacks raises, as the DSL's
  dtype check does (float32 vexp/vlog on the 310; floor of float32 on the 310);
- the silent casts: vcmpsel on the 310 casts float32 operands to float16 and returns float16, as the
  classic (non-unified) DSL does when Intrinsic_vsel lacks the dtype; a scalar of another dtype is cast to
  the tensor's. Each one is recorded in the run's Trace, so a test can assert an operator has none;
- cast_to goes the way cast._cast goes (direct vconv, else through float32, else float16); only the
  conversions whose result is known exactly are emulated (float -> uint8 of integers only);
- element-wise operands of one dtype and one shape (broadcasting is explicit);
- auto_schedule as the classic one (static_schedule/cce_schedule.py): more than one output is refused
  unless every call is element-wise, broadcast or reduce (E90003, check_support_muti_output), and the
  run's Trace records the pattern (ElemWise when every call is element-wise or broadcast).

Arithmetic: each exact instruction (add, multiply, min, max, conversions) is rounded to its dtype, as
numpy does. The instructions CANN documents as approximate are modelled (APPROXIMATE below; the model
and its sources are in docs/ascend.md): on the 310 the reciprocal estimate, log and exp, and vdiv, which
the DSL builds there from the reciprocal estimate and one Newton step (there is no divide instruction).

    load_op()                      the operator module, imported against this emulation instead of tbe
    run_op(spec, inputs, soc)      run one compiled signature (kernels/ascend/singleop.py) on numpy inputs

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

from acc.kernels.ascend import dsl_support as dsl
from acc.kernels.ascend.singleop import OpSpec

OP_FILE = Path(__file__).parent / "tbe" / "acc_colour.py"
# op type -> the entry function in OP_FILE (the op info's opInterface)
CUSTOM_OPS = {"LabL": "lab_l", "AbMergeY": "ab_merge_y", "AbMergeChroma": "ab_merge_chroma",
              "ChromaToU8": "chroma_to_u8"}  # fmt: skip

# The approximate instructions: (short SoC, instruction, dtype) -> significant bits of the exact result the
# emulation keeps (truncated toward zero: relative error below 2^(1 - bits)). CANN's TIK pages bound them
# from one side only (CANN 8.0.0, Atlas 200/300/500 inference products and Atlas inference products):
# vec_rec fails "dual 0.1 %" in float16 and "dual 0.01 %" in float32 (atlastikapi_07_0059), vec_ln
# fails 0.1 % in float16 on (0, 5/3) (atlastikapi_07_0057), vec_exp meets it (atlastikapi_07_0055).
# The bits are chosen past those bounds (0.39 %, 0.049 %, 0.39 %, 0.098 %); tests/hardware measures the
# operators that use them on a device. Anything not listed is correctly rounded.
APPROXIMATE = {
    (dsl.ASCEND_310, "vrec", "float16"): 9,
    (dsl.ASCEND_310, "vrec", "float32"): 12,
    (dsl.ASCEND_310, "vln", "float16"): 9,
    (dsl.ASCEND_310, "vexp", "float16"): 11,
    (dsl.ASCEND_310P, "vrec", "float16"): 9,
    (dsl.ASCEND_310P, "vrec", "float32"): 12,
}

DTYPES = {"float16": np.float16, "float32": np.float32, "uint8": np.uint8, "int32": np.int32}


class TbeEmulationError(Exception):
    """A DSL rule broken by the operator code (what the TBE compiler would refuse)."""


@dataclass
class Trace:
    """What one run of an operator asked of the DSL: every call with its dtype, and every silent cast."""

    calls: list[tuple[str, str]] = field(default_factory=list)  # (api, dtype it ran in)
    silent_casts: list[str] = field(default_factory=list)
    pattern: str | None = None  # what auto_schedule recognised: "ElemWise", or "other"
    outputs: int = 0  # how many tensors auto_schedule was given


@dataclass
class _Run:
    soc: str
    feeds: dict[str, np.ndarray]
    trace: Trace = field(default_factory=Trace)
    placeholders: list[np.ndarray] = field(default_factory=list)
    tensor_list: list[np.ndarray] | None = None


_current = threading.local()


def _run() -> _Run:
    run = getattr(_current, "run", None)
    if run is None:
        raise TbeEmulationError("DSL call outside run_op")
    return run


def _dtype(x: Any) -> str:
    if not isinstance(x, np.ndarray) or x.dtype.name not in DTYPES:
        got = f"{type(x).__name__} {getattr(x, 'dtype', '')}"
        raise TbeEmulationError(f"expected a tensor of {sorted(DTYPES)}, got {got}")
    return x.dtype.name


def _checked(api: str, x: np.ndarray) -> str:
    """The @dtype_check_decorator: the tensor's dtype must be in the chip's table for this API."""
    dtype, run = _dtype(x), _run()
    if not dsl.dsl_supports(api, dtype, run.soc):
        raise TbeEmulationError(f"{dtype} of tbe.dsl.{api} is not supported on {run.soc}")
    run.trace.calls.append((api, dtype))
    return dtype


def _pair(api: str, a: np.ndarray, b: Any) -> str:
    if not isinstance(b, np.ndarray):
        raise TbeEmulationError(f"{api}: the second input must be a tensor")
    if _dtype(a) != _dtype(b) or a.shape != b.shape:
        raise TbeEmulationError(f"{api}: operands {a.dtype}{a.shape} and {b.dtype}{b.shape} differ (broadcast first)")
    return _checked(api, a)


def _scalar(value: Any, dtype: str, api: str) -> np.generic:
    """util_astype: a scalar takes the tensor's dtype (a const of another dtype is cast silently)."""
    if isinstance(value, np.generic) and value.dtype.name != dtype:
        _run().trace.silent_casts.append(f"{api}: {value.dtype} scalar cast to the tensor's {dtype}")
    return DTYPES[dtype](value)


# --- tbe.common.platform.platform_info -----------------------------------------------------------------
def api_check_support(api: str, dtype: str = "") -> bool:
    if not api.startswith("tbe.dsl."):
        return False
    return dsl.dsl_supports(api.rsplit(".", 1)[1], dtype, _run().soc)


# --- tbe.dsl: element-wise -----------------------------------------------------------------------------
def vadd(a, b):
    _pair("vadd", a, b)
    return a + b


def vsub(a, b):
    _pair("vsub", a, b)
    return a - b


def vmul(a, b):
    _pair("vmul", a, b)
    return a * b


def _instruction(name: str, exact: np.ndarray, dtype: str) -> np.ndarray:
    """An instruction's result from its exact (float64) value: rounded to dtype, or, for an approximate
    instruction of this chip, first truncated to the bits APPROXIMATE keeps."""
    bits = APPROXIMATE.get((dsl.short_soc(_run().soc), name, dtype))
    if bits is not None:
        mantissa, exponent = np.frexp(exact)
        exact = np.ldexp(np.trunc(mantissa * 2.0**bits) / 2.0**bits, exponent)
    return exact.astype(dtype)


def _reciprocal(x: np.ndarray, dtype: str) -> np.ndarray:
    """vrec(x, "high_precision"): the vrec instruction's estimate, then the chip's Newton steps, each
    operation rounded to dtype (math.__single_elewise_op)."""
    if np.any(x == 0):
        raise TbeEmulationError("vrec of 0 (the instruction's result is undefined)")
    r = _instruction("vrec", 1.0 / x.astype(np.float64), dtype)
    for _ in range(dsl.RECIPROCAL_NEWTON_STEPS[dsl.short_soc(_run().soc)]):
        r = r * (DTYPES[dtype](2) - x * r)
    return r


def vdiv(a, b):
    """A divide instruction where the chip has one (correctly rounded); on the 310, math.vdiv's
    lhs * vrec(rhs, "high_precision")."""
    dtype = _pair("vdiv", a, b)
    if dsl.VDIV_INTRINSIC[dsl.short_soc(_run().soc)]:
        return (a / b).astype(dtype)
    return a * _reciprocal(b, dtype)


def vmuls(a, s):
    return a * _scalar(s, _checked("vmuls", a), "vmuls")


def vadds(a, s):
    return a + _scalar(s, _checked("vadds", a), "vadds")


def vmaxs(a, s):
    return np.maximum(a, _scalar(s, _checked("vmaxs", a), "vmaxs"))


def vmins(a, s):
    return np.minimum(a, _scalar(s, _checked("vmins", a), "vmins"))


def vexp(a):
    dtype = _checked("vexp", a)
    return _instruction("vexp", np.exp(a.astype(np.float64)), dtype)


def vlog(a):
    dtype = _checked("vlog", a)
    if np.any(a <= 0):
        raise TbeEmulationError("vlog of a value <= 0 (guard the input)")
    return _instruction("vln", np.log(a.astype(np.float64)), dtype)


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "lt": np.less, "gt": np.greater, "le": np.less_equal, "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal,
}  # fmt: skip


def vcmpsel(lhs, rhs=None, operation="lt", slhs=None, srhs=None):
    """math.vcmpsel, classic mode: tensors the chip's vsel lacks are cast (to float16 on the 310) first."""
    if operation not in _COMPARE:
        raise TbeEmulationError(f"vcmpsel only supports eq, ne, lt, gt, ge and le, not {operation!r}")
    rhs = 2.0 if rhs is None else rhs
    slhs = lhs if slhs is None else slhs
    srhs = (rhs if isinstance(rhs, np.ndarray) else 0.0) if srhs is None else srhs
    for x in (rhs, slhs, srhs):
        if isinstance(x, np.ndarray) and (_dtype(x) != _dtype(lhs) or x.shape != lhs.shape):
            raise TbeEmulationError(f"vcmpsel: operands {lhs.dtype}{lhs.shape} and {x.dtype}{x.shape} differ")
    run, dtype = _run(), _dtype(lhs)
    vsel = dsl.VSEL_DTYPES[dsl.short_soc(run.soc)]
    if dtype not in vsel:  # util.auto_cast_tensor(x, "vsel")
        to = "float32" if "float32" in vsel and dsl.cast_supported(dtype, "float32", run.soc) else "float16"
        run.trace.silent_casts.append(f"vcmpsel: {dtype} operands cast to {to} (Intrinsic_vsel on {run.soc})")
        dtype = to
    run.trace.calls.append(("vcmpsel", dtype))

    def operand(x: Any) -> Any:
        return x.astype(dtype) if isinstance(x, np.ndarray) else DTYPES[dtype](x)

    return np.where(_COMPARE[operation](operand(lhs), operand(rhs)), operand(slhs), operand(srhs)).astype(dtype)


# --- tbe.dsl: casts ------------------------------------------------------------------------------------
def _convert(x: np.ndarray, src: str, dst: str) -> np.ndarray:
    """One vconv, where its result is known exactly: widening, float32 -> float16 (round to nearest even)
    and float16 -> uint8 of integers (the instruction's rounding of fractions is not documented)."""
    if (src, dst) in (("uint8", "float16"), ("uint8", "float32"), ("float16", "float32"), ("float32", "float16"),
                      ("int32", "float32")):  # fmt: skip
        return x.astype(DTYPES[dst])
    if (src, dst) == ("float16", "uint8"):
        if np.any((x != np.floor(x)) | (x < 0) | (x > 255)):
            raise TbeEmulationError("cast_to float16 -> uint8: emulated for integers in 0..255 only (pass integers "
                                    "with f1628IntegerFlag=True)")  # fmt: skip
        return x.astype(np.uint8)
    raise TbeEmulationError(f"cast_to {src} -> {dst} is not emulated")


def cast_to(data, dtype, f1628IntegerFlag=True):  # noqa: N803 (the DSL's own keyword)
    src, run = _dtype(data), _run()
    if src == dtype:
        return data
    if src in ("float16", "float32") and dtype in ("int8", "uint8", "int32") and not (src == "float16" and
                                                                                     f1628IntegerFlag):  # fmt: skip
        raise TbeEmulationError(f"cast_to {src} -> {dtype}: the DSL's rounding of fractions here is not emulated "
                                "(round in float, then cast float16 integers with f1628IntegerFlag=True)")
    try:
        route = dsl.cast_route(src, dtype, run.soc)
    except ValueError as exc:
        raise TbeEmulationError(f"cast_to on {run.soc}: {exc}") from None
    for dst in route:
        data, src = _convert(data, src, dst), dst
    run.trace.calls.append(("cast_to", f"{_dtype(data)} via {'>'.join(route)}"))
    return data


def floor(raw_tensor, dst_dtype="int32"):
    """cast.floor: the conversion must be in the chip's floor list (the 310 has no float32 one)."""
    src, run = _dtype(raw_tensor), _run()
    name = dsl.conversion(src, dst_dtype)
    if not dsl.dsl_supports("floor", name, run.soc):
        raise TbeEmulationError(f"The target platform is not support {name} and floor ({run.soc})")
    run.trace.calls.append(("floor", name))
    return np.floor(raw_tensor).astype(DTYPES[dst_dtype])


# --- tbe.dsl: shapes -----------------------------------------------------------------------------------
def broadcast(var, shape, output_dtype=None):
    shape = tuple(int(s) for s in shape)
    if not isinstance(var, np.ndarray):
        raise TbeEmulationError("broadcast of a scalar is not emulated")
    dtype = _checked("broadcast", var)
    if output_dtype is not None and output_dtype != dtype:
        raise TbeEmulationError("broadcast: a tensor keeps its dtype")
    try:
        return np.broadcast_to(var, shape).copy()
    except ValueError:
        raise TbeEmulationError(f"broadcast: {var.shape} does not broadcast to {shape}") from None


def reduce_sum(raw_tensor, axis, keepdims=False):
    dtype = _checked("reduce_sum", raw_tensor)
    return np.sum(raw_tensor, axis=tuple(axis), keepdims=keepdims, dtype=DTYPES[dtype])


def concat(raw_tensors, axis):
    dtypes = {_dtype(t) for t in raw_tensors}
    if len(dtypes) != 1:
        raise TbeEmulationError(f"concat: mixed dtypes {sorted(dtypes)}")
    _checked("concat", raw_tensors[0])
    return np.concatenate(raw_tensors, axis=axis)


# Which of CANN's tag families each emulated call's compute belongs to (cce_schedule_declarations.OpFlags)
_FAMILY = {"broadcast": "broadcast", "reduce_sum": "reduce", "concat": "concat"}


def auto_schedule(outputs):
    """The classic schedule_cce's checks: several outputs only when every call is element-wise, broadcast
    or reduce (otherwise CANN raises E90003); the pattern (elewise_pattern_rule) goes into the trace."""
    run = _run()
    families = {_FAMILY.get(api, "elewise") for api, _ in run.trace.calls}
    many = isinstance(outputs, (list, tuple)) and len(outputs) > 1
    if many and not families <= {"elewise", "broadcast", "reduce"}:
        other = sorted(families - {"elewise", "broadcast", "reduce"})
        raise TbeEmulationError(f"E90003: Only vector op support multi output now ({', '.join(other)} among the "
                                "outputs' computes: cce_schedule.check_support_muti_output)")  # fmt: skip
    run.trace.outputs = len(outputs) if isinstance(outputs, (list, tuple)) else 1
    run.trace.pattern = "ElemWise" if families <= {"elewise", "broadcast"} else "other"
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
    kinds = {k: k for k in ("REQUIRED_INPUT", "REQUIRED_OUTPUT", "REQUIRED_ATTR_FLOAT", "REQUIRED_ATTR_INT",
                            "KERNEL_NAME")}  # fmt: skip
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
def _running(soc: str, feeds: dict[str, np.ndarray], trace: Trace | None = None) -> Iterator[_Run]:
    if getattr(_current, "run", None) is not None:
        raise TbeEmulationError("run_op is not re-entrant")
    dsl.short_soc(soc)  # a chip the tables cover
    _current.run = run = _Run(soc, feeds, trace if trace is not None else Trace())
    try:
        yield run
    finally:
        _current.run = None


def run_op(spec: OpSpec, inputs: Sequence[np.ndarray], soc: str, trace: Trace | None = None,
           module: types.ModuleType | None = None) -> list[np.ndarray]:  # fmt: skip
    """Run the custom operator `spec` (its compiled signature) on inputs; the outputs, checked against spec.
    `trace` receives every DSL call and silent cast; `module` replaces the operators' module (load_op())."""
    entry = getattr(module or load_op(), CUSTOM_OPS[spec.op])
    desc = lambda t: {"shape": list(t.shape), "dtype": t.dtype, "format": t.format}  # noqa: E731
    feeds = {t.name: np.asarray(x) for t, x in zip(spec.inputs, inputs)}
    with _running(soc, feeds, trace) as run:
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
