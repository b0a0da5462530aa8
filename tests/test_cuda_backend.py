"""The cuda backend end to end in emulation (numba-cuda's simulator for the kernels, nvImageCodec on its CPU
backends for the codecs, ONNX Runtime on the CPU for the model): the same backend code a GPU runs, against
the cpu backend. Photos are small and the model is the linear test model at 32 x 32 (the simulator runs a
Python thread per CUDA thread). Tolerance: outputs within 1 level of the cpu backend's everywhere, and equal
on at least 99.9 % of values (the kernels share the CPU's maths; tests/test_cuda_kernels.py) except for
colour images in formats other than JPEG: there the cuda backend takes L through an 8-bit gray of the
same luminance (as the Ascend backend), the cpu backend exactly, and 1-level differences are common
(17 % of values on the test's colour PNG).
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (pip install 'acc-colorize[cuda]')")

from acc.backends import BackendError, OutputFormat, create_backend  # noqa: E402
from acc.backends.cuda import backend as cuda_backend  # noqa: E402
from acc.backends.cuda.backend import ENCODER_ENV, CudaBackend, Row, padded  # noqa: E402
from acc.backends.cuda.codecs import NvDecoder, NvEncoder  # noqa: E402
from acc.kernels.cuda.target import numba_cuda  # noqa: E402
from acc.models import resolve  # noqa: E402
from acc.probe import probe  # noqa: E402
from conftest import build_linear_model, color_photo, encode, gradient_photo, write_registry  # noqa: E402
from cuda_support import emulation_or_skip  # noqa: E402

PNG = OutputFormat(kind="png")


@pytest.fixture(scope="module", autouse=True)
def simulator():
    return emulation_or_skip()


def small_model_dir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    build_linear_model(folder / "small.onnx", size=32, out=8)
    write_registry(folder, "small", "small.onnx", hashlib.sha256((folder / "small.onnx").read_bytes()).hexdigest(),
                   input={"name": "L", "size": [32, 32], "l_offset": 50.0, "l_scale": 1.0},
                   output={"name": "ab", "size": [8, 8], "ab_scale": 1.5})  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return resolve("small", small_model_dir(tmp_path_factory.mktemp("models")))


@pytest.fixture(scope="module")
def backends(spec):
    cuda, cpu = create_backend("cuda", spec, emulate=True), create_backend("cpu", spec)
    yield cuda, cpu
    cuda.close()
    cpu.close()


def exif_rotated_jpeg(img: np.ndarray, orientation: int = 6) -> bytes:
    """A JPEG with an EXIF APP1 segment holding only an orientation tag (big-endian TIFF)."""
    import struct

    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + tiff
    jpeg = encode(img, ".jpg")
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def photos() -> list[bytes]:
    rgba = np.dstack([color_photo(30, 44, seed=5), np.full((30, 44), 200, np.uint8)])
    return [
        encode(gradient_photo(40, 56, seed=1), ".jpg"),
        encode(color_photo(36, 50, seed=2), ".jpg"),
        encode(rgba, ".png"),
        exif_rotated_jpeg(gradient_photo(24, 40, seed=3)),
        encode(gradient_photo(17, 9, seed=4), ".png", cv2.IMWRITE_PNG_COMPRESSION, 1),
    ]


def cpu_output(cpu, data: bytes, fmt: OutputFormat) -> bytes:
    info = probe(data)
    frame = cpu.decode(data, info)
    return cpu.render(frame, cpu.infer([cpu.model_input(frame)])[0], fmt)


def assert_close_to(got: bytes, want: bytes, exact_l: bool = True) -> None:
    """Within 1 level, equal on 99.9 % of values; when only the cpu backend had L exactly (exact_l False),
    within 2 levels on average (JPEG compression amplifies 1-level differences: 1.3 measured at q90)."""
    g = cv2.imdecode(np.frombuffer(got, np.uint8), cv2.IMREAD_UNCHANGED).astype(int)
    w = cv2.imdecode(np.frombuffer(want, np.uint8), cv2.IMREAD_UNCHANGED).astype(int)
    assert g.shape == w.shape
    diff = np.abs(g - w)
    if exact_l:
        assert diff.max() <= 1 and (diff == 0).mean() >= 0.999, (diff.max(), (diff == 0).mean())
    else:
        assert diff.mean() <= 2.0, diff.mean()


def luma_exact(data: bytes) -> bool:
    """False for colour images in formats other than JPEG (see the module docstring)."""
    colour_png = data.startswith(b"\x89PNG") and cv2.imdecode(np.frombuffer(data, np.uint8), 1).std(axis=2).max() > 0
    return not colour_png


@pytest.mark.parametrize("fmt", [PNG, OutputFormat("jpeg", 90)], ids=["png", "jpeg"])
def test_a_batch_of_mixed_photos_matches_the_cpu_backend(backends, fmt: OutputFormat) -> None:
    """Gray and colour JPEGs, a PNG with alpha, an EXIF-rotated JPEG, a tiny PNG: one call per stage."""
    cuda, cpu = backends
    datas = photos()
    frames = cuda.decode_batch([(d, probe(d)) for d in datas])
    outputs = cuda.render_batch(frames, cuda.infer(cuda.model_input_batch(frames)), fmt)
    for frame in frames:
        cuda.release(frame)
    for data, got in zip(datas, outputs):
        assert isinstance(got, bytes), got
        assert_close_to(got, cpu_output(cpu, data, fmt), luma_exact(data))
    rotated = cv2.imdecode(np.frombuffer(outputs[3], np.uint8), cv2.IMREAD_UNCHANGED)
    assert rotated.shape[:2] == (40, 24)  # upright: orientation 6 turns 40 x 24 into 24 x 40
    if fmt.kind == "png":
        assert cv2.imdecode(np.frombuffer(outputs[2], np.uint8), cv2.IMREAD_UNCHANGED).shape[2] == 4  # alpha kept


def test_each_photo_fails_alone(backends) -> None:
    cuda, _ = backends
    good = encode(gradient_photo(20, 30, seed=6), ".jpg")
    truncated_header = probe(good)
    items = [(good, probe(good)), (b"\xff\xd8\xff\xe0" + b"\x00" * 40, truncated_header), (good, probe(good))]
    frames = cuda.decode_batch(items)
    assert isinstance(frames[1], Exception) and not isinstance(frames[0], Exception)
    ok = [frames[0], frames[2]]
    outputs = cuda.render_batch(ok, cuda.infer(cuda.model_input_batch(ok)), PNG)
    assert all(isinstance(o, bytes) for o in outputs)
    assert outputs[0] == outputs[1]  # the same photo twice: the failure in between moved nothing
    for frame in ok:
        cuda.release(frame)


def test_photos_of_different_decode_batches_render_together(backends) -> None:
    """Frames from two decode calls (two device buffers), inputs and predictions in a shuffled order."""
    cuda, cpu = backends
    datas = photos()[:4]
    first = cuda.decode_batch([(d, probe(d)) for d in datas[:2]])
    second = cuda.decode_batch([(d, probe(d)) for d in datas[2:]])
    frames = [second[1], first[0], second[0], first[1]]
    inputs = cuda.model_input_batch(frames)
    predictions = cuda.infer([inputs[2], inputs[0], inputs[3], inputs[1]])  # not consecutive rows: gathered
    order = [predictions[1], predictions[3], predictions[0], predictions[2]]
    outputs = cuda.render_batch(frames, order, PNG)
    for data, got in zip([datas[3], datas[0], datas[2], datas[1]], outputs):
        assert_close_to(got, cpu_output(cpu, data, PNG), luma_exact(data))
    for frame in frames:
        cuda.release(frame)


def test_single_photo_stages_are_batches_of_one(backends) -> None:
    cuda, cpu = backends
    data = photos()[0]
    frame = cuda.decode(data, probe(data))
    prediction = cuda.infer([cuda.model_input(frame)])[0]
    assert isinstance(prediction, Row)
    assert_close_to(cuda.render(frame, prediction, PNG), cpu_output(cpu, data, PNG))
    cuda.release(frame)
    cuda.release(frame)  # twice is harmless


def test_predictions_are_in_lab_units(backends, spec) -> None:
    """The registry's ab_scale (1.5 here) is applied by infer, as acc/inference.py does."""
    cuda, cpu = backends
    data = photos()[0]
    frame = cuda.decode(data, probe(data))
    (row,) = cuda.infer([cuda.model_input(frame)])
    got = np.asarray(row.array[row.index].copy_to_host())
    cpu_frame = cpu.decode(data, probe(data))
    np.testing.assert_allclose(got, cpu.infer([cpu.model_input(cpu_frame)])[0], atol=1e-4)
    cuda.release(frame)


def test_batch_sizes_the_model_sees() -> None:
    assert [padded(n) for n in (1, 2, 3, 5, 33, 64, 65, 130)] == [1, 2, 4, 8, 64, 64, 128, 192]


def test_the_model_sees_padded_batches_and_each_photo_gets_its_own_prediction(spec, monkeypatch) -> None:
    """3 photos make a model batch of 4 (cuDNN meets few shapes): its last row repeats the last photo, and the
    3 predictions are what each photo gets alone. Rows taken out of order are gathered, and padded alike."""
    backend = CudaBackend(spec, emulate=True)
    seen = []
    model = backend.runner
    monkeypatch.setattr(backend, "runner", lambda x, stream: seen.append(x.shape[0]) or model(x, stream))
    datas = [encode(gradient_photo(20 + i, 30, seed=60 + i), ".jpg") for i in range(3)]
    frames = backend.decode_batch([(d, probe(d)) for d in datas])
    inputs = backend.model_input_batch(frames)
    x = inputs[0].array.copy_to_host()
    assert x.shape[0] == 4 and np.array_equal(x[3], x[2]) and not np.array_equal(x[1], x[2])
    together = [np.asarray(r.array[r.index].copy_to_host()) for r in backend.infer(inputs)]
    shuffled = backend.infer([inputs[2], inputs[0], inputs[1]])
    alone = [backend.infer([backend.model_input(f)])[0] for f in frames]
    assert seen == [4, 4, 1, 1, 1]
    for k, (row, twin) in enumerate(zip(alone, [shuffled[1], shuffled[2], shuffled[0]])):
        np.testing.assert_allclose(together[k], row.array[0].copy_to_host(), atol=1e-5)
        np.testing.assert_allclose(together[k], twin.array[twin.index].copy_to_host(), atol=1e-5)
    for frame in frames:
        backend.release(frame)
    backend.close()


ALLOCATORS = ("device_array", "device_array_like", "to_device", "pinned_array", "mapped_array")


@contextlib.contextmanager
def allocations_counted(into: list[str]):
    """Every numba.cuda allocation made inside the block, by function name, appended to `into`."""
    cuda = numba_cuda(emulate=True)
    with pytest.MonkeyPatch.context() as m:
        for name in ALLOCATORS:
            real = getattr(cuda, name)
            m.setattr(cuda, name, lambda *args, _real=real, _name=name, **kw: into.append(_name) or _real(*args, **kw))
        yield


def test_a_warm_backend_allocates_no_device_memory_per_batch(spec) -> None:
    """Buffers come from the pool and the per-photo numbers from a reused pinned staging array: on a GPU an
    allocation or a free can make the whole device wait. (infer is left out: emulation's model runs on the
    host, through copies.)"""
    backend = CudaBackend(spec, emulate=True)
    datas = [encode(gradient_photo(20 + i, 30, seed=70 + i), ".jpg") for i in range(3)]
    allocations: list[str] = []
    for warm in (True, False):  # the first batch fills the pool and this thread's staging
        with allocations_counted([] if warm else allocations):
            frames = backend.decode_batch([(d, probe(d)) for d in datas])
            inputs = backend.model_input_batch(frames)
        predictions = backend.infer(inputs)
        with allocations_counted([] if warm else allocations):
            outputs = backend.render_batch(frames, predictions, OutputFormat("jpeg", 90))
        assert all(isinstance(o, bytes) for o in outputs)
        for frame in frames:
            backend.release(frame)
        del inputs, predictions  # their memory goes back to the pool
    assert allocations == []
    backend.close()


def test_a_batch_too_large_for_the_device_is_split(spec, monkeypatch) -> None:
    backend = CudaBackend(spec, emulate=True)
    real_take = backend.pool.take
    limit = 2 * 40 * 56

    def take(nbytes: int):
        if nbytes > limit:
            raise MemoryError(f"out of GPU memory for {nbytes} bytes")
        return real_take(nbytes)

    monkeypatch.setattr(backend.pool, "take", take)
    small, big = encode(gradient_photo(40, 56, seed=7), ".jpg"), encode(gradient_photo(80, 112, seed=8), ".jpg")
    frames = backend.decode_batch([(small, probe(small))] * 3 + [(big, probe(big))])
    assert [type(f).__name__ for f in frames] == ["CudaFrame"] * 3 + ["MemoryError"]
    assert len({id(f.batch) for f in frames[:3]}) == 2  # [small], [small, small]: halves that fit
    for frame in frames[:3]:
        backend.release(frame)
    backend.close()


def pooled(backend: CudaBackend) -> list:
    """The buffers the backend's pool keeps for reuse."""
    return [buffer for kept in backend.pool._free.values() for buffer, _ in kept]


def test_released_batches_return_to_the_pool_and_close_holds_nothing(spec) -> None:
    backend = CudaBackend(spec, emulate=True)
    data = photos()[0]
    frames = backend.decode_batch([(data, probe(data))] * 2)
    buffer = frames[0].batch.buffer
    backend.release(frames[0])
    assert not any(b is buffer for b in pooled(backend))  # one photo still holds it
    backend.release(frames[1])
    assert any(b is buffer for b in pooled(backend))
    backend.close()
    backend.close()
    assert not backend.pool._free
    with pytest.raises(RuntimeError, match="closed"):
        backend.decode_batch([(data, probe(data))])


def test_host_memory_estimate_covers_decode_and_encode(backends) -> None:
    cuda, _ = backends
    jpeg, png = photos()[0], photos()[2]
    assert cuda.host_bytes(probe(jpeg)) == 40 * 56 * 6  # host encode: downloaded pixels + the file
    assert cuda.host_bytes(probe(png)) == 30 * 44 * 104  # host decode of a colour PNG, float64 luminance


def test_emulation_runs_nvimgcodec_on_its_cpu_backends(backends) -> None:
    cuda, _ = backends
    assert isinstance(cuda.decoder, NvDecoder) and isinstance(cuda.jpeg_encoder, NvEncoder)
    assert "CPU backends" in cuda.decoder.name and "CPU backends" in cuda.jpeg_encoder.name


def test_encoder_choice(spec, monkeypatch) -> None:
    monkeypatch.setenv(ENCODER_ENV, "gpu")
    backend = CudaBackend(spec, emulate=True)
    assert isinstance(backend.jpeg_encoder, NvEncoder)  # emulated: its CPU backends
    backend.close()
    with pytest.raises(BackendError, match="must be one of"):
        CudaBackend(spec, emulate=True, jpeg_encoder="fastest")
    backend = CudaBackend(spec, emulate=True, jpeg_encoder="host")
    assert backend.jpeg_encoder is backend.png_encoder
    backend.close()
    monkeypatch.setattr(cuda_backend, "nvimgcodec_reason", lambda: "nvImageCodec is not installed (test)")
    with pytest.raises(BackendError, match="=gpu: nvImageCodec is not installed"):
        CudaBackend(spec, emulate=True)
    backend = CudaBackend(spec, emulate=True, jpeg_encoder="auto")  # without it: libjpeg-turbo on the host
    assert backend.jpeg_encoder is backend.png_encoder and backend.decoder is backend.host_decoder
    backend.close()


def test_without_a_gpu_it_asks_for_emulate(spec) -> None:
    reason = CudaBackend.unavailable_reason()
    assert reason and "--emulate" in reason
    with pytest.raises(BackendError, match="cannot run here"):
        create_backend("cuda", spec)


def test_acc_colorize_emulated_writes_what_the_cpu_backend_writes(tmp_path: Path) -> None:
    models = small_model_dir(tmp_path / "models")
    scans = tmp_path / "scans"
    scans.mkdir()
    for i, data in enumerate(photos()[:3]):
        suffix = ".png" if data.startswith(b"\x89PNG") else ".jpg"
        (scans / f"p{i}{suffix}").write_bytes(data)
    (scans / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    for backend in ("cuda", "cpu"):
        args = [sys.executable, "-m", "acc.cli", "colorize", str(scans), "-o", str(tmp_path / backend), "--backend",
                backend, "--model-dir", str(models), "--model", "small", "--format", "png", "--batch-size", "2"]
        result = subprocess.run(args + (["--emulate"] if backend == "cuda" else []), capture_output=True, text=True,
                                timeout=300)  # fmt: skip
        assert result.returncode == 1, result.stderr  # the broken file fails, alone
        assert "broken.jpg" in result.stderr
        assert ("--emulate: the CUDA kernels run in numba-cuda's simulator" in result.stderr) == (backend == "cuda")
    outputs = sorted((tmp_path / "cpu").glob("*.png"))
    assert len(outputs) == 3
    for want in outputs:
        source = next(scans.glob(f"{want.stem}.*")).read_bytes()
        assert_close_to((tmp_path / "cuda" / want.name).read_bytes(), want.read_bytes(), luma_exact(source))


def test_doctor_says_what_runs_where(tmp_path: Path) -> None:
    models = small_model_dir(tmp_path / "models")
    args = [sys.executable, "-m", "acc.cli", "doctor", "--model-dir", str(models), "--model", "small", "--backend", "cuda"]
    emulated = subprocess.run([*args, "--emulate"], capture_output=True, text=True, timeout=120)
    assert emulated.returncode == 0, emulated.stdout
    section = emulated.stdout.split("\ncuda:\n", 1)[1]
    assert "status: not yet run on a GPU" in section and "mode: emulated" in section
    assert "GPU: none (" in section  # and why
    plain = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1 and "mode: not available here (--emulate runs it on the CPU)" in plain.stdout


def test_bench_times_a_batched_backend_batch_by_batch(spec, tmp_path: Path, monkeypatch) -> None:
    """acc bench runs the batch forms on chunks of batch_size photos and charges each photo time / n."""
    from acc.benchmark import Bench, Photo, report
    from acc.pipeline import RunOptions

    backend = CudaBackend(spec, emulate=True)
    datas = [encode(gradient_photo(20 + i, 30, seed=20 + i), ".jpg") for i in range(5)]
    photos = [Photo(f"p{i}.jpg", d, probe(d)) for i, d in enumerate(datas)]
    calls = []
    real = backend.decode_batch
    monkeypatch.setattr(backend, "decode_batch", lambda items: calls.append(len(items)) or real(items))
    bench = Bench(photos, {"cuda": backend}, RunOptions(batch_size=2, fmt=PNG), [], tmp_path, end_to_end=False)
    bench.run(rounds=2, warmup=0)
    assert calls[5:] == [2, 2, 1, 2, 2, 1]  # after the per-photo preparation, one call per chunk per round
    for stage in ("decode", "model_input", "render"):
        samples = bench.stages["cuda", stage]
        assert sorted(samples) == [0, 1, 2, 3, 4] and all(len(s) == 2 for s in samples.values())
        assert samples[0] == samples[1] and samples[0] != samples[4]  # a chunk's photos share its time / n
    assert report(bench, 2, 0, spec.name)["groups"]
    backend.close()
