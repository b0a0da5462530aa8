"""acl.media: DVPP channels, picture descriptions, JPEGD, VPC resize and JPEGE, with their documented rules.

Rules checked when a call is made (the real library validates descriptions up front), work done at
synchronize_stream. Each rule cites reference/ascend-pyacl.md section 3 (CANN: aclpythondevg_01_0321
JPEGD, 0295/0297/0318 VPC, 0316 JPEGE):

JPEGD   input in DVPP memory; Huffman baseline 8-bit only (no progressive, no arithmetic coding),
        subsampling 444/422/420/440/400, 32x32 .. 8192x8192; output NV12/NV21 whose width stride is the
        width aligned to 128 (310) or 64 (310P) and height stride the height aligned to 16 (310P also
        rounds width and height up to even), buffer >= ws * hs * 3/2, in DVPP memory. A gray JPEG
        decodes with its chroma set to 128. Padding bytes are not written (they keep poison).
VPC     NV12/NV21 in and out, even widths and heights, width stride a multiple of 16 and height stride
        of 2 (at least the width and height; on the 310 width stride 32..16384, height stride 6..16384),
        input 10x6 .. 8192x8192, output 10x6 .. 4096x4096, scale per axis within [1/32, 16], DVPP memory.
JPEGE   NV12/NV21, even width and height, 32x32 .. 8192x8192, width stride a multiple of 16 (>= width),
        height stride the height or the height aligned to 16, buffer >= ws * hs * 3/2, input in DVPP
        memory aligned to 128 bytes; output in DVPP memory; the size pointer is host memory holding the
        output buffer's size and receives the JPEG's size; quality level 0..100 (310, 0 means best) or
        1..100 (310P).

Decoding uses libjpeg-turbo (simplejpeg), resizing OpenCV's bilinear (interpolation 0 and 1, as the 310P
maps 0 to 1) or nearest (2); encoding libjpeg-turbo from the YUV planes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np
import simplejpeg

from acc.backends.ascend import constants as C
from acc.backends.ascend.emulator.core import AclFail, Block, Device, Task, api
from acc.kernels.ascend import nv12
from acc.kernels.ascend.socs import HEIGHT_ALIGN, MAX_SIDE, align
from acc.probe import BadImage, probe

NV_FORMATS = (C.PIXEL_FORMAT_YUV_SEMIPLANAR_420, C.PIXEL_FORMAT_YVU_SEMIPLANAR_420)
JPEGD_SUBSAMPLING = {"444", "422", "420", "440", "Gray"}
INTERPOLATIONS = {"Ascend310": (0, 1, 2), "Ascend310P3": (0, 1, 2, 3, 4)}


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
    width: int
    height: int
    components: int


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
    if not (32 <= info.width <= MAX_SIDE and 32 <= info.height <= MAX_SIDE):
        raise AclFail(C.ACL_ERROR_UNSUPPORTED_JPEG, f"{info.width}x{info.height} is outside 32x32..8192x8192")
    return JpegInfo(info.width, info.height, 1 if colorspace == "Gray" else 3)


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
        if self.dev.get(desc, "channel_desc").created:
            raise _invalid("destroy the channel (dvpp_destroy_channel) before its description")
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

    def _picture(self, desc: int, role: str) -> tuple[PicDesc, Block]:
        """A copy of the description (later changes do not affect queued work) and its DVPP block."""
        pic = PicDesc(**vars(self.dev.get(desc, "pic_desc")))
        if pic.format not in NV_FORMATS:
            raise _invalid(f"{role}: pixel format {pic.format} (the emulator handles YUV420SP NV12/NV21)")
        needed = nv12.nv12_size(pic.width_stride, pic.height_stride)
        if pic.size < needed:
            raise _invalid(f"{role}: buffer size {pic.size} < width stride x height stride x 3/2 = {needed}")
        block = self.dev.find_kind(pic.data, pic.size, ("dvpp",), f"{role} picture")
        return pic, block

    # --- JPEGD ------------------------------------------------------------------------------------------
    def _host_jpeg(self, ptr: int, size: int) -> JpegInfo:
        block = self.dev.find_kind(ptr, size, ("host", "borrowed"), "JPEG data (a host pointer)")
        return parse_jpeg(block.view(ptr, size).tobytes())

    def _decoded_size(self, info: JpegInfo) -> tuple[int, int]:
        if self.dev.soc.even_decode_size:
            return align(info.width, 2), align(info.height, 2)
        return info.width, info.height

    @api("value_ret", arity=3)
    def dvpp_jpeg_get_image_info(self, ptr: int, size: int) -> tuple[int, int, int]:
        info = self._host_jpeg(ptr, size)
        return info.width, info.height, info.components

    @api("value_ret")
    def dvpp_jpeg_predict_dec_size(self, ptr: int, size: int, fmt: int) -> int:
        if fmt not in NV_FORMATS:
            raise _invalid(f"JPEGD output format {fmt} (YUV420SP only here)")
        width, height = self._decoded_size(self._host_jpeg(ptr, size))
        return nv12.nv12_size(align(width, self.dev.soc.stride_align), align(height, HEIGHT_ALIGN))

    @api("ret")
    def dvpp_jpeg_decode_async(self, channel: int, data: int, size: int, out_desc: int, stream: int) -> None:
        s = self.dev.stream(stream)
        self._channel(channel)
        src = self.dev.find_kind(data, size, ("dvpp",), "JPEGD input")
        info = parse_jpeg(src.view(data, size).tobytes())
        pic, dst = self._picture(out_desc, "JPEGD output")
        width, height = self._decoded_size(info)
        ws, hs = align(width, self.dev.soc.stride_align), align(height, HEIGHT_ALIGN)
        if (pic.width, pic.height) != (width, height):
            raise _invalid(f"JPEGD output {pic.width}x{pic.height}, the picture decodes to {width}x{height}")
        if (pic.width_stride, pic.height_stride) != (ws, hs):
            chip = self.dev.soc
            raise _invalid(f"JPEGD output strides {pic.width_stride}x{pic.height_stride}; {chip.name} writes "
                           f"{ws}x{hs} (width aligned to {chip.stride_align}, height to 16)")  # fmt: skip

        def run() -> None:
            planes = _decode(src.view(data, size).tobytes(), info, width, height)
            _write_nv12(dst, pic, *planes)

        task = Task("JPEGD", run, [(src, data - src.base, size)], [(dst, pic.data - dst.base, nv12.nv12_size(ws, hs))],
                    C.ACL_ERROR_RT_INTERNAL_ERROR)  # fmt: skip
        self.dev.enqueue(s, task)

    # --- VPC --------------------------------------------------------------------------------------------
    @api("value")
    def dvpp_create_resize_config(self) -> int:
        return self.dev.new("resize_config", [0])

    @api("ret")
    def dvpp_destroy_resize_config(self, config: int) -> None:
        self.dev.drop(config, "resize_config")

    @api("ret")
    def dvpp_set_resize_config_interpolation(self, config: int, interpolation: int) -> None:
        if interpolation not in INTERPOLATIONS[self.dev.soc.name]:
            raise _invalid(f"interpolation {interpolation!r} on {self.dev.soc.name}")
        self.dev.get(config, "resize_config")[0] = interpolation

    def _vpc_picture(self, desc: int, role: str, max_side: int) -> tuple[PicDesc, Block]:
        pic, block = self._picture(desc, role)
        if pic.width % 2 or pic.height % 2:
            raise _invalid(f"{role}: {pic.width}x{pic.height}: VPC needs even width and height")
        if not (10 <= pic.width <= max_side and 6 <= pic.height <= max_side):
            raise _invalid(f"{role}: {pic.width}x{pic.height} is outside 10x6..{max_side}x{max_side}")
        ws, hs = pic.width_stride, pic.height_stride
        if ws % 16 or ws < pic.width or hs % 2 or hs < pic.height:
            raise _invalid(f"{role}: strides {pic.width_stride}x{pic.height_stride} for {pic.width}x{pic.height} "
                           "(width stride a multiple of 16, height stride of 2, at least the size)")  # fmt: skip
        if self.dev.soc.name == "Ascend310" and not (32 <= ws <= 16384 and 6 <= hs <= 16384):
            raise _invalid(f"{role}: strides {pic.width_stride}x{pic.height_stride} outside 32..16384 x 6..16384")
        return pic, block

    @api("ret")
    def dvpp_vpc_resize_async(self, channel: int, in_desc: int, out_desc: int, config: int, stream: int) -> None:
        s = self.dev.stream(stream)
        self._channel(channel)
        interpolation = self.dev.get(config, "resize_config")[0]
        src_pic, src = self._vpc_picture(in_desc, "VPC input", MAX_SIDE)
        dst_pic, dst = self._vpc_picture(out_desc, "VPC output", 4096)
        for axis, n_in, n_out in (("width", src_pic.width, dst_pic.width), ("height", src_pic.height, dst_pic.height)):
            if not 1 / 32 <= n_out / n_in <= 16:
                raise _invalid(f"VPC scales the {axis} {n_in} -> {n_out}, outside [1/32, 16]")
        flag = cv2.INTER_NEAREST if interpolation == 2 else cv2.INTER_LINEAR

        def run() -> None:
            y, cb, cr = nv12.unpack(src.view(src_pic.data, src_pic.size), src_pic.width, src_pic.height,
                                    src_pic.width_stride, src_pic.height_stride)  # fmt: skip
            size, half = (dst_pic.width, dst_pic.height), (dst_pic.width // 2, dst_pic.height // 2)
            chroma = cv2.resize(np.dstack([cb, cr]), half, interpolation=flag)
            _write_nv12(dst, dst_pic, cv2.resize(y, size, interpolation=flag), chroma[..., 0], chroma[..., 1])

        task = Task("VPC resize", run, [(src, src_pic.data - src.base, src_pic.size)],
                    [(dst, dst_pic.data - dst.base, nv12.nv12_size(dst_pic.width_stride, dst_pic.height_stride))],
                    C.ACL_ERROR_RT_INTERNAL_ERROR)  # fmt: skip
        self.dev.enqueue(s, task)

    # --- JPEGE ------------------------------------------------------------------------------------------
    @api("value")
    def dvpp_create_jpege_config(self) -> int:
        return self.dev.new("jpege_config", [100])

    @api("ret")
    def dvpp_destroy_jpege_config(self, config: int) -> None:
        self.dev.drop(config, "jpege_config")

    @api("ret")
    def dvpp_set_jpege_config_level(self, config: int, level: int) -> None:
        if not isinstance(level, int) or not self.dev.soc.jpege_min_level <= level <= 100:
            raise _invalid(f"JPEGE level {level!r} outside {self.dev.soc.jpege_min_level}..100 on {self.dev.soc.name}")
        self.dev.get(config, "jpege_config")[0] = level

    def _jpege_input(self, desc: int) -> tuple[PicDesc, Block]:
        pic, block = self._picture(desc, "JPEGE input")
        if pic.width % 2 or pic.height % 2 or not (32 <= pic.width <= MAX_SIDE and 32 <= pic.height <= MAX_SIDE):
            raise _invalid(f"JPEGE input {pic.width}x{pic.height}: even sizes within 32x32..8192x8192")
        if pic.width_stride % 16 or pic.width_stride < pic.width:
            raise _invalid(f"JPEGE input width stride {pic.width_stride}: a multiple of 16, at least {pic.width}")
        if pic.height_stride not in (pic.height, align(pic.height, 16)):
            raise _invalid(f"JPEGE input height stride {pic.height_stride}: {pic.height} or {align(pic.height, 16)}")
        if pic.data % 128:
            raise AclFail(C.ACL_ERROR_RT_ADDR_UNALIGNED, f"JPEGE input at {pic.data:#x} is not 128-byte aligned")
        return pic, block

    @api("value_ret")
    def dvpp_jpeg_predict_enc_size(self, in_desc: int, config: int) -> int:
        self.dev.get(config, "jpege_config")
        pic, _ = self._jpege_input(in_desc)
        return pic.width * pic.height * 3 + 4096  # an upper bound, as the real prediction is

    @api("ret")
    def dvpp_jpeg_encode_async(self, channel: int, in_desc: int, out: int, size_ptr: int, config: int,
                               stream: int) -> None:  # fmt: skip
        s = self.dev.stream(stream)
        self._channel(channel)
        level = self.dev.get(config, "jpege_config")[0]
        pic, src = self._jpege_input(in_desc)
        size_block = self.dev.find_kind(size_ptr, 4, ("host", "borrowed"), "JPEGE size pointer (host memory)")
        (capacity,) = struct.unpack("<I", size_block.view(size_ptr, 4).tobytes())
        dst = self.dev.find_kind(out, capacity, ("dvpp",), "JPEGE output")

        def run() -> None:
            y, cb, cr = nv12.unpack(src.view(pic.data, pic.size), pic.width, pic.height, pic.width_stride,
                                    pic.height_stride)  # fmt: skip
            if pic.format == C.PIXEL_FORMAT_YVU_SEMIPLANAR_420:
                cb, cr = cr, cb
            jpeg = simplejpeg.encode_jpeg_yuv_planes(*(np.ascontiguousarray(p) for p in (y, cb, cr)), level or 100)
            if len(jpeg) > capacity:
                raise AclFail(C.ACL_ERROR_RT_INTERNAL_ERROR, f"JPEG of {len(jpeg)} bytes > buffer of {capacity}")
            dst.view(out, len(jpeg))[:] = np.frombuffer(jpeg, np.uint8)
            size_block.view(size_ptr, 4)[:] = np.frombuffer(struct.pack("<I", len(jpeg)), np.uint8)

        writes = [(dst, out - dst.base, capacity), (size_block, size_ptr - size_block.base, 4)]
        task = Task("JPEGE", run, [(src, pic.data - src.base, pic.size)], writes, C.ACL_ERROR_RT_INTERNAL_ERROR)
        self.dev.enqueue(s, task)


def _decode(jpeg: bytes, info: JpegInfo, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 Y, Cb, Cr planes of a JPEG, Y as stored (libjpeg's gray output of a YCbCr JPEG is its Y)."""
    y = simplejpeg.decode_jpeg(jpeg, colorspace="GRAY")[:, :, 0]
    if info.components == 1:
        cb = cr = np.full(((info.height + 1) // 2, (info.width + 1) // 2), 128.0)
    else:
        _, cb, cr = nv12.rgb_to_nv12_planes(simplejpeg.decode_jpeg(jpeg, colorspace="RGB"))
    pad = ((0, height - info.height), (0, width - info.width))  # 310P rounds odd sizes up: edge pixels repeat
    y = np.pad(y, pad, mode="edge")
    half = ((0, (height + 1) // 2 - cb.shape[0]), (0, (width + 1) // 2 - cb.shape[1]))
    cb, cr = (np.clip(np.rint(np.pad(c, half, mode="edge")), 0, 255).astype(np.uint8) for c in (cb, cr))
    return y, cb, cr


def _write_nv12(block: Block, pic: PicDesc, y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> None:
    """Write planes into a picture's buffer; bytes outside the picture (stride padding) are left alone."""
    buf = block.view(pic.data, nv12.nv12_size(pic.width_stride, pic.height_stride))
    ws, hs = pic.width_stride, pic.height_stride
    buf[: ws * hs].reshape(hs, ws)[: y.shape[0], : y.shape[1]] = y
    uv = buf[ws * hs :].reshape(hs // 2, ws)
    first, second = (cr, cb) if pic.format == C.PIXEL_FORMAT_YVU_SEMIPLANAR_420 else (cb, cr)
    uv[: cb.shape[0], 0 : 2 * cb.shape[1] : 2] = first
    uv[: cb.shape[0], 1 : 2 * cb.shape[1] : 2] = second
