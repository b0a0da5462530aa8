"""The render on the device: ab (model output) + full-size Y picture -> full-size NV12 picture.

    Cast          ab float32 (2*oh, ow) -> float16                                      once per photo
    MatMul        ab16 @ wx (ow, ws): ab along each row at full width                   once per photo
    BatchMatMul   wy (2, rows, oh) @ ab_cols (2, oh, ws): the band's rows of a and b     per band
    AbMergeY      band of Y + its a, b -> the band's Y' rows                            per band
    AbMergeChroma band of Y + its a, b -> weighted Cb, then Cr, per pixel                per band, twice
    ReduceSumD    both, as 2x2 blocks -> one sum per block and channel                  per band
    TransposeD    (channel, rows/2, ws/2) -> (rows/2, ws/2, channel): Cb, Cr interleaved per band
    ChromaToU8    the sums, rounded -> the band's CbCr rows                             per band

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
        most = BAND_ROWS[0] * ws  # samples in the largest band
        weights = take("device", geo.data.nbytes)
        ab16, cols = take("device", 4 * oh * ow), take("device", 4 * oh * ws)
        rows, chroma = take("device", 4 * most), take("device", 8 * most)  # a, b float16; Cb, Cr float32
        sums, interleaved = take("device", 2 * most), take("device", 2 * most)  # float32, a quarter each
        for scratch in (weights, ab16, cols, rows, chroma, sums, interleaved):
            lane.after_sync(self.pool.give, scratch)
        self.pool.upload(weights, geo.data.tobytes())
        half = lambda offset: weights.ptr + 2 * offset  # noqa: E731 - float16 element offset -> address
        launch(lane, singleop.ab_cast(c), [(ab.ptr, 8 * oh * ow)], [(ab16.ptr, 4 * oh * ow)])
        launch(lane, singleop.ab_columns(c, ws), [(ab16.ptr, 4 * oh * ow), (half(geo.wx_offset), 2 * ow * ws)],
               [(cols.ptr, 4 * oh * ws)])  # fmt: skip
        for first, n in bands(hs):
            band = n * ws
            y_band, uv_band = first * ws, ws * hs + first // 2 * ws  # byte offsets in the NV12 pictures
            wy = (half(geo.wy_offset(first)), 4 * n * oh)
            launch(lane, singleop.ab_rows(c, n, ws), [wy, (cols.ptr, 4 * oh * ws)], [(rows.ptr, 4 * band)])
            y, a, b = (pic.buffer.ptr + y_band, band), (rows.ptr, 2 * band), (rows.ptr + 2 * band, 2 * band)
            launch(lane, singleop.ab_merge_y(n, ws), [y, a, b], [(out.buffer.ptr + y_band, band)])
            weights_band = [(half(geo.cw_offset), 2 * ws), (half(geo.rw_offset(first)), 2 * n)]
            for channel in (singleop.CB, singleop.CR):
                launch(lane, singleop.ab_merge_chroma(n, ws, channel), [y, a, b, *weights_band],
                       [(chroma.ptr + channel * 4 * band, 4 * band)])  # fmt: skip
            launch(lane, singleop.chroma_sum(n, ws), [(chroma.ptr, 8 * band)], [(sums.ptr, 2 * band)])
            launch(lane, singleop.chroma_interleave(n, ws), [(sums.ptr, 2 * band)], [(interleaved.ptr, 2 * band)])
            launch(lane, singleop.chroma_to_u8(n, ws), [(interleaved.ptr, 2 * band)],
                   [(out.buffer.ptr + uv_band, band // 2)])  # fmt: skip
