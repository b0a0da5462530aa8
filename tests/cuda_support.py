"""Shared by the CUDA tests: the kernels in numba-cuda's simulator or on a GPU, and flat batch buffers.

One process runs numba-cuda in one mode (acc/kernels/cuda/target.py). A plain `pytest` runs the
simulator side of every test; `pytest -m cuda` (tools/device_check.sh, on a machine with a GPU) selects
the GPU side, which is skipped elsewhere and never counted as passing here.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import simplejpeg

from acc.backends.cuda.driver import gpu_reason
from conftest import encode, gradient_photo

SIMULATOR = "simulator"
GPU = "gpu"
MODES = [SIMULATOR, pytest.param(GPU, marks=pytest.mark.cuda)]


def numba_cuda_or_skip(mode: str):
    """numba.cuda in `mode`, or skip the test saying why it cannot run in this process."""
    pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (pip install 'acc-colorize[cuda]')")
    from acc.kernels.cuda.target import CudaUnavailable, numba_cuda

    if mode == GPU and gpu_reason():
        pytest.skip(f"needs an NVIDIA GPU: {gpu_reason()}")
    try:
        return numba_cuda(emulate=mode == SIMULATOR)
    except CudaUnavailable as exc:
        pytest.skip(f"{exc} (run `pytest -m cuda` apart on a GPU machine)")


def emulation_or_skip():
    """numba.cuda in the simulator, with nvImageCodec for the codecs' CPU backends; or skip, saying why."""
    from acc.backends.cuda.codecs import nvimgcodec_reason

    if nvimgcodec_reason():
        pytest.skip(f"{nvimgcodec_reason()}: these tests run its CPU backends (pip install -e '.[cuda-test]')")
    return numba_cuda_or_skip(SIMULATOR)


def kernels(mode: str) -> SimpleNamespace:
    """The kernel modules, compiled for `mode`."""
    cuda = numba_cuda_or_skip(mode)
    from acc.kernels.cuda import ab_merge, lab_l, target

    return SimpleNamespace(cuda=cuda, lab_l=lab_l, ab_merge=ab_merge, target=target)


def pack(planes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Luma planes -> (flat uint8 buffer, offsets, heights, widths: int64), as the backend lays out a batch;
    7 guard bytes of 77 after the last plane catch reads and writes past the end."""
    sizes = [p.size for p in planes]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    flat = np.concatenate([p.ravel() for p in planes] + [np.full(7, 77, np.uint8)]).astype(np.uint8)
    heights = np.array([p.shape[0] for p in planes], np.int64)
    widths = np.array([p.shape[1] for p in planes], np.int64)
    return flat, offsets, heights, widths


def _segments(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each marker segment of a JPEG before its first scan's data (SOI excluded)."""
    spans, pos = [], 2
    while data[pos + 1] != 0xDA:
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        spans.append((pos, end))
        pos = end
    spans.append((pos, pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")))
    return spans


def rgb_coded_jpeg(rgb: np.ndarray, adobe: bool) -> bytes:
    """A JPEG whose three components libjpeg reads as R, G, B, not Y, Cb, Cr: no JFIF segment, and an Adobe
    APP14 segment with transform 0 (adobe) or components named R, G, B (in the frame and the scan header)."""
    data = bytearray(simplejpeg.encode_jpeg(rgb, colorsubsampling="444"))
    out = bytearray(data[:2])
    for start, end in _segments(bytes(data)):
        segment = bytearray(data[start:end])
        marker = segment[1]
        if marker == 0xE0:  # JFIF: it would mean YCbCr
            continue
        if not adobe and marker == 0xC0:  # SOF0: id, sampling, table per component from byte 10 on
            segment[10:19:3] = b"RGB"
        if not adobe and marker == 0xDA:  # SOS: id, tables per component from byte 5 on
            segment[5:11:2] = b"RGB"
        out += segment
    out += data[end:]
    if adobe:
        app14 = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"  # version 100, flags 0, transform 0
        out[2:2] = app14
    return bytes(out)


def decode_in_threads(threads: int, rounds: int) -> int:
    """`threads` threads decoding batches of 8 at once on one emulated cuda backend (nvImageCodec on its CPU
    backends), every plane against libjpeg-turbo's, and every photo decoded by nvImageCodec (no host fallback);
    prints the count. Exit status: 0 when all are right."""
    from acc.backends.cuda.backend import CudaBackend
    from acc.backends.hostimage import decode_luma
    from acc.kernels.cuda.target import numba_cuda
    from acc.models import resolve
    from acc.probe import probe

    numba_cuda(emulate=True)
    photos = [encode(gradient_photo(24 + i, 32 + 2 * i, seed=i), ".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, i % 2)
              for i in range(16)]  # fmt: skip
    items = [(data, probe(data)) for data in photos]
    want = [decode_luma(data, info)[0] for data, info in items]
    backend = CudaBackend(resolve("acc-tiny"), emulate=True)
    wrong, lock, start = [0], threading.Lock(), threading.Barrier(threads)
    decode_into = backend.decoder._decode_into

    def counted(*args):  # a photo nvImageCodec gave no image for (then decoded on the host) counts as wrong
        done = decode_into(*args)
        with lock:
            wrong[0] += done.count(False)
        return done

    backend.decoder._decode_into = counted

    def work(t: int) -> None:
        start.wait()
        for r in range(rounds):
            order = [(t + r + k) % len(items) for k in range(8)]
            frames = backend.decode_batch([items[i] for i in order])
            for i, frame in zip(order, frames):
                bad = isinstance(frame, Exception) or not np.array_equal(
                    frame.batch.plane(frame.slot.offset, frame.slot.height, frame.slot.width).copy_to_host(), want[i])
                if not isinstance(frame, Exception):
                    backend.release(frame)
                with lock:
                    wrong[0] += bad

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    backend.close()
    print(f"{threads} threads: {threads * rounds * 8} planes, {wrong[0]} wrong")
    return 1 if wrong[0] else 0
