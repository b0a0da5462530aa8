"""The AbMerge path of the render: ab (model output) + full-size Y picture -> full-size NV12 picture.

    Cast        ab float32 (2*oh, ow) -> float16                                  once per photo
    MatMul      ab16 @ wx (ow, ws): ab along each row at full width               once per photo
    BatchMatMul wy (2, rows, oh) @ ab_cols (2, oh, ws): the band's rows             per band
    AbMerge     band of Y + its a, b -> band of Y' and interleaved CbCr             per band

All queued on one lane's stream; the caller syncs. Band shapes and the per-photo weights are
kernels/ascend/bands.py's; the operator signatures kernels/ascend/singleop.py's.
"""

from __future__ import annotations

from acc.backends.ascend.dvpp import Picture
from acc.backends.ascend.lanes import Lane
from acc.backends.ascend.memory import Buffer, MemoryPool
from acc.backends.ascend.ops import Ops
from acc.kernels.ascend import singleop
from acc.kernels.ascend.bands import BAND_ROWS, RenderGeometry, bands


class AbMergePath:
    def __init__(self, ops: Ops, pool: MemoryPool, contract: singleop.OpContract) -> None:
        self.ops, self.pool, self.contract = ops, pool, contract

    def queue(self, lane: Lane, pic: Picture, ab: Buffer, out: Picture, geo: RenderGeometry) -> None:
        """Queue the whole path into `out` (same strides as `pic`); scratch memory is freed after sync."""
        c, take, launch = self.contract, self.pool.take, self.ops.launch
        (oh, ow), ws, hs = c.output_size, pic.width_stride, pic.height_stride
        weights = take("device", geo.data.nbytes)
        ab16, cols = take("device", 4 * oh * ow), take("device", 4 * oh * ws)
        rows = take("device", 4 * BAND_ROWS[0] * ws)
        for scratch in (weights, ab16, cols, rows):
            lane.after_sync(self.pool.give, scratch)
        self.pool.upload(weights, geo.data.tobytes())
        half = lambda offset: weights.ptr + 2 * offset  # noqa: E731 - float16 element offset -> address
        launch(lane, singleop.ab_cast(c), [(ab.ptr, 8 * oh * ow)], [(ab16.ptr, 4 * oh * ow)])
        launch(lane, singleop.ab_columns(c, ws), [(ab16.ptr, 4 * oh * ow), (half(geo.wx_offset), 2 * ow * ws)],
               [(cols.ptr, 4 * oh * ws)])  # fmt: skip
        for first, n in bands(hs):
            band = n * ws
            y_band, uv_band = first * ws, ws * hs + first // 2 * ws  # byte offsets in the NV12 pictures
            weights_band = half(geo.wy_offset(first))
            launch(lane, singleop.ab_rows(c, n, ws), [(weights_band, 4 * n * oh), (cols.ptr, 4 * oh * ws)],
                   [(rows.ptr, 4 * band)])  # fmt: skip
            launch(lane, singleop.ab_merge(n, ws),
                   [(pic.buffer.ptr + y_band, band), (rows.ptr, 2 * band), (rows.ptr + 2 * band, 2 * band),
                    (half(geo.cw_offset), 2 * ws), (half(geo.rw_offset(first)), 2 * n)],
                   [(out.buffer.ptr + y_band, band), (out.buffer.ptr + uv_band, band // 2)])  # fmt: skip
