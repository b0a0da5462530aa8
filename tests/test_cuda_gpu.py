"""The cuda backend itself, end to end, from two threads at once: on a GPU with `pytest -m cuda` (tools/
device_check.sh: nvImageCodec's GPU decoders and encoder, the model in PyTorch fp16, non-blocking streams,
the device pool), and in numba-cuda's simulator here, so that the test's own logic is checked in CI.

Photos: the examples (real scans, GPU only: the simulator is too slow for them) and small ones made here,
baseline and progressive, EXIF-rotated, a PNG, and a broken one that must fail alone. The model is the
linear test model at 32 x 32, so that fp16 on the GPU and fp32 on the CPU differ by rounding only.
Tolerance against the cpu backend, PNG output: at most 2 levels anywhere and 0.5 on average (the model's fp16;
everything else is the CPU kernels' maths). JPEG output from the GPU's encoder: within 3 levels on average
of the same photo's PNG output (two encoders at quality 95).
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from acc.backends import OutputFormat, create_backend
from acc.models import resolve
from acc.probe import probe
from conftest import encode, gradient_photo
from cuda_support import MODES, SIMULATOR, numba_cuda_or_skip
from test_cuda_backend import exif_rotated_jpeg, small_model_dir

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.jpg"))
PNG, JPEG = OutputFormat("png"), OutputFormat("jpeg", 95)
ROUNDS = 3


def photos(mode: str) -> list[bytes]:
    made = [encode(gradient_photo(40, 56, seed=1), ".jpg"),
            encode(gradient_photo(36, 50, seed=2), ".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
            exif_rotated_jpeg(gradient_photo(24, 40, seed=3), 6),
            encode(gradient_photo(30, 44, seed=4), ".png"),
            b"\xff\xd8\xff\xe0" + b"\x00" * 40]  # fmt: skip
    return made + ([] if mode == SIMULATOR else [p.read_bytes() for p in EXAMPLES])


def decoded(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).astype(int)


@pytest.mark.parametrize("mode", MODES)
def test_the_backend_from_two_threads_writes_what_the_cpu_backend_writes(mode: str, tmp_path: Path) -> None:
    numba_cuda_or_skip(mode)
    from acc.backends.cuda.backend import CudaBackend

    spec = resolve("small", small_model_dir(tmp_path / "models"))
    datas = photos(mode)
    items = [(d, probe(d)) if i != 4 else (d, probe(datas[0])) for i, d in enumerate(datas)]  # the broken one lies
    with create_backend("cpu", spec) as cpu:
        want = {}
        for i, (data, info) in enumerate(items):
            if i != 4:
                frame = cpu.decode(data, info)
                want[i] = decoded(cpu.render(frame, cpu.infer([cpu.model_input(frame)])[0], PNG))
    cuda = CudaBackend(spec, emulate=mode == SIMULATOR)
    infer_lock, start, errors = threading.Lock(), threading.Barrier(2), []

    def work() -> None:
        try:
            start.wait()
            for _ in range(ROUNDS):
                frames = cuda.decode_batch(items)
                assert isinstance(frames[4], Exception), frames[4]  # the broken photo fails alone
                good = [f for f in frames if not isinstance(f, Exception)]
                with infer_lock:  # the runner's rule: one thread at a time in infer
                    predictions = cuda.infer(cuda.model_input_batch(good))
                pngs = cuda.render_batch(good, predictions, PNG)
                jpegs = cuda.render_batch(good, predictions, JPEG)
                for frame in good:
                    cuda.release(frame)
                for i, png, jpeg in zip([k for k in range(len(items)) if k != 4], pngs, jpegs):
                    got = decoded(png)
                    assert got.shape == want[i].shape, (i, got.shape, want[i].shape)
                    diff = np.abs(got - want[i])
                    assert diff.max() <= 2 and diff.mean() <= 0.5, (i, diff.max(), diff.mean())
                    assert np.abs(decoded(jpeg) - got).mean() <= 3.0, i
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cuda.close()
    assert not errors, errors[0]
