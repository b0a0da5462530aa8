"""The cuda backend's codecs (acc/backends/cuda/codecs.py) against the real nvImageCodec binding, run on its
CPU backends (no GPU needed): threads, the library's log, sizes that disagree with the header, and the JPEGs
whose GRAY is not luma. Each test checks a failure the real library showed or would show on a GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import simplejpeg

pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (pip install 'acc-colorize[cuda]')")

from acc.backends.cuda import codecs  # noqa: E402
from acc.backends.cuda.backend import CudaBackend  # noqa: E402
from acc.backends.hostimage import decode_luma  # noqa: E402
from acc.models import resolve  # noqa: E402
from acc.probe import probe  # noqa: E402
from conftest import encode, gradient_photo  # noqa: E402
from cuda_support import emulation_or_skip, rgb_coded_jpeg  # noqa: E402
from test_cuda_backend import PNG, assert_close_to, cpu_output, small_model_dir  # noqa: E402

TESTS = Path(__file__).parent


@pytest.fixture(scope="module", autouse=True)
def simulator():
    return emulation_or_skip()


@pytest.fixture(scope="module")
def backend():
    cuda = CudaBackend(resolve("acc-tiny"), emulate=True)
    yield cuda
    cuda.close()


def host_planes(backend: CudaBackend, frames: list) -> list[np.ndarray]:
    """Each decoded frame's luma plane, copied to the host."""
    return [frame.batch.plane(frame.slot.offset, frame.slot.height, frame.slot.width).copy_to_host()
            for frame in frames]  # fmt: skip


def release(backend: CudaBackend, frames: list) -> None:
    for frame in frames:
        if not isinstance(frame, Exception):
            backend.release(frame)


# --- one decoder and encoder per thread -------------------------------------------------------------------


def test_every_thread_has_its_own_decoder_and_encoder(backend) -> None:
    """nvImageCodec's codecs are not safe to share: the backend's threads never share one."""
    import threading

    made: dict[int, list] = {}  # thread -> the codecs it got, held (an id is only unique while its object lives)
    barrier = threading.Barrier(4)

    def work(t: int) -> None:
        barrier.wait()
        made[t] = [(backend.decoder._codecs.get(), backend.jpeg_encoder._codecs.get()) for _ in range(2)]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for first, again in made.values():  # the same thread asks twice: the same codecs
        assert first[0] is again[0] and first[1] is again[1]
    assert len({id(pair[0][0]) for pair in made.values()}) == 4 and len({id(pair[0][1]) for pair in made.values()}) == 4


@pytest.mark.parametrize("threads", [2, 8])
def test_threads_decoding_at_once_get_every_photo_right(threads: int) -> None:
    """decode_batch from several threads at once on one backend, every plane against libjpeg-turbo's. With one
    Decoder shared by all threads, nvImageCodec 0.9.0.20 crashed the process at 8 threads and returned wrong
    or no images at 2: in a child process, so that a crash fails this test and nothing else."""
    code = f"import sys; sys.path.insert(0, {str(TESTS)!r}); import cuda_support; sys.exit(cuda_support.decode_in_threads({threads}, 40))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert result.stdout.strip().endswith(f"{threads * 40 * 8} planes, 0 wrong"), result.stdout


# --- the library's log ------------------------------------------------------------------------------------


def test_nvimgcodec_text_is_not_taken_for_a_photo_warning(tmp_path: Path) -> None:
    """With its default log, nvImageCodec prints a line for each photo it passes on (its JPEG parser refuses a
    marker libjpeg-turbo only warns about): acc took that for the photo's decoder warning, re-decoded the
    batch one photo at a time, and told the user nvImageCodec's text. Now it says what the cpu backend says."""
    models = small_model_dir(tmp_path / "models")
    scans = tmp_path / "scans"
    scans.mkdir()
    for i in range(3):
        (scans / f"p{i}.jpg").write_bytes(encode(gradient_photo(20 + i, 30, seed=40 + i), ".jpg"))
    odd = bytearray(encode(gradient_photo(24, 32, seed=44), ".jpg"))
    odd[3] = 0  # APP0's marker byte: a segment libjpeg-turbo skips with a warning, nvImageCodec's parser refuses
    (scans / "odd.jpg").write_bytes(bytes(odd))
    env = {k: v for k, v in os.environ.items() if k != codecs.VERBOSITY_ENV}
    said = {}
    for backend in ("cpu", "cuda"):
        args = [sys.executable, "-m", "acc.cli", "colorize", str(scans), "-o", str(tmp_path / backend), "--backend",
                backend, "--model-dir", str(models), "--model", "small", "--workers", "2", "--batch-size", "2"]
        result = subprocess.run(args + (["--emulate"] if backend == "cuda" else []), capture_output=True, text=True,
                                timeout=300, env=env)  # fmt: skip
        assert result.returncode == 0 and "4 colorized (1 with warnings)" in result.stdout, (result.stdout, result.stderr)
        said[backend] = [line for line in result.stderr.splitlines() if not line.startswith(("acc: --emulate",
                                                                                               "acc: progress"))]  # fmt: skip
    assert said["cuda"] == said["cpu"], said
    assert said["cpu"] and all("odd.jpg: corrupt JPEG data" in line for line in said["cpu"]), said
    assert "jpeg_parser" not in "\n".join(said["cuda"])  # nvImageCodec's words (the path holds the test's name)


# --- sizes that disagree with the header ------------------------------------------------------------------


def test_a_photo_larger_than_its_header_says_fails_alone(backend) -> None:
    """nvImageCodec refuses a whole batch when one photo does not fit its plane (ValueError: existing buffer
    is too small): that photo alone goes to the host decoder, which says what is wrong."""
    good = encode(gradient_photo(20, 28, seed=1), ".jpg")
    big = encode(gradient_photo(24, 36, seed=2), ".jpg")
    liar = replace(probe(big), width=30)  # the header acc read says 30 wide; the data holds 36
    frames = backend.decode_batch([(good, probe(good)), (big, liar), (good, probe(good))])
    try:
        assert [type(f).__name__ for f in frames] == ["CudaFrame", "CorruptImage", "CudaFrame"]
        assert "differs from the header" in str(frames[1])
        want = decode_luma(good, probe(good))[0]
        for plane in host_planes(backend, [frames[0], frames[2]]):
            np.testing.assert_array_equal(plane, want)
    finally:
        release(backend, frames)


def test_a_photo_decoded_to_another_shape_goes_to_the_host(backend) -> None:
    """Same pixel count, other shape (nvImageCodec reads a photo's EXIF orientation otherwise than acc's probe):
    written into the plane it would be a garbled photo; it is decoded on the host instead, as acc reads it."""
    data = encode(gradient_photo(24, 40, seed=3), ".jpg")
    turned = replace(probe(data), orientation=6)  # acc says: rotate; nvImageCodec sees no EXIF at all
    frames = backend.decode_batch([(data, turned), (data, probe(data))])
    try:
        rotated, plain = host_planes(backend, frames)
        np.testing.assert_array_equal(rotated, decode_luma(data, turned)[0])
        np.testing.assert_array_equal(plain, decode_luma(data, probe(data))[0])
        assert rotated.shape == (40, 24)
    finally:
        release(backend, frames)


# --- JPEGs whose GRAY is not luma -------------------------------------------------------------------------


def cmyk_jpeg() -> bytes:
    rng = np.random.default_rng(7)
    return simplejpeg.encode_jpeg(rng.integers(0, 256, (24, 32, 4), dtype=np.uint8), colorspace="CMYK")


@pytest.mark.parametrize("kind", ["adobe transform 0", "components named R, G, B", "CMYK"])
def test_jpegs_whose_first_component_is_not_luma_go_to_the_host(tmp_path: Path, monkeypatch, kind: str) -> None:
    """GRAY is the first component to nvJPEG: red for an RGB-coded JPEG, cyan for CMYK. libjpeg-turbo gives
    their true luminance (as the cpu backend takes it), so these go to the host decoder."""
    colour = np.dstack([gradient_photo(24, 32, seed=s) for s in (8, 9, 10)])
    data = cmyk_jpeg() if kind == "CMYK" else rgb_coded_jpeg(colour, adobe=kind.startswith("adobe"))
    info = probe(data)
    assert info.rgb_coded == (kind != "CMYK") and info.channels == (4 if kind == "CMYK" else 3)
    spec = resolve("small", small_model_dir(tmp_path / "models"))
    backend = CudaBackend(spec, emulate=True)
    sent: list[int] = []
    real = backend.decoder._decode_into
    monkeypatch.setattr(backend.decoder, "_decode_into", lambda datas, *rest: sent.append(len(datas)) or real(datas, *rest))
    try:
        frame = backend.decode(data, info)
        out = backend.render(frame, backend.infer([backend.model_input(frame)])[0], PNG)
        backend.release(frame)
        assert sent == [0]  # nothing for nvImageCodec
        from acc.backends import create_backend

        with create_backend("cpu", spec) as cpu:
            assert_close_to(out, cpu_output(cpu, data, PNG))
    finally:
        backend.close()


def test_the_probe_tells_rgb_coded_jpegs_from_ycbcr_ones() -> None:
    colour = np.dstack([gradient_photo(16, 16, seed=s) for s in (1, 2, 3)])
    assert not probe(encode(colour, ".jpg")).rgb_coded  # JFIF: YCbCr
    assert not probe(encode(colour[:, :, 0], ".jpg")).rgb_coded  # gray
    assert probe(rgb_coded_jpeg(colour, adobe=True)).rgb_coded
    assert probe(rgb_coded_jpeg(colour, adobe=False)).rgb_coded
    assert not probe(cmyk_jpeg()).rgb_coded and probe(cmyk_jpeg()).channels == 4
