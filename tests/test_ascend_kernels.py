"""The Ascend operators against kernels/reference.py, through the numpy TBE DSL (kernels/ascend/tbe_numpy.py,
which applies each chip's DSL dtype table, silent casts and approximate instructions) and through the
emulated device (poisoned outputs, so an unwritten pixel cannot pass), on both chips.

Tolerances (measured values in docs/ascend.md), with the 310's vdiv built from its reciprocal estimate
and one Newton step, and its float16 exp/log no better than CANN's pages promise (tbe_numpy.APPROXIMATE):
- LabL: |L - reference L| <= 1e-3 L units for every 8-bit gray value, on both chips' code paths
  (the 310's float16 exp/log seed, refined by a float32 Newton step; the 310P's float32 exp/log).
- The band's merge (AbMergeY, AbMergeChroma, ReduceSumD, TransposeD, ChromaToU8 on float16 ab at full
  size): Y', Cb, Cr within 1 level of the reference's rounded values everywhere, equal for at least
  99.9 % of samples, on random bands and bands of the example photos.
- The whole render path (Cast, MatMul, BatchMatMul and the merge over every band, float16 ab
  upsampling): within 1 level everywhere, equal for at least 99 % of samples, on random and real photos,
  odd sizes and sizes spanning both band heights.
- Form and precision: every custom operator is one output of element-wise (and broadcast) calls, the
  pattern CANN's classic scheduler builds; every DSL call runs in float32, except the exp/log seed on the
  310 (float16 there is all the chip has), and the DSL casts nothing behind the operators' back.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import simplejpeg

from acc.backends.ascend.acl_api import Acl
from acc.backends.ascend.backend import vpc_steps
from acc.backends.ascend.dvpp import Picture, frame_layout
from acc.backends.ascend.emulator import Emulator
from acc.backends.ascend.emulator.op import IMPLEMENTATIONS
from acc.backends.ascend.hostpath import luma_nv12, set_jpeg_size
from acc.backends.ascend.lanes import LanePool
from acc.backends.ascend.memory import MemoryPool
from acc.backends.ascend.ops import Ops
from acc.backends.ascend.render import AbMergePath
from acc.backends.ascend.runtime import Runtime
from acc.kernels import reference as R
from acc.kernels.ascend import bands, nv12, singleop, tbe_numpy
from acc.kernels.ascend.socs import SOCS, soc

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def reference_nv12(y: np.ndarray, ab_full: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float NV12 planes of the reference merge: L from y as a gray value, ab (2, H, W) at full size."""
    lab = np.concatenate([R.gray_l_table()[y][..., None], np.moveaxis(ab_full.astype(np.float64), 0, -1)], axis=-1)
    return nv12.rgb_to_nv12_planes(R.lab_to_rgb(lab) * 255.0)


def level_stats(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """(max |got - rint(want)|, fraction equal) for uint8 results against float references."""
    diff = np.abs(got.astype(np.int64) - np.rint(want))
    return float(diff.max()), float((diff == 0).mean())


# --- the TBE code's constants are the reference's --------------------------------------------------------
def test_operator_constants_are_the_references() -> None:
    op = tbe_numpy.load_op()
    np.testing.assert_allclose(op.LAB_TO_RGB, R.XYZ_TO_RGB * R.WHITE_D65[None, :], rtol=0, atol=1e-11)
    assert (op.EPSILON, op.KAPPA, op.DELTA) == (R.EPSILON, R.KAPPA, R.DELTA)
    y = np.array([0.0, 0.0, 0.0]) + [op.KR, op.KG, op.KB]
    np.testing.assert_allclose(y, [nv12.KR, nv12.KG, nv12.KB])
    rgb = np.array([[10.0, 200.0, 90.0]])
    ycc = nv12.rgb_to_ycbcr(rgb)[0]
    assert math.isclose(128 + np.dot(op.CB, rgb[0]), ycc[1]) and math.isclose(128 + np.dot(op.CR, rgb[0]), ycc[2])


# --- LabL ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chip", sorted(SOCS))
def test_lab_l_is_the_reference_for_every_gray_value(chip: str) -> None:
    contract = singleop.OpContract((16, 16), (4, 4), 50.0, 0.01)
    y = np.arange(256, dtype=np.uint8).reshape(16, 16)
    (out,) = tbe_numpy.run_op(singleop.lab_l(contract), [y], chip)
    want = (R.gray_l_table()[y] - 50.0) * 0.01
    assert out.dtype == np.float32 and np.abs(out - want).max() * 100 <= 1e-3  # in L units


def test_the_310_path_differs_from_the_310p_path_only_in_rounding() -> None:
    contract = singleop.OpContract((16, 16), (4, 4), 0.0, 1.0)
    y = np.arange(256, dtype=np.uint8).reshape(16, 16)
    a, b = (tbe_numpy.run_op(singleop.lab_l(contract), [y], chip)[0] for chip in ("Ascend310", "Ascend310P3"))
    assert not np.array_equal(a, b) and np.abs(a - b).max() < 1e-3


# --- what each chip's DSL accepts --------------------------------------------------------------------------
SEED = {("vexp", "float16"), ("vlog", "float16"), ("vmuls", "float16")}  # the exp(p log x) seed, float16 on the 310


def run_spec(spec: singleop.OpSpec, inputs: list[np.ndarray], chip: str, trace=None) -> list[np.ndarray]:
    """One operator as the emulated device runs it: custom ones through the DSL emulation, stock ones numpy."""
    if spec.op in tbe_numpy.CUSTOM_OPS:
        return tbe_numpy.run_op(spec, inputs, chip, trace=trace)
    return IMPLEMENTATIONS[spec.op](spec, inputs, chip)


def merge_band(y: np.ndarray, ab: np.ndarray, width: int, height: int, chip: str,
               traces: dict | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The band's merge operators (singleop.band_ops) on a band y (rows, ws) with ab (2, rows, ws), the photo
    width x height -> its Y' rows (rows, ws) and CbCr rows (rows/2, ws). `traces` gets each custom op's Trace."""
    rows, ws = y.shape
    a, b = ab.astype(np.float16)
    cw = bands.chroma_weights(width, ws).astype(np.float16).reshape(1, ws)
    rw = bands.chroma_weights(height, rows).astype(np.float16).reshape(rows, 1)
    merge_y, cb, cr, chroma_sum, interleave, to_u8 = singleop.band_ops(rows, ws)
    trace = lambda spec: None if traces is None else traces.setdefault(spec, tbe_numpy.Trace())  # noqa: E731
    (y_out,) = run_spec(merge_y, [y, a, b], chip, trace(merge_y))
    q = [run_spec(spec, [y, a, b, cw, rw], chip, trace(spec))[0] for spec in (cb, cr)]
    (sums,) = run_spec(chroma_sum, [np.stack(q).reshape(chroma_sum.inputs[0].shape)], chip)
    (pairs,) = run_spec(interleave, [sums], chip)
    (uv,) = run_spec(to_u8, [pairs.reshape(to_u8.inputs[0].shape)], chip, trace(to_u8))
    return y_out, uv


@pytest.mark.parametrize("chip", sorted(SOCS))
def test_every_custom_operator_is_one_element_wise_output_in_float32_but_the_310s_seed(chip: str) -> None:
    y = np.arange(256, dtype=np.uint8).reshape(16, 16)
    traces: dict = {}
    tbe_numpy.run_op(singleop.lab_l(singleop.OpContract((16, 16), (4, 4), 50.0, 0.01)), [y], chip,
                     trace=traces.setdefault("LabL", tbe_numpy.Trace()))  # fmt: skip
    merge_band(y, np.full((2, 16, 16), 20.0), 15, 15, chip, traces)
    assert len(traces) == 5  # LabL, AbMergeY, AbMergeChroma (Cb, Cr), ChromaToU8
    for op, trace in traces.items():
        assert (trace.pattern, trace.outputs) == ("ElemWise", 1), (op, trace.pattern, trace.outputs)
        assert trace.silent_casts == [], (op, trace.silent_casts)
        half = {(api, dtype) for api, dtype in trace.calls if dtype == "float16"}
        seeds = chip == "Ascend310" and getattr(op, "op", op) != "ChromaToU8"
        assert half == (SEED if seeds else set()), (op, half)
        assert {api for api, _ in trace.calls}.isdisjoint({"vcmpsel", "floor", "reduce_sum", "concat"})


def test_the_dsl_emulation_applies_the_chips_dtype_tables() -> None:
    x32 = np.linspace(0.1, 2.0, 8, dtype=np.float32)
    with tbe_numpy._running("Ascend310", {}) as run:
        with pytest.raises(tbe_numpy.TbeEmulationError, match="float32 of tbe.dsl.vexp is not supported"):
            tbe_numpy.vexp(x32)
        with pytest.raises(tbe_numpy.TbeEmulationError, match="not support f322s32 and floor"):
            tbe_numpy.floor(x32)
        picked = tbe_numpy.vcmpsel(x32, tbe_numpy.const(1.0), "le", x32, tbe_numpy.const(0.0))
        assert picked.dtype == np.float16 and run.trace.silent_casts == [
            "vcmpsel: float32 operands cast to float16 (Intrinsic_vsel on Ascend310)"]
        assert not tbe_numpy.api_check_support("tbe.dsl.vlog", "float32")
        with pytest.raises(tbe_numpy.TbeEmulationError, match="broadcast first"):
            tbe_numpy.vadd(x32, x32[:4])
        with pytest.raises(tbe_numpy.TbeEmulationError, match="integers in 0..255"):
            tbe_numpy.cast_to(np.array([1.5], np.float16), "uint8")
        assert tbe_numpy.cast_to(np.array([3], np.uint8), "float32").dtype == np.float32  # through float16
    with tbe_numpy._running("Ascend310P3", {}) as run:
        assert tbe_numpy.vexp(x32).dtype == np.float32 and tbe_numpy.floor(x32).dtype == np.int32
        assert tbe_numpy.vcmpsel(x32, tbe_numpy.const(1.0), "le", x32, tbe_numpy.const(0.0)).dtype == np.float32
        assert run.trace.silent_casts == []


OLD_STYLE_LAB_L = """
import tbe.dsl as tbe
from tbe import tvm

def lab_l(y, out, l_offset, l_scale, kernel_name="lab_l"):
    v = tbe.vmuls(tbe.cast_to(tvm.placeholder(y["shape"], name="y", dtype="uint8"), "float32"),
                  tvm.const(1 / 255, "float32"))
    linear = tbe.vcmpsel(v, tvm.const(0.04045, "float32"), "le", tbe.vmuls(v, tvm.const(1 / 12.92, "float32")), v)
    tbe.build(tbe.auto_schedule(linear), {"tensor_list": [linear]})
"""


def test_a_kernel_selecting_in_float32_fails_its_test_on_the_310(tmp_path) -> None:
    """What the first LabL did (vcmpsel on float32): CANN's DSL would build it in float16 on the 310."""
    (tmp_path / "old_colour.py").write_text(OLD_STYLE_LAB_L)
    module = tbe_numpy.load_op(tmp_path / "old_colour.py")
    spec = singleop.lab_l(singleop.OpContract((16, 16), (4, 4), 0.0, 1.0))
    y = np.arange(256, dtype=np.uint8).reshape(16, 16)
    with pytest.raises(tbe_numpy.TbeEmulationError, match="output 'l' is float16"):
        tbe_numpy.run_op(spec, [y], "Ascend310", module=module)
    assert tbe_numpy.run_op(spec, [y], "Ascend310P3", module=module)[0].dtype == np.float32


# --- the first render operator's form, refused as CANN refuses it ---------------------------------------------
OLD_STYLE_AB_MERGE = """
import tbe.dsl as tbe
from tbe import tvm

def ab_merge_y(y, a, b, y_out, kernel_name="ab_merge_y"):
    data = tvm.placeholder(y["shape"], name="y", dtype="uint8")
    luma = tbe.cast_to(data, "float32")
    block = tbe.reduce_sum(luma, axis=[1], keepdims=True)
    uv = tbe.concat([block, block], 1)
    outputs = [luma, uv]
    tbe.build(tbe.auto_schedule(outputs), {"tensor_list": [data, *outputs]})
"""


def test_the_first_ab_merge_form_is_refused_as_the_classic_scheduler_refuses_it(tmp_path) -> None:
    """Element-wise maths, a block reduce_sum and a concat under one auto_schedule with two outputs (the first
    AbMerge): cce_schedule.schedule_cce raises E90003, since concat is not a vector op it can share outputs with."""
    (tmp_path / "old_merge.py").write_text(OLD_STYLE_AB_MERGE)
    module = tbe_numpy.load_op(tmp_path / "old_merge.py")
    y, ab = np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.float16)
    with pytest.raises(tbe_numpy.TbeEmulationError, match="E90003"):
        tbe_numpy.run_op(singleop.ab_merge_y(16, 16), [y, ab, ab], "Ascend310", module=module)


# --- the 310's approximate instructions --------------------------------------------------------------------------
def test_vdiv_on_the_310_is_a_reciprocal_estimate_and_one_newton_step() -> None:
    """math.vdiv without Intrinsic_vdiv: lhs * vrec(rhs) refined once (Ascend310); the 310P divides. The
    estimate alone is off by up to 2^-11 (tbe_numpy.APPROXIMATE); one step leaves a few float32 ulp."""
    rng = np.random.default_rng(7)
    a, b = (rng.uniform(0.01, 100, 4096).astype(np.float32) for _ in range(2))
    exact = a.astype(np.float64) / b
    with tbe_numpy._running("Ascend310", {}):
        estimate = tbe_numpy._instruction("vrec", 1.0 / b.astype(np.float64), "float32")
        quotient = tbe_numpy.vdiv(a, b)
    estimate_error = np.abs(estimate * b.astype(np.float64) - 1)
    assert 2.0**-14 < estimate_error.max() <= 2.0**-11
    relative = np.abs(quotient / exact - 1)
    assert quotient.dtype == np.float32 and 0 < relative.max() <= 2.0**-21 and (quotient != a / b).any()
    with tbe_numpy._running("Ascend310P3", {}):
        np.testing.assert_array_equal(tbe_numpy.vdiv(a, b), a / b)


def test_the_310s_float16_exp_and_log_are_modelled_no_better_than_documented() -> None:
    x = np.linspace(0.01, 1.6, 2000).astype(np.float16)
    with tbe_numpy._running("Ascend310", {}):
        log, exp = tbe_numpy.vlog(x), tbe_numpy.vexp(x)
    ln = np.log(x.astype(np.float64))
    away = np.abs(ln) > 0.1  # relative error of a log near 0 says little
    log_error = np.abs(log[away] / ln[away] - 1)
    exp_error = np.abs(exp / np.exp(x.astype(np.float64)) - 1)
    assert log_error.max() > 1e-3 and exp_error.max() <= 1e-3  # vec_ln fails 0.1 % on (0, 5/3); vec_exp meets it
    with tbe_numpy._running("Ascend310P3", {}):
        np.testing.assert_array_equal(tbe_numpy.vlog(x), np.log(x.astype(np.float64)).astype(np.float16))


# --- the band's merge alone ------------------------------------------------------------------------------------------
NEAR_TIE = 0.51  # the farthest the merge may land from the float reference: 0.5 of rounding, 0.01 of arithmetic


def check_band(y: np.ndarray, ab: np.ndarray, width: int, height: int, chip: str) -> tuple[float, float]:
    """Run the merge on a band; (farthest Y', Cb or Cr from the float reference, fraction equal to its
    rounding, over the three planes)."""
    y_out, uv = merge_band(y, ab, width, height, chip)
    want_y, want_cb, want_cr = reference_nv12(y[:height, :width], ab.astype(np.float16)[:, :height, :width])
    ch, cw_ = want_cb.shape
    pairs = ((y_out[:height, :width], want_y), (uv[:ch, 0 : 2 * cw_ : 2], want_cb), (uv[:ch, 1 : 2 * cw_ : 2], want_cr))
    farthest = max(float(np.abs(got - want).max()) for got, want in pairs)
    equal = np.concatenate([(got == np.rint(want)).ravel() for got, want in pairs]).mean()
    return farthest, float(equal)


@pytest.mark.parametrize("chip", sorted(SOCS))
@pytest.mark.parametrize(("rows", "ws", "width", "height", "min_equal"), [
    (16, 128, 125, 15, 0.99), (128, 256, 256, 128, 0.999), (16, 64, 33, 16, 0.99),
])  # fmt: skip
def test_merge_of_a_band_is_the_reference(chip: str, rows: int, ws: int, width: int, height: int,
                                          min_equal: float) -> None:  # fmt: skip
    """Never farther than NEAR_TIE from the float reference (so at most 1 level from its rounding, and off it
    only next to a tie); equal to its rounding for 99.9 % of a large band's samples (small bands: one
    sample near a tie is already 0.2 % of them)."""
    rng = np.random.default_rng(rows + ws)
    y = rng.integers(0, 256, (rows, ws), dtype=np.uint8)
    ab = rng.uniform(-80, 80, (2, rows, ws))
    farthest, equal = check_band(y, ab, width, height, chip)
    assert farthest <= NEAR_TIE and equal >= min_equal, (farthest, equal)


@pytest.mark.parametrize("chip", sorted(SOCS))
@pytest.mark.parametrize("photo", ["1899SodaFountain.jpg", "EasterNyc1911.jpg"])
def test_merge_of_a_band_of_a_real_photo_is_the_reference(chip: str, photo: str) -> None:
    luma = simplejpeg.decode_jpeg((EXAMPLES / photo).read_bytes(), colorspace="GRAY")[:, :, 0]
    y = luma[:128, :256].copy()
    ab = np.moveaxis(R.resize_bilinear(np.moveaxis(smooth_ab(len(photo)), 0, -1), (128, 256)), -1, 0)
    farthest, equal = check_band(y, ab, 251, 127, chip)  # odd edges: the last chroma blocks hold one column/row
    assert farthest <= NEAR_TIE and equal >= 0.999, (farthest, equal)


# --- the render path on the emulated device --------------------------------------------------------------
@pytest.fixture(scope="module", params=sorted(SOCS))
def device(request):
    """An emulated chip with the repository's operators (eccv16's contract: ab 56x56)."""
    runtime = Runtime(Acl(Emulator(request.param)))
    pool = MemoryPool(runtime)
    ops = Ops(runtime, singleop.checked_in_dir(request.param))
    contract = singleop.checked_in_contracts(["eccv16"])[0]
    yield runtime, pool, LanePool(runtime, pool), AbMergePath(ops, pool, contract), contract
    runtime.close()
    assert runtime.acl.raw.last_leaks == []


def render_on_device(device, y: np.ndarray, ab: np.ndarray, ab_scale: float = 1.0) -> tuple[np.ndarray, ...]:
    """Upload y as a JPEGD-shaped picture, queue the render path, return the output NV12 planes."""
    runtime, pool, lanes, path, contract = device
    height, width = y.shape
    _, _, ws, hs = frame_layout(width, height, soc(runtime.soc_name))
    with lanes.lane() as lane:
        pic = Picture(pool.take("dvpp", nv12.nv12_size(ws, hs)), width, height, ws, hs)
        out = Picture(pool.take("dvpp", nv12.nv12_size(ws, hs)), width + width % 2, height + height % 2, ws, hs)
        ab_buf = pool.take("device", ab.nbytes)
        pool.upload(pic.buffer, luma_nv12(y, ws, hs))
        pool.upload(ab_buf, ab.astype(np.float32).tobytes())
        geometry = bands.render_geometry(width, height, ws, hs, contract.output_size, ab_scale)
        path.queue(lane, pic, ab_buf, out, geometry)
        lane.sync()
        raw = np.frombuffer(pool.download(out.buffer, nv12.nv12_size(ws, hs)), np.uint8)
        for buffer in (pic.buffer, out.buffer, ab_buf):
            pool.give(buffer)
    return nv12.unpack(raw, width, height, ws, hs)


def smooth_ab(seed: int, scale: float = 60.0, size: tuple[int, int] = (56, 56)) -> np.ndarray:
    """A plausible model output: smooth ab fields at the model's output size (h, w)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(-1, 1, (2, 7, 7))
    return np.stack([cv2.resize(c, size[::-1], interpolation=cv2.INTER_CUBIC) for c in coarse]) * scale


def check_render(device, y: np.ndarray, ab: np.ndarray, ab_scale: float = 1.0) -> tuple[float, float]:
    got = render_on_device(device, y, ab, ab_scale)
    h, w = y.shape
    ab_full = np.moveaxis(R.resize_bilinear(np.moveaxis(ab * ab_scale, 0, -1), (h, w)), -1, 0)
    stats = [level_stats(g, wnt) for g, wnt in zip(got, reference_nv12(y, ab_full))]
    worst, equal = max(s[0] for s in stats), min(s[1] for s in stats)
    assert worst <= 1 and equal >= 0.99, stats
    return worst, equal


@pytest.mark.parametrize(("height", "width"), [(97, 131), (144, 256), (300, 200), (33, 47)])
def test_render_path_on_random_photos(device, height: int, width: int) -> None:
    rng = np.random.default_rng(height * width)
    y = np.clip(cv2.GaussianBlur(rng.uniform(0, 255, (height, width)), (0, 0), 2) * 1.5 - 60, 0, 255).astype(np.uint8)
    check_render(device, y, smooth_ab(height))


def test_render_path_with_ab_scale(device) -> None:
    y = np.tile(np.arange(0, 256, 2, dtype=np.uint8), (40, 1))
    check_render(device, y, smooth_ab(5, scale=0.5), ab_scale=110.0)  # eccv16's ab / 110 output


@pytest.mark.parametrize("photo", ["MaioreWoman1895NZ.jpg", "LondonFireBrigadeMember1926.jpg"])
def test_render_path_on_real_photos(device, photo: str) -> None:
    y = simplejpeg.decode_jpeg((EXAMPLES / photo).read_bytes(), colorspace="GRAY")[:, :, 0]
    check_render(device, y[:300, :400], smooth_ab(len(photo)))


# --- the pieces around the operators ----------------------------------------------------------------------
def test_bands_tile_every_height_stride() -> None:
    for hs in range(16, 8193, 16):
        covered = bands.bands(hs)
        assert sum(n for _, n in covered) == hs and all(n in bands.BAND_ROWS for _, n in covered)
        assert all(a + n == b for (a, n), (b, _) in zip(covered, covered[1:]))
    with pytest.raises(ValueError):
        bands.bands(100)


def test_geometry_weights() -> None:
    m = bands.interp_matrix(131, 56)
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    np.testing.assert_allclose(m @ np.arange(56.0), R.resize_bilinear(np.arange(56.0)[:, None], (131, 1))[:, 0])
    np.testing.assert_array_equal(bands.chroma_weights(5, 8), [0.5, 0.5, 0.5, 0.5, 1, 0, 0, 0])


def test_checked_in_single_op_json_is_current() -> None:
    for chip in SOCS:
        path = singleop.checked_in_dir(chip) / singleop.JSON_NAME
        want = singleop.singleop_json(singleop.checked_in_contracts(), chip)
        assert path.read_text() == want, f"regenerate: python -m acc.kernels.ascend.singleop --soc {chip} -o {path}"
        entries = json.loads(want)
        assert {e["op"] for e in entries} == {*tbe_numpy.CUSTOM_OPS, "Cast", "MatMul", "BatchMatMul", "ReduceSumD",
                                              "TransposeD"}  # fmt: skip


@pytest.mark.parametrize(("size", "target", "steps"), [
    ((130, 96), (224, 224), [(224, 224)]),
    ((8192, 6000), (224, 224), [(256, 224), (224, 224)]),
    ((12, 6), (224, 224), [(192, 96), (224, 224)]),
    ((8, 50), (224, 224), None),
])  # fmt: skip
def test_vpc_steps_keep_each_scale_within_its_range(size, target, steps) -> None:
    assert vpc_steps(size, target) == steps


@pytest.mark.parametrize(("width", "height"), [(47, 33), (48, 33), (47, 34)])
def test_odd_sizes_are_encoded_even_and_declared_at_their_own(width: int, height: int) -> None:
    y = np.full((height + height % 2, width + width % 2), 120, np.uint8)
    c = np.full(((height + 1) // 2, (width + 1) // 2), 128, np.uint8)
    jpeg = set_jpeg_size(simplejpeg.encode_jpeg_yuv_planes(y, c, c.copy(), 90), width, height)
    assert simplejpeg.decode_jpeg(jpeg).shape[:2] == (height, width)
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (height, width)
