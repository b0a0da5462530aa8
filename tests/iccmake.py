"""ICC profiles made in the tests (ICC.1:2001-04, version 2.1): a gray profile from a tone curve, and a
matrix/TRC RGB profile. LittleCMS reads them as it reads a scanner's or Photoshop's; nothing is downloaded.

The curves are sampled tables of device value -> relative luminance Y (curveType, ICC.1 6.5.3).
"""

from __future__ import annotations

import struct

import numpy as np

D50 = (0.9642, 1.0, 0.8249)


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ \x00\x00\x00\x00" + b"".join(_s15(v) for v in xyz)


def _curve(y: np.ndarray) -> bytes:
    table = np.clip(np.rint(np.asarray(y, np.float64) * 65535), 0, 65535).astype(">u2")
    return b"curv\x00\x00\x00\x00" + struct.pack(">I", len(table)) + table.tobytes()


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\x00"
    return b"desc\x00\x00\x00\x00" + struct.pack(">I", len(ascii_)) + ascii_ + b"\x00" * 12 + b"\x00" * 67


def _profile(space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, bodies = b"", b""
    for sig, body in tags:
        entries += sig + struct.pack(">II", offset + len(bodies), len(body))
        bodies += body + b"\x00" * (-len(body) % 4)
    size = 128 + table_size + len(bodies)
    header = (struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntr" + space + b"XYZ "
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"\x00" * 24 + struct.pack(">I", 0)
              + b"".join(_s15(v) for v in D50) + b"\x00" * 48)  # fmt: skip
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + entries + bodies


def gray_profile(name: str, y_of_value: np.ndarray) -> bytes:
    """A gray display profile whose tone curve maps device value (0..1, sampled evenly) to Y."""
    return _profile(b"GRAY", [(b"desc", _desc(name)), (b"wtpt", _xyz(D50)), (b"kTRC", _curve(y_of_value)),
                              (b"cprt", b"text\x00\x00\x00\x00made in the tests\x00")])  # fmt: skip


def rgb_profile(name: str, gamma: float, columns: list[tuple[float, float, float]]) -> bytes:
    """A matrix/TRC RGB profile: one gamma for the three channels, colorants already adapted to D50."""
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(gamma * 256))
    tags = [(b"desc", _desc(name)), (b"wtpt", _xyz(D50))]
    tags += [(sig, _xyz(col)) for sig, col in zip((b"rXYZ", b"gXYZ", b"bXYZ"), columns)]
    tags += [(sig, curve) for sig in (b"rTRC", b"gTRC", b"bTRC")]
    return _profile(b"RGB ", tags)


def dot_gain_y(gain: float = 0.2, samples: int = 256) -> np.ndarray:
    """Y of device value for a press with `gain` dot gain at 50 % (Photoshop's "Dot Gain 20%" kind): ink
    coverage k = 1 - value prints as k + 4 gain k (1 - k), and paper white is Y = 1."""
    k = 1.0 - np.linspace(0.0, 1.0, samples)
    return 1.0 - (k + 4 * gain * k * (1.0 - k))


def gamma_y(gamma: float, samples: int = 256) -> np.ndarray:
    return np.linspace(0.0, 1.0, samples) ** gamma


# Adobe RGB (1998)'s colorants, adapted to D50 (Bradford), and its gamma 563/256.
ADOBE_RGB_COLUMNS = [(0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446)]
ADOBE_RGB_GAMMA = 563 / 256
