"""The Ascend operators against kernels/reference.py, through the numpy TBE DSL (kernels/ascend/tbe_numpy.py)
and through the emulated device (poisoned outputs, so an unwritten pixel cannot pass).

Tolerances (measured values in docs/ascend.md):
- LabL: |L - reference L| <= 1e-3 L units for every 8-bit gray value, on both chips' code paths
  (the 310's float16 exp/log seed, refined by a float32 Newton step; the 310P's float32 exp/log).
- AbMerge alone (band of Y + float16 ab at full size): Y', Cb, Cr within 1 level of the reference's
  rounded values everywhere, equal for at least 99.9 % of samples.
- The whole render path (Cast, MatMul, BatchMatMul, AbMerge over every band, float16 ab upsampling):
  within 1 level everywhere, equal for at least 99 % of samples, on random and real photos, odd sizes
  and sizes spanning both band heights.
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


def test_the_dsl_emulation_enforces_the_chips_dtypes() -> None:
    assert not soc("Ascend310").fp32_exp and soc("Ascend310P3").fp32_exp
    with tbe_numpy._running("Ascend310", {}):
        with pytest.raises(tbe_numpy.TbeEmulationError, match="vexp does not support float32"):
            tbe_numpy.vexp(np.ones(4, np.float32))
        with pytest.raises(tbe_numpy.TbeEmulationError, match="broadcast first"):
            tbe_numpy.vadd(np.ones(4, np.float32), np.ones(2, np.float32))
        with pytest.raises(tbe_numpy.TbeEmulationError, match="integers in 0..255"):
            tbe_numpy.cast_to(np.array([1.5], np.float16), "uint8")


# --- AbMerge alone ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rows", "ws", "width", "height"), [(16, 128, 125, 15), (128, 256, 256, 128), (16, 64, 33, 16)]
)
def test_ab_merge_band_is_the_reference(rows: int, ws: int, width: int, height: int) -> None:
    rng = np.random.default_rng(rows + ws)
    y = rng.integers(0, 256, (rows, ws), dtype=np.uint8)
    ab = rng.uniform(-80, 80, (2, rows, ws)).astype(np.float16)
    cw = bands.chroma_weights(width, ws).astype(np.float16)
    rw = bands.chroma_weights(height, rows).astype(np.float16)
    block = (rows // 2, 2, ws // 2, 2)
    inputs = [y.reshape(block), ab[0].reshape(block), ab[1].reshape(block), cw.reshape(1, 1, ws // 2, 2),
              rw.reshape(rows // 2, 2, 1, 1)]  # fmt: skip
    y_out, uv = tbe_numpy.run_op(singleop.ab_merge(rows, ws), inputs, "Ascend310")
    y_out, uv = y_out.reshape(rows, ws), uv.reshape(rows // 2, ws)
    want_y, want_cb, want_cr = reference_nv12(y[:height, :width], ab[:, :height, :width])
    ch, cw_ = want_cb.shape
    got_cb, got_cr = uv[:ch, 0 : 2 * cw_ : 2], uv[:ch, 1 : 2 * cw_ : 2]
    for got, want in ((y_out[:height, :width], want_y), (got_cb, want_cb), (got_cr, want_cr)):
        worst, equal = level_stats(got, want)
        assert worst <= 1 and equal >= 0.999, (worst, equal)


# --- the render path on the emulated device --------------------------------------------------------------
@pytest.fixture(scope="module")
def device():
    """An emulated 310 with the repository's operators (eccv16's contract: ab 56x56)."""
    runtime = Runtime(Acl(Emulator("Ascend310")))
    pool = MemoryPool(runtime)
    ops = Ops(runtime, singleop.checked_in_dir("Ascend310"))
    contract = singleop.checked_in_contracts(["eccv16"])[0]
    yield runtime, pool, LanePool(runtime, pool), AbMergePath(ops, pool, contract), contract
    runtime.close()
    assert runtime.acl.raw.last_leaks == []


def render_on_device(device, y: np.ndarray, ab: np.ndarray, ab_scale: float = 1.0) -> tuple[np.ndarray, ...]:
    """Upload y as a JPEGD-shaped picture, queue the AbMerge path, return the output NV12 planes."""
    runtime, pool, lanes, path, contract = device
    height, width = y.shape
    _, _, ws, hs = frame_layout(width, height, soc("Ascend310"))
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
        assert {e["op"] for e in entries} == {"LabL", "Cast", "MatMul", "BatchMatMul", "AbMerge"}


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
