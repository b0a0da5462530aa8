"""LabL and the render's three operators: acc's colour maths as TBE DSL operators for the AI Core of the
Ascend 310 and 310P.

Ascend C does not run on the 310, so these are written in the TBE DSL (tbe.dsl, auto-scheduled). The
maths is kernels/reference.py's, with L taken from JPEG luma alone: the pipeline never decodes chroma,
and for a gray photo Y *is* the gray value, so L = L(gray) exactly as the contract's 256-entry table.
(For a colour photo the seed's L comes from full RGB; docs/ascend.md gives the measured difference.)

    LabL           y (h, w) uint8                      -> (L(y) - l_offset) * l_scale, float32
    AbMergeY       band of y, a, b (rows, ws)          -> Y' of the band, uint8 (the NV12 Y rows)
    AbMergeChroma  band of y, a, b + chroma weights    -> w * Cb or w * Cr per pixel, float32
    ChromaToU8     summed, interleaved chroma (n, ws)  -> Cb, Cr bytes, rounded (the NV12 CbCr rows)

Every operator has the form CANN's classic scheduler is known to build: element-wise calls on tensors of
one shape (AbMergeChroma broadcasts its row and column weights to it), read at the element's own index,
one output. The 2x2 block sum of the chroma and the Cb/Cr interleave between AbMergeChroma and ChromaToU8
are CANN's stock ReduceSumD and TransposeD (kernels/ascend/singleop.py); docs/ascend.md gives the
evidence and why the first, one-operator form (reduce_sum + concat, two outputs) would not have built.

Precision: every DSL call runs in float32 on both chips except where the 310 has no float32 form, and
there the code says so (kernels/ascend/dsl_support.py lists what each chip's DSL accepts):
- exp/log (float16 only on the 310): a fractional power is seeded with exp(p * log x) in float16
  (relative error ~1e-3) and refined by one Newton step in float32 on an integer-power identity
  (y^n = x^m), which squares the error; the 310P runs the seed in float32. The Newton step divides:
  on the 310 the DSL builds vdiv from the chip's reciprocal estimate and one Newton step of its own.
- compare-and-select (vcmpsel/vsel: float16 only on the 310, where CANN would cast float32 operands to
  float16 and return float16): not used. Each piecewise curve here is continuous at its joint, so it is
  the sum of its two branches evaluated on the input clamped to each side, minus the value at the joint:
  vmins/vmaxs/vadds, all float32.
- float -> integer (floor is float16-only on the 310 and there is no float32 -> int32 conversion): the
  value is rounded to an integer in float32 with the 2^23 trick ((x + 2^23) - 2^23 rounds to nearest,
  ties to even, like the reference's np.rint), which float16 then holds exactly on its way to uint8.
Tolerances against the reference are measured in tests/test_ascend_kernels.py.

The constants are kernels/reference.py's (sRGB/D65 matrix with the white point folded in, CIE epsilon
and kappa, BT.601 luma); that test asserts they agree, since this file cannot import the reference
on the device build host.
"""

from __future__ import annotations

import tbe.dsl as tbe
from tbe import tvm
from tbe.common.platform.platform_info import api_check_support
from tbe.common.register import register_op_compute
from tbe.common.utils import para_check

EPSILON = 216.0 / 24389.0
KAPPA = 24389.0 / 27.0
DELTA = 6.0 / 29.0
# linear RGB = XYZ_TO_RGB @ (X, Y, Z) with X, Z in white-relative units (reference.XYZ_TO_RGB * WHITE_D65)
LAB_TO_RGB = (
    (3.079934935533, -1.537151516271, -0.542783419262),
    (-0.921234182754, 1.875990001490, 0.045244181264),
    (0.052889682046, -0.204041338367, 1.151151656321),
)
KR, KG, KB = 0.299, 0.587, 0.114
CB = (-KR * 0.5 / (1 - KB), -KG * 0.5 / (1 - KB), 0.5)  # Cb - 128 per unit of R, G, B
CR = (0.5, -KG * 0.5 / (1 - KR), -KB * 0.5 / (1 - KR))
SRGB_JOINT, LINEAR_JOINT = 0.04045, 0.0031308  # IEC 61966-2-1: where the linear segments end
ROUNDING = float(2**23)  # float32 numbers this large have no fraction bits


def _c(value: float):
    return tvm.const(value, "float32")


def _ipow(x, k: int):
    """x ** k for a small positive integer k, by squaring (float32)."""
    result, base = None, x
    while k:
        if k & 1:
            result = base if result is None else tbe.vmul(result, base)
        k >>= 1
        if k:
            base = tbe.vmul(base, base)
    return result


def _pow_seed(x, p: float):
    """x ** p for x > 0 to ~1e-3: exp(p * log x), in float16 where float32 exp/log are missing (310)."""
    if api_check_support("tbe.dsl.vexp", "float32"):
        return tbe.vexp(tbe.vmuls(tbe.vlog(x), _c(p)))
    half = tbe.cast_to(x, "float16")
    half = tbe.vexp(tbe.vmuls(tbe.vlog(half), tvm.const(p, "float16")))
    return tbe.cast_to(half, "float32")


def _root(x, m: int, n: int):
    """x ** (m / n) for x > 0: the seed, then one Newton step on y^n = x^m (error squared)."""
    y = _pow_seed(x, m / n)
    correction = tbe.vdiv(_ipow(x, m), _ipow(y, n - 1))
    return tbe.vadd(tbe.vmuls(y, _c((n - 1) / n)), tbe.vmuls(correction, _c(1.0 / n)))


def _piecewise(x, joint: float, low, high, low_at_joint: float):
    """low(x) for x <= joint, high(x) above, for a curve continuous at the joint whose low branch is affine:
    low(min(x, joint)) + high(max(x, joint)) - low(joint). One branch is always evaluated at the joint,
    where both agree, so no comparison is needed (float32 throughout)."""
    below = low(tbe.vmins(x, _c(joint)))
    above = high(tbe.vmaxs(x, _c(joint)))
    return tbe.vadd(below, tbe.vadds(above, _c(-low_at_joint)))


def _srgb_to_linear(v):
    """sRGB value in [0, 1] -> linear light: v / 12.92, or ((v + 0.055) / 1.055) ** 2.4 = c^2 * c^(2/5)."""

    def curve(v):
        c = tbe.vmuls(tbe.vadds(v, _c(0.055)), _c(1.0 / 1.055))
        return tbe.vmul(tbe.vmul(c, c), _root(c, 2, 5))

    return _piecewise(v, SRGB_JOINT, lambda v: tbe.vmuls(v, _c(1.0 / 12.92)), curve, SRGB_JOINT / 12.92)


def _linear_to_srgb(c):
    """Linear light -> sRGB value in [0, 1] (clipped first): 12.92 c, or 1.055 c^(1/2.4) - 0.055."""
    c = tbe.vmins(tbe.vmaxs(c, _c(0.0)), _c(1.0))
    curve = lambda c: tbe.vadds(tbe.vmuls(_root(c, 5, 12), _c(1.055)), _c(-0.055))  # noqa: E731
    return _piecewise(c, LINEAR_JOINT, lambda c: tbe.vmuls(c, _c(12.92)), curve, LINEAR_JOINT * 12.92)


def _cie_f(t):
    """CIE f(t): (KAPPA t + 16) / 116 up to EPSILON, the cube root above (they meet at DELTA = 6/29)."""
    low = lambda t: tbe.vadds(tbe.vmuls(t, _c(KAPPA / 116.0)), _c(16.0 / 116.0))  # noqa: E731
    return _piecewise(t, EPSILON, low, lambda t: _root(t, 1, 3), DELTA)


def _cie_f_inv(f):
    """Inverse of f: (116 f - 16) / KAPPA up to DELTA, f^3 above (they meet at EPSILON)."""
    low = lambda f: tbe.vadds(tbe.vmuls(f, _c(116.0 / KAPPA)), _c(-16.0 / KAPPA))  # noqa: E731
    return _piecewise(f, DELTA, low, lambda f: _ipow(f, 3), EPSILON)


def _luma_to_linear(y):
    """uint8 luma -> float32 linear light of that gray value."""
    return _srgb_to_linear(tbe.vmuls(tbe.cast_to(y, "float32"), _c(1.0 / 255.0)))


def _weighted_sum(terms, weights, bias: float):
    total = tbe.vadds(tbe.vmuls(terms[0], _c(weights[0])), _c(bias))
    for term, weight in zip(terms[1:], weights[1:]):
        total = tbe.vadd(total, tbe.vmuls(term, _c(weight)))
    return total


def _to_uint8(x):
    """float32 -> uint8: clipped to [0, 255], rounded to the nearest integer (ties to even) in float32 by
    adding and removing 2^23, then through float16, which holds integers up to 2048 exactly."""
    x = tbe.vmins(tbe.vmaxs(x, _c(0.0)), _c(255.0))
    whole = tbe.vadds(tbe.vadds(x, _c(ROUNDING)), _c(-ROUNDING))
    return tbe.cast_to(tbe.cast_to(whole, "float16"), "uint8", True)


def _placeholders(*descs):
    """tvm placeholders of (name, desc) pairs, in order."""
    return [tvm.placeholder(d.get("shape"), name=n, dtype=d.get("dtype").lower()) for n, d in descs]


def _build(inputs, output, kernel_name):
    """One output, scheduled by the DSL (the classic auto_schedule: tvm.placeholder, no operation context)."""
    with tvm.target.cce():
        schedule = tbe.auto_schedule(output)
    tbe.build(schedule, {"name": kernel_name, "tensor_list": [*inputs, output]})


@register_op_compute("lab_l")
def lab_l_compute(y, out, l_offset, l_scale, kernel_name="lab_l"):
    """(L - l_offset) * l_scale with L = 116 f(linear(y)) - 16, folded into one multiply-add."""
    f = _cie_f(_luma_to_linear(y))
    return tbe.vadds(tbe.vmuls(f, _c(116.0 * l_scale)), _c(-(16.0 + l_offset) * l_scale))


@para_check.check_op_params(para_check.REQUIRED_INPUT, para_check.REQUIRED_OUTPUT, para_check.REQUIRED_ATTR_FLOAT,
                            para_check.REQUIRED_ATTR_FLOAT, para_check.KERNEL_NAME)  # fmt: skip
def lab_l(y, out, l_offset, l_scale, kernel_name="lab_l"):
    para_check.check_dtype(y.get("dtype").lower(), ("uint8",), param_name="y")
    inputs = _placeholders(("y", y))
    _build(inputs, lab_l_compute(*inputs, out, l_offset, l_scale, kernel_name), kernel_name)


def _rgb(y, a, b):
    """sRGB levels (float32, 0..255) of the Lab colour with L from luma y (uint8) and a, b (float16).

    L from luma means fy = f(linear(y)) and the XYZ Y is linear(y) itself: no L is formed.
    """
    y_lin = _luma_to_linear(y)
    fy = _cie_f(y_lin)
    fx = tbe.vadd(fy, tbe.vmuls(tbe.cast_to(a, "float32"), _c(1.0 / 500.0)))
    fz = tbe.vadd(fy, tbe.vmuls(tbe.cast_to(b, "float32"), _c(-1.0 / 200.0)))
    xyz = (_cie_f_inv(fx), y_lin, _cie_f_inv(fz))
    return [tbe.vmuls(_linear_to_srgb(_weighted_sum(xyz, row, 0.0)), _c(255.0)) for row in LAB_TO_RGB]


def _check_band(y, a, b):
    para_check.check_dtype(y.get("dtype").lower(), ("uint8",), param_name="y")
    for name, desc in (("a", a), ("b", b)):
        para_check.check_dtype(desc.get("dtype").lower(), ("float16",), param_name=name)


@register_op_compute("ab_merge_y")
def ab_merge_y_compute(y, a, b, y_out, kernel_name="ab_merge_y"):
    """Y' = 0.299 R + 0.587 G + 0.114 B of each pixel, rounded to uint8."""
    return _to_uint8(_weighted_sum(_rgb(y, a, b), (KR, KG, KB), 0.0))


@para_check.check_op_params(*[para_check.REQUIRED_INPUT] * 3, para_check.REQUIRED_OUTPUT,
                            para_check.KERNEL_NAME)  # fmt: skip
def ab_merge_y(y, a, b, y_out, kernel_name="ab_merge_y"):
    _check_band(y, a, b)
    inputs = _placeholders(("y", y), ("a", a), ("b", b))
    _build(inputs, ab_merge_y_compute(*inputs, y_out, kernel_name), kernel_name)


@register_op_compute("ab_merge_chroma")
def ab_merge_chroma_compute(y, a, b, cw, rw, q, channel, kernel_name="ab_merge_chroma"):
    """w * Cb (channel 0) or w * Cr (channel 1) of each pixel, w = cw[column] * rw[row]: its weight in its 2x2
    chroma block (1/4, more at an odd edge, 0 in padding; kernels/ascend/bands.py). The block's weights add
    up to 1, so its sum is the mean of its valid pixels' chroma."""
    shape = y.shape
    weight = tbe.vmul(*(tbe.broadcast(tbe.cast_to(w, "float32"), shape) for w in (cw, rw)))
    return tbe.vmul(_weighted_sum(_rgb(y, a, b), (CB, CR)[channel], 128.0), weight)


@para_check.check_op_params(*[para_check.REQUIRED_INPUT] * 5, para_check.REQUIRED_OUTPUT,
                            para_check.REQUIRED_ATTR_INT, para_check.KERNEL_NAME)  # fmt: skip
def ab_merge_chroma(y, a, b, cw, rw, q, channel, kernel_name="ab_merge_chroma"):
    _check_band(y, a, b)
    for name, desc in (("cw", cw), ("rw", rw)):
        para_check.check_dtype(desc.get("dtype").lower(), ("float16",), param_name=name)
    if channel not in (0, 1):
        raise RuntimeError(f"ab_merge_chroma: channel is 0 (Cb) or 1 (Cr), not {channel}")
    inputs = _placeholders(("y", y), ("a", a), ("b", b), ("cw", cw), ("rw", rw))
    _build(inputs, ab_merge_chroma_compute(*inputs, q, channel, kernel_name), kernel_name)


@register_op_compute("chroma_to_u8")
def chroma_to_u8_compute(x, out, kernel_name="chroma_to_u8"):
    """A block's Cb or Cr, rounded to uint8."""
    return _to_uint8(x)


@para_check.check_op_params(para_check.REQUIRED_INPUT, para_check.REQUIRED_OUTPUT, para_check.KERNEL_NAME)
def chroma_to_u8(x, out, kernel_name="chroma_to_u8"):
    para_check.check_dtype(x.get("dtype").lower(), ("float32",), param_name="x")
    inputs = _placeholders(("x", x))
    _build(inputs, chroma_to_u8_compute(*inputs, out, kernel_name), kernel_name)
