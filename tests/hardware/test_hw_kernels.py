"""The operators and DVPP on the device, against the reference and against what the emulator assumes.

Each assumption the emulated tests rest on is checked here on the chip, with the figure printed (-s):

- the render's build: every operator the backend calls, in every shape, was compiled and is found
  (test_every_operator_the_backend_calls_was_built), and the render path matches the reference;
- the rounding trick: (x + 2^23) - 2^23 in float32 rounds to nearest, ties to even, on the vector unit
  (test_chroma_rounding_is_round_to_nearest_even);
- JPEGD of odd sizes: the 310 keeps them (undocumented; the emulator assumes it), the 310P rounds down
  (test_jpegd_of_odd_sizes_is_what_the_emulator_assumes);
- a device-side failure: reported by rt.synchronize_stream, not by the call, with the code the emulator
  gives (test_a_device_side_failure_is_reported_at_synchronize_with_the_emulators_code).

Tolerances are the emulated ones (tests/test_ascend_kernels.py) where the maths is the same, looser
where the device's own arithmetic enters (its vexp/vlog/vrec are modelled, not known; JPEGD's IDCT is not
libjpeg-turbo's): the measured values are printed, for docs/ascend.md.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import simplejpeg

from acc.backends.ascend import constants as C
from acc.backends.ascend.acl_api import Acl, AclError
from acc.backends.ascend.backend import op_model_dir
from acc.backends.ascend.dvpp import frame_layout, jpegd_size
from acc.backends.ascend.emulator.media import DEVICE_FAILURE
from acc.backends.ascend.lanes import LanePool
from acc.backends.ascend.memory import MemoryPool
from acc.backends.ascend.ops import Ops
from acc.backends.ascend.render import AbMergePath
from acc.backends.ascend.runtime import Runtime
from acc.backends.hostimage import apply_orientation
from acc.kernels import reference as R
from acc.kernels.ascend import nv12, singleop
from acc.kernels.ascend.socs import band_widths, soc
from conftest import encode, gradient_photo
from hardware_support import ACL, MARKS, hardware_model
from test_ascend_e2e import exif_rotated
from test_ascend_kernels import EXAMPLES, reference_nv12, render_on_device, smooth_ab

pytestmark = MARKS


@pytest.fixture(scope="module")
def device():
    runtime = Runtime(Acl(ACL))
    spec = hardware_model()
    pool = MemoryPool(runtime)
    ops = Ops(runtime, op_model_dir(spec, runtime.soc_name))
    contract = singleop.OpContract.of(spec)
    yield runtime, pool, LanePool(runtime, pool), AbMergePath(ops, pool, contract), contract
    runtime.close()


def test_lab_l_on_the_device(device) -> None:
    runtime, pool, lanes, path, contract = device
    h, w = contract.input_size
    y = (np.arange(h * w) % 256).astype(np.uint8).reshape(h, w)
    with lanes.lane() as lane:
        src, out = pool.take("device", h * w), pool.take("device", 4 * h * w)
        pool.upload(src, y.tobytes())
        path.ops.launch(lane, singleop.lab_l(contract), [(src.ptr, h * w)], [(out.ptr, 4 * h * w)])
        lane.sync()
        got = np.frombuffer(pool.download(out, 4 * h * w), np.float32).reshape(h, w)
    want = (R.gray_l_table()[y] - contract.l_offset) * contract.l_scale
    error = np.abs(got - want).max() / contract.l_scale
    print(f"LabL on {runtime.soc_name}: max |dL| = {error:.2e} L units")
    assert error <= 1e-2


@pytest.mark.parametrize("photo", ["MaioreWoman1895NZ.jpg", "LondonFireBrigadeMember1926.jpg"])
def test_render_path_on_the_device(device, photo: str) -> None:
    y = simplejpeg.decode_jpeg((EXAMPLES / photo).read_bytes(), colorspace="GRAY")[:, :, 0][:300, :400]
    ab = smooth_ab(len(photo), size=device[4].output_size)
    got = render_on_device(device, y, ab)
    h, w = y.shape
    ab_full = np.moveaxis(R.resize_bilinear(np.moveaxis(ab, 0, -1), (h, w)), -1, 0)
    for name, g, want in zip(("Y", "Cb", "Cr"), got, reference_nv12(y, ab_full)):
        diff = np.abs(g.astype(int) - np.rint(want))
        print(f"render path on the device, {photo} {name}: max {diff.max()}, equal {(diff == 0).mean():.4%}")
        assert diff.max() <= 2 and (diff <= 1).mean() >= 0.99


def jpegd_on_the_device(device, data: bytes) -> tuple[np.ndarray, tuple[int, int]]:
    """JPEGD's Y plane of `data` and the size JPEGD reported in its output description."""
    runtime, pool, lanes, _, _ = device
    w, h, _ = ACL.media.dvpp_jpeg_get_image_info(ACL.util.bytes_to_ptr(data), len(data))[:3]
    with lanes.lane() as lane:
        pic = lane.dvpp.decode(lane, data, frame_layout(w, h, soc(runtime.soc_name)))
        raw = np.frombuffer(pool.download(pic.buffer, nv12.nv12_size(pic.width_stride, pic.height_stride)), np.uint8)
        pool.give(pic.buffer)
    return nv12.unpack(raw, pic.width, pic.height, pic.width_stride, pic.height_stride)[0], (pic.width, pic.height)


def test_jpegd_gives_libjpeg_turbos_luma(device) -> None:
    """A real photo, re-encoded as a baseline JPEG (the examples are progressive, which JPEGD refuses)."""
    luma = simplejpeg.decode_jpeg((EXAMPLES / "MaioreWoman1895NZ.jpg").read_bytes(), colorspace="GRAY")[:, :, 0]
    data = encode(luma, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 95)
    want = simplejpeg.decode_jpeg(data, colorspace="GRAY")[:, :, 0]
    got, (w, h) = jpegd_on_the_device(device, data)
    diff = np.abs(got.astype(int) - want[:h, :w])
    print(f"JPEGD vs libjpeg-turbo luma: max {diff.max()}, equal {(diff == 0).mean():.4%}")
    assert diff.max() <= 2 and (diff <= 1).mean() >= 0.99


@pytest.mark.parametrize(("width", "height"), [(69, 49), (70, 49), (69, 50)])
def test_jpegd_of_odd_sizes_is_what_the_emulator_assumes(device, width: int, height: int) -> None:
    """The 310 keeps an odd side (no page says so: the emulator assumes it, and the backend reads the size
    back either way); the 310P rounds it down (aclcppdevg_03_0357). The rows and columns kept are the JPEG's."""
    chip = soc(device[0].soc_name)
    photo = gradient_photo(height, width, seed=4)
    data = encode(photo, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 95)
    got, size = jpegd_on_the_device(device, data)
    print(f"JPEGD of a {width}x{height} JPEG on {chip.name}: {size[0]}x{size[1]}")
    assert size == jpegd_size(width, height, chip)
    want = simplejpeg.decode_jpeg(data, colorspace="GRAY")[:, :, 0][: size[1], : size[0]]
    assert np.abs(got.astype(int) - want).max() <= 2


def test_jpegd_applies_exif_orientation(device) -> None:
    photo = gradient_photo(40, 64, seed=5)
    got, size = jpegd_on_the_device(device, exif_rotated(encode(photo, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 100), 6))
    print(f"JPEGD of an EXIF-rotated 64x40 JPEG: {size[0]}x{size[1]}")
    assert size == (40, 64) and np.abs(got.astype(int) - apply_orientation(photo, 6)).max() <= 3


def test_every_operator_the_backend_calls_was_built(device) -> None:
    """kernels/ascend/build.sh compiled every shape of every stage (singleop.stage_ops) for this chip: none
    is missing, so the backend renders on the device (a missing one would send the render to the host)."""
    runtime, _, _, path, contract = device
    stages = singleop.stage_ops(contract, runtime.soc_name)
    missing = [(spec.op, [t.shape for t in spec.inputs], str(exc)) for specs in stages.values() for spec in specs
               if (exc := path.ops.probe(spec)) is not None]  # fmt: skip
    print(f"operators built: {sum(map(len, stages.values())) - len(missing)}, missing: {len(missing)} {missing[:3]}")
    assert missing == []


def test_chroma_rounding_is_round_to_nearest_even(device) -> None:
    """ChromaToU8's (x + 2^23) - 2^23 on float32: every tie k + 1/2 goes to the even neighbour, the values
    just off a tie to the near side, and the result is clipped to 0..255, as np.rint(clip(x)) is."""
    runtime, pool, lanes, path, _ = device
    rows, ws = 16, band_widths(soc(runtime.soc_name))[0]
    n = rows // 2 * ws
    ties = np.arange(256, dtype=np.float32) - np.float32(0.5)  # -0.5, 0.5, ..., 254.5
    near = np.concatenate([np.nextafter(ties, np.float32(-1e9)), np.nextafter(ties, np.float32(1e9))])
    rest = np.random.default_rng(11).uniform(-20, 275, n - ties.size - near.size).astype(np.float32)
    x = np.concatenate([ties, near, rest])
    spec = singleop.chroma_to_u8(rows, ws)
    with lanes.lane() as lane:
        src, out = pool.take("device", 4 * n), pool.take("device", n)
        pool.upload(src, x.tobytes())
        path.ops.launch(lane, spec, [(src.ptr, 4 * n)], [(out.ptr, n)])
        lane.sync()
        got = np.frombuffer(pool.download(out, n), np.uint8)
        pool.give(src)
        pool.give(out)
    want = np.rint(np.clip(x, 0, 255)).astype(np.uint8)
    wrong = np.flatnonzero(got != want)
    print(f"rounding on {runtime.soc_name}: {wrong.size} of {n} differ from round-to-nearest-even "
          f"(ties: {np.count_nonzero(got[: ties.size] != want[: ties.size])} of {ties.size})")  # fmt: skip
    assert wrong.size == 0, [(float(x[i]), int(got[i]), int(want[i])) for i in wrong[:10]]


def test_a_device_side_failure_is_reported_at_synchronize_with_the_emulators_code(device) -> None:
    """JPEGD into a picture its strides do not fit (a width stride of 64 for a 70-wide JPEG; output in rt.malloc
    memory, not DVPP memory): the host-side library only checks formats and handles, so the call succeeds
    and the device's failure comes as the return code of rt.synchronize_stream (image_processor.cpp launches
    the task without checking sizes). The emulator returns DEVICE_FAILURE (507018) there, and the backend
    takes over the photo only for failures reported at synchronize: both are checked."""
    runtime, pool, lanes, _, _ = device
    acl = runtime.acl
    data = encode(gradient_photo(50, 70, seed=3), ".jpg")
    seen = {}
    with lanes.lane() as lane:
        src = pool.take("dvpp", len(data))
        pool.upload(src, data)
        for name, (ws, hs, kind) in {"width stride 64 on a 70-wide JPEG": (64, 64, "dvpp"),
                                     "output in rt.malloc memory": (128, 64, "device")}.items():  # fmt: skip
            out = pool.take(kind, nv12.nv12_size(ws, hs))
            desc = acl.handle("media.dvpp_create_pic_desc")
            for field, value in (("data", out.ptr), ("size", nv12.nv12_size(ws, hs)), ("format", 1), ("width", 70),
                                 ("height", 50), ("width_stride", ws), ("height_stride", hs)):  # fmt: skip
                acl(f"media.dvpp_set_pic_desc_{field}", desc, value)
            call = ACL.media.dvpp_jpeg_decode_async(lane.dvpp.channel, src.ptr, len(data), desc, lane.stream)
            synchronize = ACL.rt.synchronize_stream(lane.stream) if call == C.ACL_SUCCESS else None
            seen[name] = (call, synchronize)
            acl("media.dvpp_destroy_pic_desc", desc)
            pool.give(out)
        pool.give(src)
    print(f"device return codes (call, synchronize): {seen}; the emulator assumes (0, {DEVICE_FAILURE})")
    assert all(call == C.ACL_SUCCESS for call, _ in seen.values()), f"refused at the call, not on the device: {seen}"
    assert all(code == DEVICE_FAILURE for _, code in seen.values()), \
        f"the device reports another code at synchronize: set emulator/media.py DEVICE_FAILURE to it ({seen})"
    with pytest.raises(AclError):
        acl("rt.malloc", 0, C.ACL_MEM_MALLOC_HUGE_FIRST)
