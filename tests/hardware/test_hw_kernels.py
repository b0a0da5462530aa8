"""The operators and DVPP on the device, against the reference and against what the emulator assumes.

Tolerances are the emulated ones (tests/test_ascend_kernels.py) where the maths is the same, looser
where the device's own arithmetic enters (its vexp/vlog are not correctly rounded; JPEGD's IDCT is not
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
from acc.backends.ascend.lanes import LanePool
from acc.backends.ascend.memory import MemoryPool
from acc.backends.ascend.ops import Ops
from acc.backends.ascend.render import AbMergePath
from acc.backends.ascend.runtime import Runtime
from acc.backends.hostimage import apply_orientation
from acc.kernels import reference as R
from acc.kernels.ascend import nv12, singleop
from acc.kernels.ascend.socs import soc
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
        print(f"AbMerge path on the device, {photo} {name}: max {diff.max()}, equal {(diff == 0).mean():.4%}")
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
    data = (EXAMPLES / "MaioreWoman1895NZ.jpg").read_bytes()
    want = simplejpeg.decode_jpeg(data, colorspace="GRAY")[:, :, 0]
    got, (w, h) = jpegd_on_the_device(device, data)
    diff = np.abs(got.astype(int) - want[:h, :w])
    print(f"JPEGD vs libjpeg-turbo luma: max {diff.max()}, equal {(diff == 0).mean():.4%}")
    assert diff.max() <= 2 and (diff <= 1).mean() >= 0.99


def test_jpegd_sizes_and_orientation_are_what_the_emulator_assumes(device) -> None:
    """Odd sides (kept on the 310, rounded down on the 310P) and EXIF orientation (applied)."""
    chip = soc(device[0].soc_name)
    odd = encode(gradient_photo(49, 69, seed=4), ".jpg")
    assert jpegd_on_the_device(device, odd)[1] == jpegd_size(69, 49, chip)
    photo = gradient_photo(40, 64, seed=5)
    got, size = jpegd_on_the_device(device, exif_rotated(encode(photo, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 100), 6))
    print(f"JPEGD of an EXIF-rotated 64x40 JPEG: {size[0]}x{size[1]}")
    assert size == (40, 64) and np.abs(got.astype(int) - apply_orientation(photo, 6)).max() <= 3


def test_the_emulators_rules_hold_on_the_device(device) -> None:
    """What the emulator refuses, the device refuses too (its return codes printed, to compare)."""
    runtime, pool, lanes, _, _ = device
    acl = runtime.acl
    data = encode(gradient_photo(50, 70, seed=3), ".jpg")
    refused = {}
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
            where = "call"
            ret = ACL.media.dvpp_jpeg_decode_async(lane.dvpp.channel, src.ptr, len(data), desc, lane.stream)
            if ret == C.ACL_SUCCESS:  # the emulator reports these at synchronize_stream (checked on the device)
                ret, where = ACL.rt.synchronize_stream(lane.stream), "synchronize"
            refused[name] = (ret, where)
            acl("media.dvpp_destroy_pic_desc", desc)
            pool.give(out)
        pool.give(src)
    print(f"device return codes and where they came: {refused}")
    assert all(code != C.ACL_SUCCESS for code, _ in refused.values()), refused
    with pytest.raises(AclError):
        acl("rt.malloc", 0, C.ACL_MEM_MALLOC_HUGE_FIRST)
