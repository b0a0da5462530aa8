"""The acl emulator fails loudly, one documented rule at a time: the return code the real library gives,
where it gives it (at the call for what the host-side library checks, at synchronize_stream for what the
device checks), and a reason in acl.get_recent_err_msg(). Plus the backend side: a non-zero code becomes an
exception naming the call. The rules and their sources: acc/backends/ascend/emulator/ (docstrings),
docs/ascend.md.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from acc.backends.ascend import constants as C
from acc.backends.ascend.acl_api import Acl, AclError
from acc.backends.ascend.emulator import Emulator, EmulatorFault, EmulatorLeak
from acc.backends.ascend.emulator.media import DEVICE_FAILURE
from acc.backends.hostimage import apply_orientation
from acc.kernels.ascend import nv12, singleop
from conftest import build_linear_model, encode, gradient_photo
from test_ascend_e2e import exif_rotated

NV12 = C.PIXEL_FORMAT_YUV_SEMIPLANAR_420


@dataclass
class Session:
    acl: Emulator
    stream: int
    context: int


def open_session(soc: str = "Ascend310", run_mode: int = C.ACL_HOST) -> Session:
    acl = Emulator(soc, run_mode=run_mode)
    assert acl.init() == 0 and acl.rt.set_device(0) == 0
    context, ret = acl.rt.create_context(0)
    stream, ret2 = acl.rt.create_stream()
    assert ret == ret2 == 0
    return Session(acl, stream, context)


@pytest.fixture
def s() -> Session:
    return open_session()


def dvpp_copy(acl: Emulator, data: bytes) -> int:
    ptr, ret = acl.media.dvpp_malloc(len(data))
    assert ret == 0
    assert acl.rt.memcpy(ptr, len(data), acl.util.bytes_to_ptr(data), len(data), C.ACL_MEMCPY_HOST_TO_DEVICE) == 0
    return ptr


def pic_desc(acl: Emulator, ptr: int, width: int, height: int, ws: int, hs: int, size: int | None = None,
             fmt: int = NV12) -> int:  # fmt: skip
    desc = acl.media.dvpp_create_pic_desc()
    for setter, value in (("data", ptr), ("size", size or nv12.nv12_size(ws, hs)), ("format", fmt), ("width", width),
                          ("height", height), ("width_stride", ws), ("height_stride", hs)):  # fmt: skip
        assert getattr(acl.media, f"dvpp_set_pic_desc_{setter}")(desc, value) == 0
    return desc


def channel(acl: Emulator) -> int:
    desc = acl.media.dvpp_create_channel_desc()
    assert acl.media.dvpp_create_channel(desc) == 0
    return desc


def failed(acl: Emulator, ret: int, code: int, words: str) -> bool:
    msg = acl.get_recent_err_msg()
    assert ret == code, (ret, code, msg)
    assert words.lower() in msg.lower(), msg
    return True


def fails_on_device(s: Session, ret: int, words: str) -> bool:
    """The call was accepted; the device reports the broken rule at synchronize_stream."""
    assert ret == 0, s.acl.get_recent_err_msg()
    return failed(s.acl, s.acl.rt.synchronize_stream(s.stream), DEVICE_FAILURE, words)


JPEG = encode(gradient_photo(50, 70, seed=3), ".jpg")  # 70x50


def decode_into(s: Session, ws: int, hs: int, kind: str = "dvpp", data: bytes = JPEG, fmt: int = NV12,
                size: int | None = None) -> tuple[int, int, int]:  # fmt: skip
    """Queue JPEGD of `data` into a new buffer of `kind` memory; (ret, output pointer, output description)."""
    n = nv12.nv12_size(ws, hs)
    out, _ = s.acl.media.dvpp_malloc(n) if kind == "dvpp" else s.acl.rt.malloc(n, 0)
    desc = pic_desc(s.acl, out, 0, 0, ws, hs, size=size, fmt=fmt)  # width, height: JPEGD's to fill in
    ret = s.acl.media.dvpp_jpeg_decode_async(channel(s.acl), dvpp_copy(s.acl, data), len(data), desc, s.stream)
    return ret, out, desc


def read_y(s: Session, out: int, ws: int, hs: int) -> np.ndarray:
    host, _ = s.acl.rt.malloc_host(ws * hs)
    assert s.acl.rt.memcpy(host, ws * hs, out, ws * hs, C.ACL_MEMCPY_DEVICE_TO_HOST) == 0
    return np.frombuffer(s.acl.util.ptr_to_bytes(host, ws * hs), np.uint8).reshape(hs, ws)


# --- call order, contexts, handles ------------------------------------------------------------------------
def test_calls_before_init_fail() -> None:
    acl = Emulator()
    assert failed(acl, acl.rt.set_device(0), C.ACL_ERROR_UNINITIALIZE, "acl.init")


def test_init_twice_fails(s: Session) -> None:
    assert failed(s.acl, s.acl.init(), C.ACL_ERROR_REPEAT_INITIALIZE, "twice")


def test_a_thread_without_a_context_cannot_touch_the_device(s: Session) -> None:
    results = []
    thread = threading.Thread(target=lambda: results.append(s.acl.rt.malloc(64, 0)))
    thread.start()
    thread.join()
    assert results[0][1] == C.ACL_ERROR_RT_CONTEXT_NULL
    assert s.acl.rt.set_context(s.context) == 0  # what a worker thread must do first (backend: bind_thread)


def test_a_stream_is_used_only_in_its_context(s: Session) -> None:
    other, _ = s.acl.rt.create_context(0)  # now current on this thread
    assert failed(s.acl, s.acl.rt.synchronize_stream(s.stream), C.ACL_ERROR_RT_STREAM_CONTEXT, "another context")


def test_a_handle_is_only_what_it_is(s: Session) -> None:
    desc = s.acl.media.dvpp_create_pic_desc()
    assert failed(s.acl, s.acl.media.dvpp_create_channel(desc), C.ACL_ERROR_INVALID_PARAM, "not a live channel_desc")
    assert s.acl.media.dvpp_destroy_pic_desc(desc) == 0
    assert failed(s.acl, s.acl.media.dvpp_destroy_pic_desc(desc), C.ACL_ERROR_INVALID_PARAM, "not a live")


def test_a_channel_goes_before_its_description(s: Session) -> None:
    desc = channel(s.acl)
    ret = s.acl.media.dvpp_destroy_channel_desc(desc)
    assert failed(s.acl, ret, C.ACL_ERROR_RELATIVE_RESOURCE_NOT_CLEARED, "dvpp_destroy_channel first")
    assert s.acl.media.dvpp_destroy_channel(desc) == 0 and s.acl.media.dvpp_destroy_channel_desc(desc) == 0


# --- host memory handed over with bytes_to_ptr ---------------------------------------------------------------
def test_bytes_to_ptr_takes_bytes_only(s: Session) -> None:
    with pytest.raises(ValueError, match="needs bytes"):
        s.acl.util.bytes_to_ptr(bytearray(16))
    with pytest.raises(ValueError, match="needs bytes"):
        s.acl.util.bytes_to_ptr(memoryview(bytes(16)))


def test_a_pointer_into_freed_bytes_is_caught(s: Session) -> None:
    """bytes_to_ptr keeps no reference: a temporary's pointer dangles as soon as the call returns."""
    dst, _ = s.acl.rt.malloc_host(4)
    kept = struct.pack("<I", 7)
    assert s.acl.rt.memcpy(dst, 4, s.acl.util.bytes_to_ptr(kept), 4, C.ACL_MEMCPY_HOST_TO_HOST) == 0
    assert s.acl.util.ptr_to_bytes(dst, 4) == kept
    with pytest.raises(EmulatorFault, match="bytes object that has been freed"):
        s.acl.rt.memcpy(dst, 4, s.acl.util.bytes_to_ptr(struct.pack("<I", 7)), 4, C.ACL_MEMCPY_HOST_TO_HOST)
    ptr = s.acl.util.bytes_to_ptr(b"%d gone later" % 12345)  # the object is gone once this line ends
    s.acl.util.bytes_to_ptr(kept)  # the emulator lets go of freed objects when it is next asked for a pointer
    with pytest.raises(EmulatorFault, match="bytes object that has been freed"):
        s.acl.rt.memcpy(dst, 4, ptr, 4, C.ACL_MEMCPY_HOST_TO_HOST)


# --- memory kinds -----------------------------------------------------------------------------------------
def test_dvpp_work_refuses_rt_malloc_memory_on_the_device(s: Session) -> None:
    ret, _, _ = decode_into(s, 128, 64, kind="device")
    assert fails_on_device(s, ret, "is device memory; this needs dvpp memory")


def test_jpegd_input_must_be_dvpp_memory(s: Session) -> None:
    src, _ = s.acl.rt.malloc(len(JPEG), 0)
    s.acl.rt.memcpy(src, len(JPEG), s.acl.util.bytes_to_ptr(JPEG), len(JPEG), C.ACL_MEMCPY_HOST_TO_DEVICE)
    out, _ = s.acl.media.dvpp_malloc(nv12.nv12_size(128, 64))
    ret = s.acl.media.dvpp_jpeg_decode_async(channel(s.acl), src, len(JPEG), pic_desc(s.acl, out, 70, 50, 128, 64),
                                             s.stream)  # fmt: skip
    assert fails_on_device(s, ret, "JPEGD input")


@pytest.mark.parametrize(
    ("kind", "src_kind", "dst_kind"),
    [(C.ACL_MEMCPY_HOST_TO_DEVICE, "device", "device"), (C.ACL_MEMCPY_DEVICE_TO_HOST, "device", "device"),
     (C.ACL_MEMCPY_DEVICE_TO_DEVICE, "host", "device"), (C.ACL_MEMCPY_HOST_TO_HOST, "host", "dvpp")],
)  # fmt: skip
def test_memcpy_kind_must_match_the_pointers(s: Session, kind: int, src_kind: str, dst_kind: str) -> None:
    alloc = {"device": lambda: s.acl.rt.malloc(64, 0)[0], "dvpp": lambda: s.acl.media.dvpp_malloc(64)[0],
             "host": lambda: s.acl.rt.malloc_host(64)[0]}  # fmt: skip
    ret = s.acl.rt.memcpy(alloc[dst_kind](), 64, alloc[src_kind](), 64, kind)
    assert failed(s.acl, ret, C.ACL_ERROR_RT_PARAM_INVALID, "memory")


def test_memcpy_stays_inside_allocations(s: Session) -> None:
    dst, _ = s.acl.rt.malloc(64, 0)
    data = bytes(128)
    src = s.acl.util.bytes_to_ptr(data)
    assert failed(s.acl, s.acl.rt.memcpy(dst, 128, src, 128, 1), C.ACL_ERROR_INVALID_PARAM, "overrun")
    assert failed(s.acl, s.acl.rt.memcpy(dst + 4096, 8, src, 8, 1), C.ACL_ERROR_INVALID_PARAM, "not inside")


def test_frees_must_match_allocations(s: Session) -> None:
    dvpp, _ = s.acl.media.dvpp_malloc(64)
    device, _ = s.acl.rt.malloc(64, 0)
    assert failed(s.acl, s.acl.rt.free(dvpp), C.ACL_ERROR_RT_INVALID_MEMORY_TYPE, "dvpp memory")
    assert failed(s.acl, s.acl.media.dvpp_free(device), C.ACL_ERROR_RT_INVALID_MEMORY_TYPE, "device memory")
    assert failed(s.acl, s.acl.rt.free(device + 128), C.ACL_ERROR_RT_MEMORY_FREE, "start of a live allocation")


def test_host_code_cannot_read_device_memory(s: Session) -> None:
    device, _ = s.acl.rt.malloc(64, 0)
    with pytest.raises(EmulatorFault):
        s.acl.util.ptr_to_bytes(device, 64)


def test_jpeg_info_reads_host_memory(s: Session) -> None:
    ptr = dvpp_copy(s.acl, JPEG)
    *_, ret = s.acl.media.dvpp_jpeg_get_image_info(ptr, len(JPEG))
    assert failed(s.acl, ret, C.ACL_ERROR_INVALID_PARAM, "application's memory")
    assert s.acl.media.dvpp_jpeg_get_image_info(s.acl.util.bytes_to_ptr(JPEG), len(JPEG)) == (70, 50, 1, 0)


# --- the application on the device (ACL_DEVICE run mode, an Atlas 200 DK) ------------------------------------
@pytest.mark.parametrize(("mode", "right", "wrong"), [(C.ACL_HOST, "borrowed", "device"),
                                                       (C.ACL_DEVICE, "device", "borrowed")])  # fmt: skip
def test_load_from_mem_takes_the_memory_of_the_side_the_application_runs_on(tmp_path, mode, right, wrong) -> None:
    build_linear_model(tmp_path / "m.onnx")
    data = (tmp_path / "m.onnx").read_bytes()
    s = open_session(run_mode=mode)
    assert s.acl.rt.get_run_mode() == (mode, 0)
    device, _ = s.acl.rt.malloc(len(data), 0)
    kind = C.ACL_MEMCPY_HOST_TO_DEVICE if mode == C.ACL_HOST else C.ACL_MEMCPY_DEVICE_TO_DEVICE  # as acllite does
    assert s.acl.rt.memcpy(device, len(data), s.acl.util.bytes_to_ptr(data), len(data), kind) == 0
    pointers = {"borrowed": s.acl.util.bytes_to_ptr(data), "device": device}
    assert s.acl.mdl.load_from_mem(pointers[right], len(data))[1] == 0
    ret = s.acl.mdl.load_from_mem(pointers[wrong], len(data))[1]
    assert failed(s.acl, ret, C.ACL_ERROR_INVALID_PARAM, f"is {wrong} memory")


# --- JPEGD ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("soc", "ws", "ok"),
    [("Ascend310", 128, True), ("Ascend310", 64, False), ("Ascend310", 256, False),
     ("Ascend310P3", 128, True), ("Ascend310P3", 192, False), ("Ascend310P3", 64, False)],
)  # fmt: skip
def test_jpegd_output_strides_follow_the_soc(soc: str, ws: int, ok: bool) -> None:
    s = open_session(soc)  # a 70-pixel-wide picture: 310 aligns its stride to 128, 310P to 64 (also 128)
    ret, _, _ = decode_into(s, ws, 64)
    if ok:
        assert ret == 0 and s.acl.rt.synchronize_stream(s.stream) == 0
    else:
        assert fails_on_device(s, ret, "strides")


def test_jpegd_height_stride_is_aligned_to_16(s: Session) -> None:
    assert fails_on_device(s, decode_into(s, 128, 50)[0], "height to 16")


@pytest.mark.parametrize(("soc", "decoded"), [("Ascend310", (69, 49)), ("Ascend310P3", (68, 48))])
def test_jpegd_reports_the_size_it_wrote_the_310p_rounding_odd_sides_down(soc: str, decoded: tuple) -> None:
    s = open_session(soc)
    photo = gradient_photo(49, 69, seed=4)
    odd = encode(photo, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 100)
    ptr = s.acl.util.bytes_to_ptr(odd)
    assert s.acl.media.dvpp_jpeg_predict_dec_size(ptr, len(odd), NV12) == (nv12.nv12_size(128, 64), 0)  # 128 x 16
    hs = -(-decoded[1] // 16) * 16
    ret, out, desc = decode_into(s, 128, hs, data=odd)
    assert ret == 0 and s.acl.media.dvpp_get_pic_desc_width(desc) == 0  # not written before the device runs
    assert s.acl.rt.synchronize_stream(s.stream) == 0
    assert (s.acl.media.dvpp_get_pic_desc_width(desc), s.acl.media.dvpp_get_pic_desc_height(desc)) == decoded
    w, h = decoded
    assert np.abs(read_y(s, out, 128, hs)[:h, :w].astype(int) - photo[:h, :w]).max() <= 3


def test_jpegd_applies_exif_orientation(s: Session) -> None:
    photo = gradient_photo(40, 64, seed=5)
    rotated = exif_rotated(encode(photo, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 100), 6)  # stored 64x40, upright 40x64
    assert s.acl.media.dvpp_jpeg_get_image_info(s.acl.util.bytes_to_ptr(rotated), len(rotated)) == (40, 64, 1, 0)
    ret, out, desc = decode_into(s, 128, 64, data=rotated)
    assert ret == 0 and s.acl.rt.synchronize_stream(s.stream) == 0
    assert (s.acl.media.dvpp_get_pic_desc_width(desc), s.acl.media.dvpp_get_pic_desc_height(desc)) == (40, 64)
    assert np.abs(read_y(s, out, 128, 64)[:64, :40].astype(int) - apply_orientation(photo, 6)).max() <= 3


def test_jpegd_output_buffer_must_hold_the_strided_picture(s: Session) -> None:
    assert fails_on_device(s, decode_into(s, 128, 64, size=128 * 64)[0], "x 3/2")


def test_jpegd_checks_the_output_format_at_the_call(s: Session) -> None:
    ret, _, _ = decode_into(s, 128, 64, fmt=12)  # RGB888: not a JPEGD output
    assert failed(s.acl, ret, C.ACL_ERROR_FORMAT_NOT_MATCH, "pixel format 12")
    with pytest.raises(EmulatorFault, match="valid but not emulated"):
        decode_into(s, 128, 64, fmt=3)  # YUV422SP: the library takes it, the emulator does not


PROGRESSIVE = encode(gradient_photo(50, 70), ".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, 1)


@pytest.mark.parametrize(("data", "why"),
                         [(PROGRESSIVE, "progressive"), (encode(gradient_photo(50, 70), ".png"), "not")])  # fmt: skip
def test_jpegd_refuses_what_it_cannot_decode(s: Session, data: bytes, why: str) -> None:
    *_, ret = s.acl.media.dvpp_jpeg_get_image_info(s.acl.util.bytes_to_ptr(data), len(data))
    assert failed(s.acl, ret, C.ACL_ERROR_UNSUPPORTED_JPEG, why)


def test_jpegd_sizes_are_checked_by_the_host_predict_and_by_the_device(s: Session) -> None:
    small = encode(gradient_photo(20, 70), ".jpg")
    ret = s.acl.media.dvpp_jpeg_predict_dec_size(s.acl.util.bytes_to_ptr(small), len(small), NV12)[1]
    assert failed(s.acl, ret, C.ACL_ERROR_INVALID_PARAM, "outside 32x32")
    assert fails_on_device(s, decode_into(s, 128, 32, data=small)[0], "outside 32x32")
    assert fails_on_device(s, decode_into(s, 128, 64, data=PROGRESSIVE)[0], "progressive")


def test_results_are_not_there_before_synchronize(s: Session) -> None:
    ret, out, _ = decode_into(s, 128, 64)
    assert ret == 0
    truth = cv2.imdecode(np.frombuffer(JPEG, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert np.abs(read_y(s, out, 128, 64)[:50, :70].astype(int) - truth).mean() > 40  # poison, not the picture
    assert s.acl.rt.synchronize_stream(s.stream) == 0
    assert np.abs(read_y(s, out, 128, 64)[:50, :70].astype(int) - truth).max() <= 1


def test_memory_overwritten_while_queued_work_uses_it_fails_the_synchronize(s: Session) -> None:
    ret, out, _ = decode_into(s, 128, 64)
    assert ret == 0
    junk = bytes(64)
    assert s.acl.rt.memcpy(out, 64, s.acl.util.bytes_to_ptr(junk), 64, C.ACL_MEMCPY_HOST_TO_DEVICE) == 0
    assert failed(s.acl, s.acl.rt.synchronize_stream(s.stream), DEVICE_FAILURE, "overwritten")


def test_memory_freed_while_queued_work_uses_it_fails_the_synchronize(s: Session) -> None:
    ret, out, _ = decode_into(s, 128, 64)
    assert ret == 0 and s.acl.media.dvpp_free(out) == 0
    assert failed(s.acl, s.acl.rt.synchronize_stream(s.stream), DEVICE_FAILURE, "freed")


def test_a_stream_with_queued_work_cannot_be_destroyed(s: Session) -> None:
    assert decode_into(s, 128, 64)[0] == 0
    assert failed(s.acl, s.acl.rt.destroy_stream(s.stream), C.ACL_ERROR_INVALID_PARAM, "unsynchronised")


def test_a_failure_injected_for_tests_surfaces_at_synchronize(s: Session) -> None:
    s.acl.fail_next("JPEGD")
    assert fails_on_device(s, decode_into(s, 128, 64)[0], "injected")
    assert decode_into(s, 128, 64)[0] == 0 and s.acl.rt.synchronize_stream(s.stream) == 0  # once only


# --- VPC --------------------------------------------------------------------------------------------------
def vpc(s: Session, src: tuple[int, int, int, int], dst: tuple[int, int, int, int], interpolation: int = 1,
        out_fmt: int = NV12) -> int:  # fmt: skip
    config = s.acl.media.dvpp_create_resize_config()
    assert s.acl.media.dvpp_set_resize_config_interpolation(config, interpolation) == 0
    descs = []
    for (width, height, ws, hs), fmt in zip((src, dst), (NV12, out_fmt)):
        ptr, _ = s.acl.media.dvpp_malloc(nv12.nv12_size(ws, hs))
        descs.append(pic_desc(s.acl, ptr, width, height, ws, hs, fmt=fmt))
    return s.acl.media.dvpp_vpc_resize_async(channel(s.acl), *descs, config, s.stream)


def test_vpc_resizes_within_its_rules(s: Session) -> None:
    assert vpc(s, (70, 50, 128, 64), (224, 224, 224, 224)) == 0 and s.acl.rt.synchronize_stream(s.stream) == 0


@pytest.mark.parametrize(
    ("src", "dst", "why"),
    [((71, 50, 128, 64), (224, 224, 224, 224), "even width and height"),
     ((70, 50, 72, 64), (224, 224, 224, 224), "multiple of 16"),
     ((70, 50, 128, 63), (224, 224, 224, 224), "height stride of 2"),
     ((8, 50, 16, 64), (64, 64, 64, 64), "outside 10x6"),
     ((70, 50, 128, 64), (4100, 64, 4112, 64), "outside 10x6..4096"),
     ((4096, 64, 4096, 64), (100, 64, 112, 64), "outside [1/32, 16]"),
     ((20, 20, 32, 20), (400, 20, 400, 20), "outside [1/32, 16]")],
)  # fmt: skip
def test_vpc_sizes_fail_on_the_device(s: Session, src: tuple, dst: tuple, why: str) -> None:
    assert fails_on_device(s, vpc(s, src, dst), why)


def test_vpc_formats_fail_at_the_call(s: Session) -> None:
    ret = vpc(s, (70, 50, 128, 64), (224, 224, 224, 224), out_fmt=C.PIXEL_FORMAT_YUV_400)
    assert failed(s.acl, ret, C.ACL_ERROR_FORMAT_NOT_MATCH, "VPC output")


@pytest.mark.parametrize(("soc", "accepted"), [("Ascend310", [0, 1, 2, 3, 4]), ("Ascend310P3", [0, 1, 2])])
def test_vpc_interpolations_are_per_soc(soc: str, accepted: list[int]) -> None:
    s = open_session(soc)
    config = s.acl.media.dvpp_create_resize_config()
    for value in range(6):
        ret = s.acl.media.dvpp_set_resize_config_interpolation(config, value)
        assert ret == (0 if value in accepted else C.ACL_ERROR_INVALID_PARAM), (soc, value)


def test_the_310s_own_filter_is_not_emulated_but_the_310p_runs_0_as_bilinear() -> None:
    s = open_session("Ascend310")
    assert vpc(s, (70, 50, 128, 64), (224, 224, 224, 224), interpolation=0) == 0
    with pytest.raises(EmulatorFault, match="interpolation 0 on Ascend310 is not emulated"):
        s.acl.rt.synchronize_stream(s.stream)
    p = open_session("Ascend310P3")
    assert vpc(p, (70, 50, 128, 64), (224, 224, 224, 224), interpolation=0) == 0
    assert p.acl.rt.synchronize_stream(p.stream) == 0


# --- JPEGE ------------------------------------------------------------------------------------------------
def jpege(s: Session, width: int, height: int, ws: int, hs: int, offset: int = 0, level: int = 90,
          size_in: str = "host") -> int:  # fmt: skip
    ptr, _ = s.acl.media.dvpp_malloc(nv12.nv12_size(ws, hs) + 128)
    desc = pic_desc(s.acl, ptr + offset, width, height, ws, hs)
    config = s.acl.media.dvpp_create_jpege_config()
    assert s.acl.media.dvpp_set_jpege_config_level(config, level) == 0  # any level is stored
    out, _ = s.acl.media.dvpp_malloc(1 << 16)
    slot, _ = s.acl.rt.malloc_host(4) if size_in == "host" else s.acl.rt.malloc(4, 0)
    if size_in == "host":
        capacity = struct.pack("<I", 1 << 16)
        s.acl.rt.memcpy(slot, 4, s.acl.util.bytes_to_ptr(capacity), 4, C.ACL_MEMCPY_HOST_TO_HOST)
    return s.acl.media.dvpp_jpeg_encode_async(channel(s.acl), desc, out, slot, config, s.stream)


def test_jpege_encodes_within_its_rules(s: Session) -> None:
    assert jpege(s, 70, 50, 128, 64) == 0 and jpege(s, 64, 48, 64, 48) == 0
    assert s.acl.rt.synchronize_stream(s.stream) == 0


@pytest.mark.parametrize(
    ("args", "why"),
    [((71, 50, 128, 64), "even sizes"), ((30, 50, 32, 64), "32x32"), ((70, 50, 72, 64), "multiple of 16"),
     ((70, 50, 128, 52), "height stride"), ((70, 50, 128, 64, 64), "128-byte")],
)  # fmt: skip
def test_jpege_rules_fail_on_the_device(s: Session, args: tuple, why: str) -> None:
    assert fails_on_device(s, jpege(s, *args), why)


def test_jpege_reads_its_size_slot_on_the_host_at_the_call(s: Session) -> None:
    with pytest.raises(EmulatorFault, match="JPEGE size pointer"):
        jpege(s, 70, 50, 128, 64, size_in="device")


def test_jpege_predict_checks_on_the_host(s: Session) -> None:
    ptr, _ = s.acl.media.dvpp_malloc(nv12.nv12_size(32, 64))
    config = s.acl.media.dvpp_create_jpege_config()
    size, ret = s.acl.media.dvpp_jpeg_predict_enc_size(pic_desc(s.acl, ptr, 30, 50, 32, 64), config)
    assert failed(s.acl, ret, C.ACL_ERROR_INVALID_PARAM, "outside 32x32")
    size, ret = s.acl.media.dvpp_jpeg_predict_enc_size(pic_desc(s.acl, ptr, 70, 50, 128, 64), config)
    assert ret == 0 and size == 2 << 20  # NV12 bytes + header room, aligned up to 2 MiB


@pytest.mark.parametrize(("soc", "level", "ok"), [("Ascend310", 0, True), ("Ascend310P3", 0, False),
                                                  ("Ascend310P3", 1, True), ("Ascend310", 101, False)])  # fmt: skip
def test_jpege_quality_range_is_per_soc_and_checked_on_the_device(soc: str, level: int, ok: bool) -> None:
    s = open_session(soc)
    ret = jpege(s, 70, 50, 128, 64, level=level)
    if ok:
        assert ret == 0 and s.acl.rt.synchronize_stream(s.stream) == 0
    else:
        assert fails_on_device(s, ret, "..100")


# --- single operators -------------------------------------------------------------------------------------
def cast_call(s: Session, shape: list[int], dst_type: int = 1) -> tuple[int, int]:
    """create_handle for Cast float32 -> float16 of `shape` with attr dst_type; (handle, ret)."""
    acl = s.acl
    assert acl.op.set_model_dir(str(singleop.checked_in_dir("Ascend310"))) == 0
    attr = acl.op.create_attr()
    acl.op.set_attr_int(attr, "dst_type", dst_type)
    descs = [acl.create_tensor_desc(dtype, shape, C.ACL_FORMAT_ND) for dtype in (C.ACL_FLOAT, C.ACL_FLOAT16)]
    return acl.op.create_handle("Cast", descs[:1], descs[1:], attr)


def test_operators_are_found_exactly_as_compiled(s: Session) -> None:
    assert cast_call(s, [112, 56])[1] == 0
    assert failed(s.acl, cast_call(s, [112, 57])[1], C.ACL_ERROR_OP_INPUT_NOT_MATCH, "no compiled variant takes")
    assert failed(s.acl, cast_call(s, [112, 56], dst_type=0)[1], C.ACL_ERROR_OP_ATTR_NOT_MATCH, "dst_type")


def test_output_descriptions_must_match_too(s: Session) -> None:
    acl = s.acl
    acl.op.set_model_dir(str(singleop.checked_in_dir("Ascend310")))
    attr = acl.op.create_attr()
    acl.op.set_attr_int(attr, "dst_type", 1)
    x, y = (acl.create_tensor_desc(C.ACL_FLOAT, [112, 56], C.ACL_FORMAT_ND) for _ in range(2))  # float32 out
    ret = acl.op.create_handle("Cast", [x], [y], attr)[1]
    assert failed(acl, ret, C.ACL_ERROR_OP_OUTPUT_NOT_MATCH, "gives float32")


def transpose_call(s: Session, perm) -> tuple[int, int]:
    """create_handle for the render's TransposeD of the 16-row, 128-wide band with attr perm; (handle, ret)."""
    acl = s.acl
    acl.op.set_model_dir(str(singleop.checked_in_dir("Ascend310")))
    attr = acl.op.create_attr()
    assert acl.op.set_attr_list_int(attr, "perm", perm) == 0
    x, y = (acl.create_tensor_desc(C.ACL_FLOAT, shape, C.ACL_FORMAT_ND) for shape in ([2, 8, 64], [8, 64, 2]))
    return acl.op.create_handle("TransposeD", [x], [y], attr)


def test_list_attributes_are_matched_element_by_element(s: Session) -> None:
    assert transpose_call(s, [1, 2, 0])[1] == 0
    assert failed(s.acl, transpose_call(s, [2, 1, 0])[1], C.ACL_ERROR_OP_ATTR_NOT_MATCH, "perm")
    with pytest.warns(Warning, match="only support the format of list"):  # pyACL's op/op.cpp: arrays deprecated
        s.acl.op.set_attr_list_int(s.acl.op.create_attr(), "perm", np.array([1, 2, 0]))
    with pytest.raises(TypeError, match="not list or numpy array"):
        s.acl.op.set_attr_list_int(s.acl.op.create_attr(), "perm", (1, 2, 0))


def test_unknown_operators_are_not_found(s: Session) -> None:
    s.acl.op.set_model_dir(str(singleop.checked_in_dir("Ascend310")))
    ret = s.acl.op.create_handle("Conv2D", [], [], s.acl.op.create_attr())[1]
    assert failed(s.acl, ret, C.ACL_ERROR_OP_NOT_FOUND, "Conv2D")


def test_operator_outputs_are_poison_until_synchronize(s: Session) -> None:
    acl = s.acl
    handle, _ = cast_call(s, [112, 56])
    src, _ = acl.rt.malloc(112 * 56 * 4, 0)
    dst, _ = acl.rt.malloc(112 * 56 * 2, 0)
    values = np.linspace(-100, 100, 112 * 56, dtype=np.float32)
    raw = values.tobytes()
    acl.rt.memcpy(src, values.nbytes, acl.util.bytes_to_ptr(raw), values.nbytes, 1)
    bufs = [acl.create_data_buffer(src, values.nbytes), acl.create_data_buffer(dst, values.nbytes // 2)]
    assert acl.op.execute_with_handle(handle, bufs[:1], bufs[1:], s.stream) == 0
    host, _ = acl.rt.malloc_host(values.nbytes // 2)
    read = lambda: (acl.rt.memcpy(host, values.nbytes // 2, dst, values.nbytes // 2, 2),  # noqa: E731
                    np.frombuffer(acl.util.ptr_to_bytes(host, values.nbytes // 2), np.float16))[1]  # fmt: skip
    assert np.isnan(read()).all()
    assert acl.rt.synchronize_stream(s.stream) == 0
    np.testing.assert_array_equal(read(), values.astype(np.float16))


def test_operators_take_device_memory(s: Session) -> None:
    acl = s.acl
    handle, _ = cast_call(s, [112, 56])
    host, _ = acl.rt.malloc_host(112 * 56 * 4)
    dst, _ = acl.rt.malloc(112 * 56 * 2, 0)
    bufs = [acl.create_data_buffer(host, 112 * 56 * 4), acl.create_data_buffer(dst, 112 * 56 * 2)]
    ret = acl.op.execute_with_handle(handle, bufs[:1], bufs[1:], s.stream)
    assert failed(acl, ret, C.ACL_ERROR_INVALID_PARAM, "host memory")


# --- leaks and the backend's side -------------------------------------------------------------------------
def test_leaks_fail_loudly_at_finalize(s: Session) -> None:
    """CANN's finalize returns success whatever is left (no code is documented for leaks), so the emulator
    raises its own exception instead."""
    s.acl.rt.malloc(100, 0)
    s.acl.media.dvpp_create_pic_desc()
    with pytest.raises(EmulatorLeak, match="still alive at acl.finalize"):
        s.acl.finalize()
    leaks = " ".join(s.acl.last_leaks)
    for what in ("device memory", "pic_desc", "stream", "context", "device 0"):
        assert what in leaks, leaks
    assert s.acl.init() == 0  # finalize ran: the process is back to before acl.init


def test_a_clean_teardown_finalizes(s: Session) -> None:
    acl = s.acl
    assert acl.rt.destroy_stream(s.stream) == 0 and acl.rt.destroy_context(s.context) == 0
    assert acl.rt.reset_device(0) == 0 and acl.finalize() == 0 and acl.last_leaks == []
    assert acl.finalize() == C.ACL_ERROR_REPEAT_FINALIZE


def test_non_zero_returns_become_errors_naming_the_call(s: Session) -> None:
    acl = Acl(s.acl)
    with pytest.raises(AclError, match=r"acl\.rt\.malloc failed with ACL_ERROR_INVALID_PARAM \(100000\): allocation"):
        acl("rt.malloc", 0, 0)
    with pytest.raises(AclError, match=r"acl\.media\.dvpp_jpeg_get_image_info failed with ACL_ERROR_UNSUPPORTED_JPEG"):
        junk = b"\xff\xd8\xff\xe0 not a JPEG"
        acl("media.dvpp_jpeg_get_image_info", s.acl.util.bytes_to_ptr(junk), len(junk))
    assert acl("rt.malloc", 64, 0) > 0


def test_dynamic_batch_and_inputs_still_being_written(s: Session, tmp_path) -> None:

    build_linear_model(tmp_path / "m.onnx")
    data = (tmp_path / "m.onnx").read_bytes()
    acl = s.acl
    model, _ = acl.mdl.load_from_mem(acl.util.bytes_to_ptr(data), len(data))
    desc = acl.mdl.create_desc()
    acl.mdl.get_desc(desc, model)
    assert acl.mdl.get_input_dims(desc, 0) == ({"name": "L", "dimCount": 4, "dims": [-1, 1, 224, 224]}, 0)
    batch_index, _ = acl.mdl.get_input_index_by_name(desc, C.DYNAMIC_BATCH_INPUT)
    sizes = [acl.mdl.get_input_size_by_index(desc, 0), acl.mdl.get_input_size_by_index(desc, 1),
             acl.mdl.get_output_size_by_index(desc, 0)]  # fmt: skip
    x, mbatch, y = (acl.rt.malloc(n, 0)[0] for n in sizes)
    inputs, outputs = acl.mdl.create_dataset(), acl.mdl.create_dataset()
    for dataset, ptr, n in ((inputs, x, sizes[0]), (inputs, mbatch, sizes[1]), (outputs, y, sizes[2])):
        acl.mdl.add_dataset_buffer(dataset, acl.create_data_buffer(ptr, n))
    assert failed(acl, acl.mdl.execute(model, inputs, outputs), C.ACL_ERROR_INVALID_PARAM, "set_dynamic_batch_size")
    ret = acl.mdl.set_dynamic_batch_size(model, inputs, batch_index, 3)
    assert failed(acl, ret, C.ACL_ERROR_INVALID_PARAM, "built for [1, 2, 4, 8]")
    assert acl.mdl.set_dynamic_batch_size(model, inputs, batch_index, 2) == 0
    # queue an operator that writes the model's input, and run the model before synchronizing
    handle, _ = cast_call(s, [112, 56])
    src, _ = acl.rt.malloc(112 * 56 * 4, 0)
    zeros = bytes(112 * 56 * 4)
    acl.rt.memcpy(src, len(zeros), acl.util.bytes_to_ptr(zeros), len(zeros), C.ACL_MEMCPY_HOST_TO_DEVICE)
    bufs = [acl.create_data_buffer(src, 112 * 56 * 4), acl.create_data_buffer(x, 112 * 56 * 2)]
    assert acl.op.execute_with_handle(handle, bufs[:1], bufs[1:], s.stream) == 0
    assert failed(acl, acl.mdl.execute(model, inputs, outputs), C.ACL_ERROR_RT_MODEL_EXECUTE, "synchronize first")
    assert acl.rt.synchronize_stream(s.stream) == 0
    assert acl.mdl.execute(model, inputs, outputs) == 0
