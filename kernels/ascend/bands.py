"""How the render covers a photo of any size with operators compiled for static shapes.

Single operators on the Ascend 310 run static shapes only (atc --singleop compiles each shape), but a
photo's full-size plane varies. acc cuts the plane into row bands: a band is `rows` full rows of the
plane's width stride (rows from BAND_ROWS, the width stride from a finite set: JPEGD aligns it to 128
on the 310, 64 on the 310P), so every band is a contiguous, statically shaped tensor and the set of
shapes to compile is small (2 heights x 64 widths on the 310). The height stride is a multiple of 16,
so bands tile it exactly.

What varies per photo is passed as data, not compiled in: the bilinear weights that upsample ab from
the model's output size to the photo's (OpenCV's half-pixel geometry, as kernels/reference.py), with
the model's ab_scale folded in, and the chroma weights that make a 2x2 block at an odd edge average
only its valid pixels. All of it is one float16 array uploaded once per photo:

    wx  (ow, ws)          column weights: ab_cols = ab (2*oh, ow) @ wx         -> (2*oh, ws)
    wy  (2, rows, oh)     per band, row weights for both channels: wy @ ab_cols -> (2, rows, ws)
    cw  (ws,)             chroma weight per column (0.5, or 1/0 at an odd right edge, 0 in padding)
    rw  (hs,)             chroma weight per row (likewise)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from acc.kernels.reference import resize_bilinear

BAND_ROWS = (128, 16)  # compiled band heights, largest first; 16 divides every height stride


def bands(height_stride: int) -> list[tuple[int, int]]:
    """(first row, rows) of each band covering a plane of height_stride rows, largest bands first."""
    out: list[tuple[int, int]] = []
    row = 0
    for rows in BAND_ROWS:
        while height_stride - row >= rows:
            out.append((row, rows))
            row += rows
    if row != height_stride:
        raise ValueError(f"height stride {height_stride} is not a multiple of {BAND_ROWS[-1]}")
    return out


def interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) bilinear weights: row i holds the taps of output sample i (reference geometry)."""
    return resize_bilinear(np.eye(n_in), (n_out, n_in))


def chroma_weights(n: int, stride: int) -> np.ndarray:
    """Per-sample weight in its 2x2 chroma block: 0.5 in pairs, 1 for a lone last sample, 0 past n."""
    w = np.zeros(stride)
    w[:n] = 0.5
    if n % 2:
        w[n - 1] = 1.0
    return w


@dataclass(frozen=True)
class RenderGeometry:
    width: int
    height: int
    width_stride: int
    height_stride: int
    out_size: tuple[int, int]  # the model's output (oh, ow)
    data: np.ndarray  # float16: wx | wy (band-major) | cw | rw

    @property
    def wx_offset(self) -> int:
        return 0

    def wy_offset(self, first_row: int) -> int:
        oh, ow = self.out_size
        return ow * self.width_stride + 2 * first_row * oh

    @property
    def cw_offset(self) -> int:
        oh, ow = self.out_size
        return ow * self.width_stride + 2 * self.height_stride * oh

    def rw_offset(self, first_row: int) -> int:
        return self.cw_offset + self.width_stride + first_row


def render_geometry(width: int, height: int, width_stride: int, height_stride: int,
                    out_size: tuple[int, int], ab_scale: float = 1.0) -> RenderGeometry:  # fmt: skip
    oh, ow = out_size
    wx = np.zeros((ow, width_stride))
    wx[:, :width] = interp_matrix(width, ow).T * ab_scale
    ry = np.zeros((height_stride, oh))
    ry[:height] = interp_matrix(height, oh)
    wy = [np.stack([ry[r : r + n]] * 2).ravel() for r, n in bands(height_stride)]
    parts = [wx.ravel(), *wy, chroma_weights(width, width_stride), chroma_weights(height, height_stride)]
    data = np.concatenate(parts).astype(np.float16)
    return RenderGeometry(width, height, width_stride, height_stride, out_size, data)
