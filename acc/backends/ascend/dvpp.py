"""DVPP (acl.media v1, the only DVPP API the 310 has): JPEGD, VPC resize and JPEGE on one channel.

Pictures are YUV420SP NV12 in DVPP memory. Layouts follow the documented rules (docs/ascend.md):
JPEGD writes width stride = width aligned to 128 (310) / 64 (310P), height stride = height aligned to
16 (the 310P first rounds width and height up to even); VPC outputs use 16/2 alignment; JPEGE takes a
JPEGD-shaped picture as it is. Each queue_* call only queues work on the lane's stream.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
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
    """(width, height, width stride, height stride) of a full-size picture as JPEGD writes it."""
    if chip.even_decode_size:
        width, height = align(width, 2), align(height, 2)
    return width, height, align(width, chip.stride_align), align(height, HEIGHT_ALIGN)


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
        acl = self.acl
        desc = acl.handle("media.dvpp_create_pic_desc")
        lane.after_sync(acl, "media.dvpp_destroy_pic_desc", desc)
        acl("media.dvpp_set_pic_desc_data", desc, pic.buffer.ptr)
        acl("media.dvpp_set_pic_desc_size", desc, nv12_size(pic.width_stride, pic.height_stride))
        acl("media.dvpp_set_pic_desc_format", desc, C.PIXEL_FORMAT_YUV_SEMIPLANAR_420)
        acl("media.dvpp_set_pic_desc_width", desc, pic.width)
        acl("media.dvpp_set_pic_desc_height", desc, pic.height)
        acl("media.dvpp_set_pic_desc_width_stride", desc, pic.width_stride)
        acl("media.dvpp_set_pic_desc_height_stride", desc, pic.height_stride)
        return desc

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
        """JPEG bytes -> full-size NV12 picture (synchronous: uploads, decodes, waits)."""
        need = self.acl("media.dvpp_jpeg_predict_dec_size", self.acl.raw.util.bytes_to_ptr(data), len(data),
                        C.PIXEL_FORMAT_YUV_SEMIPLANAR_420)  # fmt: skip
        width, height, ws, hs = layout
        pic = Picture(self.pool.take("dvpp", max(need, nv12_size(ws, hs))), width, height, ws, hs)
        source = self.pool.take("dvpp", len(data))
        lane.after_sync(self.pool.give, source)
        try:
            self.pool.upload(source, data)
            desc = self._describe(lane, pic)
            self.acl("media.dvpp_jpeg_decode_async", self.channel, source.ptr, len(data), desc, lane.stream)
            lane.sync()
        except BaseException:
            lane.after_sync(self.pool.give, pic.buffer)  # released once the lane is drained
            raise
        return pic

    # --- VPC --------------------------------------------------------------------------------------------
    def resize(self, lane: Lane, src: Picture, width: int, height: int) -> Picture:
        """Bilinear resize of src (cut to even size: VPC needs it) to width x height (synchronous)."""
        even = Picture(src.buffer, src.width & ~1, src.height & ~1, src.width_stride, src.height_stride)
        dst = self.picture(vpc_layout(width, height))
        try:
            d_in, d_out = self._describe(lane, even), self._describe(lane, dst)
            self.acl("media.dvpp_vpc_resize_async", self.channel, d_in, d_out, self.resize_config, lane.stream)
            lane.sync()
        except BaseException:
            lane.after_sync(self.pool.give, dst.buffer)
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
            self.acl("rt.memcpy", slot, 4, self.acl.raw.util.bytes_to_ptr(struct.pack("<I", capacity)), 4,
                     C.ACL_MEMCPY_HOST_TO_HOST)  # fmt: skip
            self.acl("media.dvpp_jpeg_encode_async", self.channel, desc, out.ptr, slot, self.jpege_config, lane.stream)
            lane.sync()
            (size,) = struct.unpack("<I", self.acl.raw.util.ptr_to_bytes(slot, 4))
            return self.pool.download(out, size)
