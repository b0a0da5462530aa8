"""acl.media: DVPP channels, picture descriptions, JPEGD, VPC resize and JPEGE, with their documented rules.

Where a rule is checked follows the ACL sources (CANN's open ACL, single_op/dvpp/base/image_processor.cpp
and v100/v200/image_processor_v*.cpp; a public copy: github.com/fletcherjiang/Polyulatex): the host-side
library checks handles, null pointers and pixel formats when the call is made (a wrong format:
ACL_ERROR_FORMAT_NOT_MATCH) and then queues an AI CPU task with the descriptions copied to the device;
sizes, strides, alignment, memory and the stream itself are the device's to check, so breaking those
rules fails at synchronize_stream (the emulator returns ACL_ERROR_RT_AICPU_EXCEPTION there, the closest
documented code; CANN does not say which one). The predict_* and get_image_info calls run on the host
and check what they read at once. The rules (CANN API pages, ids as on hiascend.com; docs/ascend.md):

JPEGD   (aclpythondevg_01_0321, aclcppdevg_03_0357) input in DVPP memory; Huffman baseline 8-bit only (no
        progressive, no arithmetic coding), subsampling 444/422/420/440/400, 32x32 .. 8192x8192. EXIF
        orientation is applied, so the output is the upright picture (get_image_info and
        predict_dec_size report the upright size too: JudgeNeedOrientation in image_processor.cpp). The
        310P rounds an odd output width or height down to even. The output's width and height are the
        device's to set: after decoding they are copied back into the output description (read them
        with dvpp_get_pic_desc_width/height). Its width stride is that width aligned to 128 (310) or 64
        (310P), its height stride the height aligned to 16, its buffer >= ws * hs * 3/2, in DVPP memory.
        A gray JPEG decodes with its chroma set to 128. Padding bytes are not written (they keep poison).
VPC     (aclcppdevg_03_0337/0339, aclcppdevg_03_1533) NV12/NV21 in and out, even widths and heights,
        width stride a multiple of 16 and height stride of 2 (at least the width and height; on the 310
        width stride 32..16384, height stride 6..16384), input 10x6 .. 8192x8192, output 10x6 ..
        4096x4096, scale per axis within [1/32, 16], DVPP memory. Interpolation 0..4 on the 310, 0..2 on
        the 310P (which runs 0 as 1).
JPEGE   (aclpythondevg_01_0328, aclcppdevg_03_0197) NV12/NV21, even width and height, 32x32 .. 8192x8192, width stride a
        multiple of 16 (>= width), height stride the height or the height aligned to 16, buffer >= ws *
        hs * 3/2, input in DVPP memory aligned to 128 bytes; output in DVPP memory; the size pointer is
        host memory holding the output buffer's size (read when the call is made) and receives the
        JPEG's size. The quality level is stored as given (types/dvpp.cpp); the device takes 0..100 on
        the 310 (0 means best) and 1..100 on the 310P.

Decoding uses libjpeg-turbo (simplejpeg), resizing OpenCV's bilinear (interpolation 1, and 0 on the 310P)
or nearest (2); the 310's own filter (0) and its TensorFlow-like modes (3, 4) are not emulated and raise
EmulatorFault. Encoding uses libjpeg-turbo from the YUV planes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np
import simplejpeg

from acc.backends.ascend import constants as C
from acc.backends.ascend.emulator.core import AclFail, Block, Device, EmulatorFault, Task, api
from acc.backends.hostimage import apply_orientation
from acc.kernels.ascend import nv12
from acc.kernels.ascend.socs import HEIGHT_ALIGN, MAX_SIDE, align
from acc.probe import BadImage, probe

NV_FORMATS = (C.PIXEL_FORMAT_YUV_SEMIPLANAR_420, C.PIXEL_FORMAT_YVU_SEMIPLANAR_420)
# What the host-side library accepts (v100 image_processor_v100.cpp; JPEGE: base image_processor.cpp); of
# those the emulator runs NV12/NV21 only.
JPEGD_OUTPUT_FORMATS = {*NV_FORMATS, 3, 4, 5, 6, 1000, 1001, 10000}  # 422SP, 444SP, 440SP, UNKNOWN
VPC_INPUT_FORMATS = {0, *NV_FORMATS, *range(3, 20)}
JPEGE_INPUT_FORMATS = {*NV_FORMATS, 7, 8, 9, 10}  # and packed YUV422
JPEGD_SUBSAMPLING = {"444", "422", "420", "440", "Gray"}
DEVICE_FAILURE = C.ACL_ERROR_RT_AICPU_EXCEPTION  # DVPP work runs as AI CPU kernels (LaunchDvppTask)


@dataclass
class PicDesc:
    data: int = 0
    size: int = 0
    format: int = -1
    width: int = 0
    height: int = 0
    width_stride: int = 0
    height_stride: int = 0


@dataclass
class Channel:
    created: bool = False


@dataclass
class JpegInfo:
    width: int  # upright: after EXIF orientation
    height: int
    components: int
    orientation: int


def _invalid(message: str) -> AclFail:
    return AclFail(C.ACL_ERROR_INVALID_PARAM, message)


def parse_jpeg(data: bytes) -> JpegInfo:
    """What JPEGD can decode, or ACL_ERROR_UNSUPPORTED_JPEG."""
    try:
        info = probe(data)
        _, _, colorspace, subsampling = simplejpeg.decode_jpeg_header(data)
    except (BadImage, ValueError) as exc:
        raise AclFail(C.ACL_ERROR_UNSUPPORTED_JPEG, f"not a decodable JPEG: {exc}") from None
    if info.format != "jpeg" or info.progressive:
        raise AclFail(C.ACL_ERROR_UNSUPPORTED_JPEG, "progressive, lossless or arithmetic-coded JPEG")
    if colorspace not in ("YCbCr", "Gray") or subsampling not in JPEGD_SUBSAMPLING:
        raise AclFail(C.ACL_ERROR_UNSUPPORTED_JPEG, f"{colorspace} {subsampling} JPEG")
    width, height = (info.height, info.width) if info.orientation >= 5 else (info.width, info.height)
    return JpegInfo(width, height, 1 if colorspace == "Gray" else 3, info.orientation)


def _within_jpeg_limits(width: int, height: int, what: str) -> None:
    if not (32 <= width <= MAX_SIDE and 32 <= height <= MAX_SIDE):
        raise _invalid(f"{what}: {width}x{height} is outside 32x32..8192x8192")


def _format(fmt: int, valid: set[int], role: str) -> None:
    """The host-side format check: ACL_ERROR_FORMAT_NOT_MATCH, or a valid format the emulator cannot run."""
    if fmt not in valid:
        raise AclFail(C.ACL_ERROR_FORMAT_NOT_MATCH, f"{role}: pixel format {fmt} is not accepted")
    if fmt not in NV_FORMATS:
        raise EmulatorFault(f"{role}: pixel format {fmt} is valid but not emulated (YUV420SP NV12/NV21 are)")


class Media:
    def __init__(self, dev: Device) -> None:
        self.dev = dev

    # --- memory and channels ----------------------------------------------------------------------------
    @api("value_ret")
    def dvpp_malloc(self, size: int) -> int:
        self.dev.current_context()
        return self.dev.allocate("dvpp", size).base

    @api("ret")
    def dvpp_free(self, ptr: int) -> None:
        self.dev.current_context()
        self.dev.release(ptr, ("dvpp",), "acl.media.dvpp_free")

    @api("value")
    def dvpp_create_channel_desc(self) -> int:
        return self.dev.new("channel_desc", Channel())

    @api("ret")
    def dvpp_destroy_channel_desc(self, desc: int) -> None:
        if self.dev.get(desc, "channel_desc").created:  # aclError page: 148051 for exactly this
            raise AclFail(C.ACL_ERROR_RELATIVE_RESOURCE_NOT_CLEARED,
                          "its channel still exists: dvpp_destroy_channel first")  # fmt: skip
        self.dev.drop(desc, "channel_desc")

    @api("ret")
    def dvpp_create_channel(self, desc: int) -> None:
        self.dev.current_context()
        channel = self.dev.get(desc, "channel_desc")
        if channel.created:
            raise _invalid("channel already created")
        channel.created = True

    @api("ret")
    def dvpp_destroy_channel(self, desc: int) -> None:
        channel = self.dev.get(desc, "channel_desc")
        if not channel.created:
            raise _invalid("channel not created")
        channel.created = False

    def _channel(self, desc: int) -> None:
        if not self.dev.get(desc, "channel_desc").created:
            raise _invalid("the channel description has no channel (dvpp_create_channel)")

    # --- picture descriptions ---------------------------------------------------------------------------
    @api("value")
    def dvpp_create_pic_desc(self) -> int:
        return self.dev.new("pic_desc", PicDesc())

    @api("ret")
    def dvpp_destroy_pic_desc(self, desc: int) -> None:
        self.dev.drop(desc, "pic_desc")

    def _set(self, desc: int, field: str, value: int) -> None:
        if not isinstance(value, int) or value < 0:
            raise _invalid(f"pic desc {field} {value!r}")
        setattr(self.dev.get(desc, "pic_desc"), field, value)

    @api("ret")
    def dvpp_set_pic_desc_data(self, desc: int, ptr: int) -> None:
        self._set(desc, "data", ptr)

    @api("ret")
    def dvpp_set_pic_desc_size(self, desc: int, size: int) -> None:
        self._set(desc, "size", size)

    @api("ret")
    def dvpp_set_pic_desc_format(self, desc: int, fmt: int) -> None:
        self._set(desc, "format", fmt)

    @api("ret")
    def dvpp_set_pic_desc_width(self, desc: int, width: int) -> None:
        self._set(desc, "width", width)

    @api("ret")
    def dvpp_set_pic_desc_height(self, desc: int, height: int) -> None:
        self._set(desc, "height", height)

    @api("ret")
    def dvpp_set_pic_desc_width_stride(self, desc: int, stride: int) -> None:
        self._set(desc, "width_stride", stride)

    @api("ret")
    def dvpp_set_pic_desc_height_stride(self, desc: int, stride: int) -> None:
        self._set(desc, "height_stride", stride)

    @api("value")
    def dvpp_get_pic_desc_width(self, desc: int) -> int:
        return self.dev.get(desc, "pic_desc").width

    @api("value")
    def dvpp_get_pic_desc_height(self, desc: int) -> int:
        return self.dev.get(desc, "pic_desc").height

    def _described(self, desc: int, role: str) -> PicDesc:
        """A copy of the description as the call sends it to the device (later changes do not reach queued
        work); the host only checks that it has a buffer."""
        pic = replace(self.dev.get(desc, "pic_desc"))
        if not pic.data:
            raise _invalid(f"{role}: the picture description has no data pointer")
        return pic

    def _buffer(self, pic: PicDesc, role: str) -> Block:
        """On the device: the picture's buffer, in DVPP memory and large enough for its strides."""
        needed = nv12.nv12_size(pic.width_stride, pic.height_stride)
        if pic.size < needed:
            raise _invalid(f"{role}: buffer size {pic.size} < width stride x height stride x 3/2 = {needed}")
        return self.dev.find_kind(pic.data, pic.size, ("dvpp",), f"{role} picture")

    def _queue(self, stream: int, name: str, run: Callable[[], None], reads: list, writes: list) -> None:
        """Queue device work; `reads`/`writes` are (pointer, bytes) it touches, tracked where they are valid
        (the device reports bad ones when it runs)."""

        def tracked(ranges: list) -> list[tuple[Block, int, int]]:
            found = [(self.dev.peek(ptr, n), ptr, n) for ptr, n in ranges]
            return [(b, ptr - b.base, n) for b, ptr, n in found if b is not None]

        self.dev.enqueue(self.dev.stream(stream), Task(name, run, tracked(reads), tracked(writes), DEVICE_FAILURE))

    # --- JPEGD ------------------------------------------------------------------------------------------
    def _host_jpeg(self, ptr: int, size: int) -> JpegInfo:
        block = self.dev.find_kind(ptr, size, self.dev.app_memory, "JPEG data (the application's memory)")
        return parse_jpeg(block.view(ptr, size).tobytes())

    def _decoded_size(self, info: JpegInfo) -> tuple[int, int]:
        """What JPEGD writes: the upright size, odd sides rounded down to even on the 310P."""
        if self.dev.soc.jpegd_floors_odd:
            return info.width & ~1, info.height & ~1
        return info.width, info.height

    @api("value_ret", arity=3)
    def dvpp_jpeg_get_image_info(self, ptr: int, size: int) -> tuple[int, int, int]:
        info = self._host_jpeg(ptr, size)
        return info.width, info.height, info.components

    @api("value_ret")
    def dvpp_jpeg_predict_dec_size(self, ptr: int, size: int, fmt: int) -> int:
        """image_processor.cpp: for YUV420SP, the upright size aligned to 128 x 16 on either chip."""
        if fmt not in JPEGD_OUTPUT_FORMATS:
            raise AclFail(C.ACL_ERROR_FORMAT_NOT_MATCH, f"JPEGD output format {fmt}")
        if fmt not in NV_FORMATS:
            raise EmulatorFault(f"JPEGD output format {fmt} is valid but not emulated")
        info = self._host_jpeg(ptr, size)
        _within_jpeg_limits(info.width, info.height, "JPEGD input")
        return nv12.nv12_size(align(info.width, 128), align(info.height, HEIGHT_ALIGN))

    @api("ret")
    def dvpp_jpeg_decode_async(self, channel: int, data: int, size: int, out_desc: int, stream: int) -> None:
        self.dev.stream(stream)
        self._channel(channel)
        if not data or not isinstance(size, int) or size <= 0:
            raise _invalid(f"JPEGD input {data!r} of {size!r} bytes")
        out = self._described(out_desc, "JPEGD output")
        _format(out.format, JPEGD_OUTPUT_FORMATS, "JPEGD output")
        target = self.dev.get(out_desc, "pic_desc")
        chip = self.dev.soc

        def run() -> None:
            src = self.dev.find_kind(data, size, ("dvpp",), "JPEGD input")
            jpeg = src.view(data, size).tobytes()
            info = parse_jpeg(jpeg)
            _within_jpeg_limits(info.width, info.height, "JPEGD input")
            width, height = self._decoded_size(info)
            ws, hs = align(width, chip.stride_align), align(height, HEIGHT_ALIGN)
            if (out.width_stride, out.height_stride) != (ws, hs):
                raise _invalid(f"JPEGD output strides {out.width_stride}x{out.height_stride}; {chip.name} writes "
                               f"{ws}x{hs} for {width}x{height} (width aligned to {chip.stride_align}, height to "
                               "16)")  # fmt: skip
            dst = self._buffer(out, "JPEGD output")
            _write_nv12(dst, replace(out, width=width, height=height), *_decode(jpeg, info, width, height))
            # the library copies the device's description back to the host (image_processor.cpp)
            if self.dev.handles.get(out_desc, (None, None))[1] is not target:
                raise EmulatorFault("JPEGD's output picture description was destroyed before synchronize_stream")
            target.width, target.height = width, height

        self._queue(stream, "JPEGD", run, [(data, size)], [(out.data, out.size)])

    # --- VPC --------------------------------------------------------------------------------------------
    @api("value")
    def dvpp_create_resize_config(self) -> int:
        return self.dev.new("resize_config", [0])

    @api("ret")
    def dvpp_destroy_resize_config(self, config: int) -> None:
        self.dev.drop(config, "resize_config")

    @api("ret")
    def dvpp_set_resize_config_interpolation(self, config: int, interpolation: int) -> None:
        if interpolation not in self.dev.soc.interpolations:
            raise _invalid(f"interpolation {interpolation!r} on {self.dev.soc.name} "
                           f"(it takes {list(self.dev.soc.interpolations)})")  # fmt: skip
        self.dev.get(config, "resize_config")[0] = interpolation

    def _vpc_picture(self, pic: PicDesc, role: str, max_side: int) -> Block:
        """On the device: a VPC picture's size and strides, then its buffer."""
        if pic.width % 2 or pic.height % 2:
            raise _invalid(f"{role}: {pic.width}x{pic.height}: VPC needs even width and height")
        if not (10 <= pic.width <= max_side and 6 <= pic.height <= max_side):
            raise _invalid(f"{role}: {pic.width}x{pic.height} is outside 10x6..{max_side}x{max_side}")
        ws, hs = pic.width_stride, pic.height_stride
        if ws % 16 or ws < pic.width or hs % 2 or hs < pic.height:
            raise _invalid(f"{role}: strides {ws}x{hs} for {pic.width}x{pic.height} (width stride a multiple of 16, "
                           "height stride of 2, at least the size)")  # fmt: skip
        if self.dev.soc.name == "Ascend310" and not (32 <= ws <= 16384 and 6 <= hs <= 16384):
            raise _invalid(f"{role}: strides {ws}x{hs} outside 32..16384 x 6..16384")
        return self._buffer(pic, role)

    def _interpolation(self, interpolation: int) -> int:
        if interpolation == 2:
            return cv2.INTER_NEAREST
        if interpolation == 1 or (interpolation == 0 and self.dev.soc.name == "Ascend310P3"):  # the 310P runs 0 as 1
            return cv2.INTER_LINEAR
        raise EmulatorFault(f"VPC interpolation {interpolation} on {self.dev.soc.name} is not emulated")

    @api("ret")
    def dvpp_vpc_resize_async(self, channel: int, in_desc: int, out_desc: int, config: int, stream: int) -> None:
        self.dev.stream(stream)
        self._channel(channel)
        interpolation = self.dev.get(config, "resize_config")[0]
        src_pic, dst_pic = self._described(in_desc, "VPC input"), self._described(out_desc, "VPC output")
        _format(src_pic.format, VPC_INPUT_FORMATS, "VPC input")
        _format(dst_pic.format, set(NV_FORMATS), "VPC output")

        def run() -> None:
            src = self._vpc_picture(src_pic, "VPC input", MAX_SIDE)
            dst = self._vpc_picture(dst_pic, "VPC output", 4096)
            for axis, n_in, n_out in (("width", src_pic.width, dst_pic.width),
                                      ("height", src_pic.height, dst_pic.height)):  # fmt: skip
                if not 1 / 32 <= n_out / n_in <= 16:
                    raise _invalid(f"VPC scales the {axis} {n_in} -> {n_out}, outside [1/32, 16]")
            flag = self._interpolation(interpolation)
            y, cb, cr = nv12.unpack(src.view(src_pic.data, src_pic.size), src_pic.width, src_pic.height,
                                    src_pic.width_stride, src_pic.height_stride)  # fmt: skip
            size, half = (dst_pic.width, dst_pic.height), (dst_pic.width // 2, dst_pic.height // 2)
            chroma = cv2.resize(np.dstack([cb, cr]), half, interpolation=flag)
            _write_nv12(dst, dst_pic, cv2.resize(y, size, interpolation=flag), chroma[..., 0], chroma[..., 1])

        out_bytes = nv12.nv12_size(dst_pic.width_stride, dst_pic.height_stride)
        self._queue(stream, "VPC resize", run, [(src_pic.data, src_pic.size)], [(dst_pic.data, out_bytes)])

    # --- JPEGE ------------------------------------------------------------------------------------------
    @api("value")
    def dvpp_create_jpege_config(self) -> int:
        return self.dev.new("jpege_config", [100])

    @api("ret")
    def dvpp_destroy_jpege_config(self, config: int) -> None:
        self.dev.drop(config, "jpege_config")

    @api("ret")
    def dvpp_set_jpege_config_level(self, config: int, level: int) -> None:
        """Stored as given (types/dvpp.cpp); the device checks the range when it encodes."""
        self.dev.get(config, "jpege_config")[0] = level

    def _jpege_input(self, pic: PicDesc) -> Block:
        """On the device: JPEGE's size, stride and alignment rules, then the input buffer."""
        if pic.width % 2 or pic.height % 2 or not (32 <= pic.width <= MAX_SIDE and 32 <= pic.height <= MAX_SIDE):
            raise _invalid(f"JPEGE input {pic.width}x{pic.height}: even sizes within 32x32..8192x8192")
        _jpege_strides(pic)
        if pic.data % 128:
            raise AclFail(C.ACL_ERROR_RT_ADDR_UNALIGNED, f"JPEGE input at {pic.data:#x} is not 128-byte aligned")
        return self._buffer(pic, "JPEGE input")

    @api("value_ret")
    def dvpp_jpeg_predict_enc_size(self, in_desc: int, config: int) -> int:
        """On the host (image_processor.cpp): size and strides checked now; NV12 bytes + 640 + 128, aligned up
        to 2 MiB."""
        self.dev.get(config, "jpege_config")
        pic = self.dev.get(in_desc, "pic_desc")
        _within_jpeg_limits(pic.width, pic.height, "JPEGE input")
        if pic.format not in JPEGE_INPUT_FORMATS:
            raise AclFail(C.ACL_ERROR_FORMAT_NOT_MATCH, f"JPEGE input format {pic.format}")
        if pic.format not in NV_FORMATS:
            raise EmulatorFault(f"JPEGE input format {pic.format} is valid but not emulated")
        _jpege_strides(pic)
        return align(nv12.nv12_size(pic.width_stride, pic.height_stride) + 640 + 128, 2 << 20)

    @api("ret")
    def dvpp_jpeg_encode_async(self, channel: int, in_desc: int, out: int, size_ptr: int, config: int,
                               stream: int) -> None:  # fmt: skip
        self.dev.stream(stream)
        self._channel(channel)
        level = self.dev.get(config, "jpege_config")[0]
        pic = self._described(in_desc, "JPEGE input")
        if not out or not size_ptr:
            raise _invalid("JPEGE output or size pointer is null")
        _format(pic.format, JPEGE_INPUT_FORMATS, "JPEGE input")
        try:  # the library reads the capacity on the host now, and writes the size back when the task is done
            size_block = self.dev.find_kind(size_ptr, 4, self.dev.app_memory, "JPEGE size pointer")
        except AclFail as fail:
            raise EmulatorFault(f"{fail.message}: the host would read it") from None
        (capacity,) = struct.unpack("<I", size_block.view(size_ptr, 4).tobytes())
        if capacity <= 0:
            raise _invalid("JPEGE output capacity (*size) is 0")
        chip = self.dev.soc

        def run() -> None:
            src = self._jpege_input(pic)
            if not isinstance(level, int) or not chip.jpege_min_level <= level <= 100:
                raise _invalid(f"JPEGE level {level!r} outside {chip.jpege_min_level}..100 on {chip.name}")
            dst = self.dev.find_kind(out, capacity, ("dvpp",), "JPEGE output")
            y, cb, cr = nv12.unpack(src.view(pic.data, pic.size), pic.width, pic.height, pic.width_stride,
                                    pic.height_stride)  # fmt: skip
            if pic.format == C.PIXEL_FORMAT_YVU_SEMIPLANAR_420:
                cb, cr = cr, cb
            jpeg = simplejpeg.encode_jpeg_yuv_planes(*(np.ascontiguousarray(p) for p in (y, cb, cr)), level or 100)
            if len(jpeg) > capacity:
                raise AclFail(DEVICE_FAILURE, f"JPEG of {len(jpeg)} bytes > buffer of {capacity}")
            dst.view(out, len(jpeg))[:] = np.frombuffer(jpeg, np.uint8)
            size_block.view(size_ptr, 4)[:] = np.frombuffer(struct.pack("<I", len(jpeg)), np.uint8)

        self._queue(stream, "JPEGE", run, [(pic.data, pic.size)], [(out, capacity), (size_ptr, 4)])


def _jpege_strides(pic: PicDesc) -> None:
    if pic.width_stride % 16 or pic.width_stride < pic.width:
        raise _invalid(f"JPEGE input width stride {pic.width_stride}: a multiple of 16, at least {pic.width}")
    if pic.height_stride not in (pic.height, align(pic.height, 16)):
        raise _invalid(f"JPEGE input height stride {pic.height_stride}: {pic.height} or {align(pic.height, 16)}")


def _decode(jpeg: bytes, info: JpegInfo, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 Y, Cb, Cr planes of the upright JPEG cut to width x height, Y as stored (libjpeg's gray output
    of a YCbCr JPEG is its Y)."""
    y = apply_orientation(simplejpeg.decode_jpeg(jpeg, colorspace="GRAY")[:, :, 0], info.orientation)
    if info.components == 1:
        cb = cr = np.full(((info.height + 1) // 2, (info.width + 1) // 2), 128.0)
    else:
        rgb = apply_orientation(simplejpeg.decode_jpeg(jpeg, colorspace="RGB"), info.orientation)
        _, cb, cr = nv12.rgb_to_nv12_planes(rgb)
    half = ((height + 1) // 2, (width + 1) // 2)
    cb, cr = (np.clip(np.rint(c[: half[0], : half[1]]), 0, 255).astype(np.uint8) for c in (cb, cr))
    return np.ascontiguousarray(y[:height, :width]), cb, cr


def _write_nv12(block: Block, pic: PicDesc, y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> None:
    """Write planes into a picture's buffer; bytes outside the picture (stride padding) are left alone."""
    buf = block.view(pic.data, nv12.nv12_size(pic.width_stride, pic.height_stride))
    ws, hs = pic.width_stride, pic.height_stride
    buf[: ws * hs].reshape(hs, ws)[: y.shape[0], : y.shape[1]] = y
    uv = buf[ws * hs :].reshape(hs // 2, ws)
    first, second = (cr, cb) if pic.format == C.PIXEL_FORMAT_YVU_SEMIPLANAR_420 else (cb, cr)
    uv[: cb.shape[0], 0 : 2 * cb.shape[1] : 2] = first
    uv[: cb.shape[0], 1 : 2 * cb.shape[1] : 2] = second
