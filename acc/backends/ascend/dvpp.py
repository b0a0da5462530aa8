"""DVPP (acl.media v1, the only DVPP API the 310 has): JPEGD, VPC resize and JPEGE on one channel.

Pictures are YUV420SP NV12 in DVPP memory. Layouts follow the documented rules (docs/ascend.md):
JPEGD writes width stride = width aligned to 128 (310) / 64 (310P), height stride = height aligned to
16; the 310P rounds an odd width or height *down* to even, and the size JPEGD wrote is read back from
the output description after decoding. VPC outputs use 16/2 alignment; JPEGE takes a JPEGD-shaped
picture as it is.

Host memory handed to acl goes through acl.util.bytes_to_ptr, which takes a `bytes` object only and
returns the address of its buffer without keeping a reference (pyACL util/bytes_convert.cpp): every
pointer here points into a bytes object held in a local variable until the call using it returns.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from acc.backends.ascend import constants as C
from acc.backends.ascend.acl_api import AclError
from acc.backends.ascend.memory import Buffer, MemoryPool
from acc.backends.ascend.runtime import Runtime
from acc.kernels.ascend.nv12 import nv12_size
from acc.kernels.ascend.socs import HEIGHT_ALIGN, Soc, align

if TYPE_CHECKING:
    from acc.backends.ascend.lanes import Lane


@dataclass(frozen=True)
class Picture:
    buffer: Buffer  # DVPP memory
    width: int
    height: int
    width_stride: int
    height_stride: int


class UnsupportedJpeg(Exception):
    """A JPEG that JPEGD refuses (progressive, arithmetic-coded, CMYK, ...): decode it on the host."""


def frame_layout(width: int, height: int, chip: Soc) -> tuple[int, int, int, int]:
    """(width, height, width stride, height stride) of a full-size picture with JPEGD's strides."""
    return width, height, align(width, chip.stride_align), align(height, HEIGHT_ALIGN)


def jpegd_size(width: int, height: int, chip: Soc) -> tuple[int, int]:
    """The size JPEGD writes for an (upright) JPEG of width x height: the 310P rounds odd sides down to even
    (CANN: aclcppdevg_03_0357)."""
    return (width & ~1, height & ~1) if chip.jpegd_floors_odd else (width, height)


def vpc_layout(width: int, height: int) -> tuple[int, int, int, int]:
    """A VPC output picture: even size, width stride aligned to 16, height stride to 2."""
    return width, height, align(width, 16), align(height, 2)


class Dvpp:
    def __init__(self, runtime: Runtime, pool: MemoryPool) -> None:
        self.acl = acl = runtime.acl
        self.pool = pool
        self.channel = acl.handle("media.dvpp_create_channel_desc")
        runtime.defer(acl, "media.dvpp_destroy_channel_desc", self.channel)
        acl("media.dvpp_create_channel", self.channel)
        runtime.defer(acl, "media.dvpp_destroy_channel", self.channel)
        self.resize_config = acl.handle("media.dvpp_create_resize_config")
        runtime.defer(acl, "media.dvpp_destroy_resize_config", self.resize_config)
        acl("media.dvpp_set_resize_config_interpolation", self.resize_config, C.RESIZE_BILINEAR)
        self.jpege_config = acl.handle("media.dvpp_create_jpege_config")
        runtime.defer(acl, "media.dvpp_destroy_jpege_config", self.jpege_config)
        self._level: int | None = None
        self.size_slot = pool.take("host", 4)  # JPEGE reads the output capacity here and writes the size

    # --- descriptions -----------------------------------------------------------------------------------
    def _describe(self, lane: Lane, pic: Picture) -> int:
        """A picture description, destroyed after the lane's next sync (queued work reads it until then)."""
        desc = self._description(pic)
        lane.after_sync(self.acl, "media.dvpp_destroy_pic_desc", desc)
        return desc

    def _description(self, pic: Picture) -> int:
        """A picture description the caller destroys."""
        acl = self.acl
        desc = acl.handle("media.dvpp_create_pic_desc")
        try:
            self._fill(desc, pic)
        except BaseException:
            acl("media.dvpp_destroy_pic_desc", desc)
            raise
        return desc

    def _fill(self, desc: int, pic: Picture) -> None:
        acl = self.acl
        acl("media.dvpp_set_pic_desc_data", desc, pic.buffer.ptr)
        acl("media.dvpp_set_pic_desc_size", desc, nv12_size(pic.width_stride, pic.height_stride))
        acl("media.dvpp_set_pic_desc_format", desc, C.PIXEL_FORMAT_YUV_SEMIPLANAR_420)
        acl("media.dvpp_set_pic_desc_width", desc, pic.width)
        acl("media.dvpp_set_pic_desc_height", desc, pic.height)
        acl("media.dvpp_set_pic_desc_width_stride", desc, pic.width_stride)
        acl("media.dvpp_set_pic_desc_height_stride", desc, pic.height_stride)

    def picture(self, layout: tuple[int, int, int, int]) -> Picture:
        width, height, ws, hs = layout
        return Picture(self.pool.take("dvpp", nv12_size(ws, hs)), width, height, ws, hs)

    # --- JPEGD ------------------------------------------------------------------------------------------
    def jpeg_size(self, data: bytes) -> tuple[int, int]:
        """(width, height) as JPEGD sees the stream, or UnsupportedJpeg (read from host memory)."""
        ptr = self.acl.raw.util.bytes_to_ptr(data)
        try:
            width, height, _components = self.acl("media.dvpp_jpeg_get_image_info", ptr, len(data))
        except AclError as exc:
            if exc.code == C.ACL_ERROR_UNSUPPORTED_JPEG:
                raise UnsupportedJpeg(str(exc)) from None
            raise
        return width, height

    def decode(self, lane: Lane, data: bytes, layout: tuple[int, int, int, int]) -> Picture:
        """JPEG bytes -> full-size NV12 picture (synchronous: uploads, decodes, waits). The picture's width
        and height are the ones JPEGD reports in the output description once done (the caller compares
        them with what it expected); a failure on the device raises AclError from rt.synchronize_stream."""
        need = self.acl("media.dvpp_jpeg_predict_dec_size", self.acl.raw.util.bytes_to_ptr(data), len(data),
                        C.PIXEL_FORMAT_YUV_SEMIPLANAR_420)  # fmt: skip
        width, height, ws, hs = layout
        pic = Picture(self.pool.take("dvpp", max(need, nv12_size(ws, hs))), width, height, ws, hs)
        source, desc = self.pool.take("dvpp", len(data)), None
        try:
            self.pool.upload(source, data)
            desc = self._description(pic)
            self.acl("media.dvpp_jpeg_decode_async", self.channel, source.ptr, len(data), desc, lane.stream)
            lane.sync()  # the queue is empty after it, failed or not: what it used can go back at once
            media = self.acl.raw.media
            return replace(pic, width=media.dvpp_get_pic_desc_width(desc), height=media.dvpp_get_pic_desc_height(desc))
        except BaseException:
            self.pool.give(pic.buffer)
            raise
        finally:
            self.pool.give(source)
            if desc is not None:
                self.acl("media.dvpp_destroy_pic_desc", desc)

    # --- VPC --------------------------------------------------------------------------------------------
    def resize(self, lane: Lane, src: Picture, width: int, height: int) -> Picture:
        """Bilinear resize of src (cut to even size: VPC needs it) to width x height (synchronous; a failure on
        the device raises AclError from rt.synchronize_stream)."""
        even = Picture(src.buffer, src.width & ~1, src.height & ~1, src.width_stride, src.height_stride)
        dst = self.picture(vpc_layout(width, height))
        try:
            d_in, d_out = self._describe(lane, even), self._describe(lane, dst)
            self.acl("media.dvpp_vpc_resize_async", self.channel, d_in, d_out, self.resize_config, lane.stream)
            lane.sync()
        except BaseException:
            self.pool.give(dst.buffer)  # nothing queued uses it: the call failed, or the sync emptied the queue
            raise
        return dst

    # --- JPEGE ------------------------------------------------------------------------------------------
    def encode(self, lane: Lane, pic: Picture, level: int) -> bytes:
        """NV12 picture (even size, 128-aligned DVPP memory) -> JPEG bytes. Syncs the lane, so the work
        queued before on it (the render's operators) completes first."""
        if level != self._level:
            self.acl("media.dvpp_set_jpege_config_level", self.jpege_config, level)
            self._level = level
        desc = self._describe(lane, pic)
        capacity = self.acl("media.dvpp_jpeg_predict_enc_size", desc, self.jpege_config)
        out = self.pool.take("dvpp", capacity)
        with lane.holding(self.pool.give, out):
            slot = self.size_slot.ptr
            capacity_bytes = struct.pack("<I", capacity)  # held until the copy returns: the pointer is into it
            self.acl("rt.memcpy", slot, 4, self.acl.raw.util.bytes_to_ptr(capacity_bytes), 4,
                     C.ACL_MEMCPY_HOST_TO_HOST)  # fmt: skip
            self.acl("media.dvpp_jpeg_encode_async", self.channel, desc, out.ptr, slot, self.jpege_config, lane.stream)
            lane.sync()
            (size,) = struct.unpack("<I", self.acl.raw.util.ptr_to_bytes(slot, 4))
            return self.pool.download(out, size)
