"""`acc colorize --backend ascend --emulate` end to end, against the cpu backend.

Everything here runs against the acl emulator (acc/backends/ascend/emulator): no Ascend device, no CANN.
The test model's operators are built the way docs/ascend.md says for emulation (the single-op JSON for
its contract beside it), the photos go through the real CLI, and the outputs are compared with the cpu
backend's, which computes L from luma as well.

How they are compared: PNG outputs (no second lossy step), in YCbCr: Y per pixel and Cb/Cr averaged over
2x2 blocks (the Ascend render writes 4:2:0, as JPEGE needs), on pixels neither backend clipped to 0 or
255 (clipping folds chroma into luma differently). Measured tolerances (tests/test_ascend_kernels.py
holds the kernels to the reference by themselves):

- even-sized photos: |dY| <= 1.5 levels, |dCbCr| <= 1.5, 99 % of both within 1 level;
- colour images decoded on the host (PNG): their L is the exact L through an 8-bit gray value (the cpu
  backend keeps 16-bit codes): |dY| <= 2, 90 % within 1 level; |dCbCr| <= 2, 95 % within 1;
- odd-sized photos: VPC takes even sizes only, so the model sees the photo less its last column/row
  (its scale differs by 1/width): ab differs where edges are sharp; |dCbCr| <= 8, 85 % within 1 level;
- JPEG outputs, decoded: mean |dRGB| <= 2 levels (two encoders: YUV planes here, RGB there).
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from acc.backends import BackendError, create_backend
from acc.backends.ascend import constants as C
from acc.backends.ascend.acl_api import AclError
from acc.backends.ascend.backend import op_model_dir
from acc.backends.base import OutputFormat
from acc.cli import main
from acc.kernels.ascend import nv12, singleop
from acc.models import ModelError, resolve
from acc.probe import probe
from conftest import TEST_MODEL, color_photo, encode, gradient_photo, make_model_dir, write_registry

SOC = "Ascend310"


def build_ops(model_dir: Path, soc: str = SOC) -> None:
    """The emulated `atc --singleop`: the single-op JSON for the test model's contract, where the backend looks."""
    spec = resolve(TEST_MODEL, model_dir)
    out = op_model_dir(spec, soc) / singleop.JSON_NAME
    assert singleop.main(["--soc", soc, "--model", TEST_MODEL, "--model-dir", str(model_dir), "-o", str(out)]) == 0


def exif_rotated(jpeg: bytes, orientation: int) -> bytes:
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + b"MM\x00*" + struct.pack(">I", 8) + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _inputs() -> dict[str, bytes]:
    gray, colour = gradient_photo(96, 130, seed=21), color_photo(80, 120, seed=22)
    rgba = np.dstack([color_photo(50, 66, seed=23), np.full((50, 66), 200, np.uint8)])
    return {
        "gray.jpg": encode(gray, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 95),  # JPEGD
        "colour.jpg": encode(colour, ".jpg"),  # JPEGD; L from luma on both backends
        "progressive.jpg": encode(gray, ".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, 1),  # JPEGD refuses: host
        "rotated.jpg": exif_rotated(encode(gradient_photo(48, 64, seed=24), ".jpg"), 6),  # EXIF-rotated: host
        "gray_png.png": encode(gradient_photo(64, 72, seed=25), ".png"),  # host decode
        "gray16.png": encode(gradient_photo(40, 52, seed=26).astype(np.uint16) * 257, ".png"),
        "colour_png.png": encode(color_photo(60, 90, seed=29), ".png"),  # host: L from RGB, as the cpu backend
        "alpha.png": encode(rgba, ".png"),
        "odd.jpg": encode(gradient_photo(97, 131, seed=27), ".jpg", cv2.IMWRITE_JPEG_QUALITY, 95),
        "tiny.png": encode(gradient_photo(8, 12, seed=28), ".png"),  # below VPC's minimum: host resize
    }


INPUTS = _inputs()
EVEN = ["gray.jpg", "progressive.jpg", "rotated.jpg", "gray_png.png", "gray16.png"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The inputs colorized once per (backend, format) through the CLI."""
    root = tmp_path_factory.mktemp("ascend_e2e")
    model_dir = make_model_dir(root / "models")
    build_ops(model_dir)
    src = root / "in"
    src.mkdir()
    for name, data in INPUTS.items():
        (src / name).write_bytes(data)
    results = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACC_MODEL_DIR", str(model_dir))
        for backend, extra in (("ascend", ["--emulate"]), ("cpu", [])):
            for fmt in ("png", "jpeg"):
                out = root / f"{backend}_{fmt}"
                argv = ["colorize", str(src), "-o", str(out), "--backend", backend, *extra, "--model", TEST_MODEL,
                        "--format", fmt, "--batch-size", "3", "--workers", "2", "--threads", "1"]  # fmt: skip
                results[(backend, fmt)] = (main(argv), out)
    return {"results": results, "model_dir": model_dir, "src": src}


def _read(folder: Path, name: str, fmt: str) -> np.ndarray:
    img = cv2.imread(str(folder / Path(name).with_suffix(".png" if fmt == "png" else ".jpg")), cv2.IMREAD_COLOR)
    assert img is not None, (folder, name)
    return img


def ycbcr_differences(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|dY| per pixel and max |dCb|, |dCr| per 2x2 block, on pixels (blocks) neither image clipped."""
    unclipped = np.all((a > 0) & (a < 255) & (b > 0) & (b < 255), axis=2)
    ya, yb = nv12.rgb_to_ycbcr(a[..., ::-1]), nv12.rgb_to_ycbcr(b[..., ::-1])
    dy = np.abs(ya[..., 0] - yb[..., 0])[unclipped]
    blocks = nv12.subsample(unclipped.astype(float)) == 1
    dc = np.maximum(*(np.abs(nv12.subsample(ya[..., k]) - nv12.subsample(yb[..., k])) for k in (1, 2)))
    return dy, dc[blocks]


def test_every_photo_is_colorized(runs: dict) -> None:
    for (backend, fmt), (code, out) in runs["results"].items():
        assert code == 0, (backend, fmt)
        for name in INPUTS:
            assert _read(out, name, fmt).shape[:2] == cv2.imdecode(np.frombuffer(INPUTS[name], np.uint8),
                                                                   cv2.IMREAD_COLOR).shape[:2]  # fmt: skip


@pytest.mark.parametrize("name", [*EVEN, "colour.jpg"])
def test_even_sized_photos_match_the_cpu_backend(runs: dict, name: str) -> None:
    ascend, cpu = (_read(runs["results"][(b, "png")][1], name, "png") for b in ("ascend", "cpu"))
    dy, dc = ycbcr_differences(ascend, cpu)
    assert dy.size > 0.3 * ascend.shape[0] * ascend.shape[1]
    assert dy.max() <= 1.5 and (dy <= 1).mean() >= 0.99, (dy.max(), (dy <= 1).mean())
    assert dc.max() <= 1.5 and (dc <= 1).mean() >= 0.99, (dc.max(), (dc <= 1).mean())


@pytest.mark.parametrize("name", ["colour_png.png", "alpha.png"])
def test_colour_images_decoded_on_the_host_match_the_cpu_backend(runs: dict, name: str) -> None:
    ascend, cpu = (_read(runs["results"][(b, "png")][1], name, "png") for b in ("ascend", "cpu"))
    dy, dc = ycbcr_differences(ascend, cpu)
    assert dy.max() <= 2 and (dy <= 1).mean() >= 0.9, (dy.max(), (dy <= 1).mean())
    assert dc.max() <= 2 and (dc <= 1).mean() >= 0.95, (dc.max(), (dc <= 1).mean())


def test_odd_sized_photo_is_close_where_vpc_cannot_be_exact(runs: dict) -> None:
    ascend, cpu = (_read(runs["results"][(b, "png")][1], "odd.jpg", "png") for b in ("ascend", "cpu"))
    dy, dc = ycbcr_differences(ascend, cpu)
    assert dy.max() <= 4 and (dy <= 1).mean() >= 0.95
    assert dc.max() <= 8 and (dc <= 1).mean() >= 0.85


def test_alpha_survives_png(runs: dict) -> None:
    out = runs["results"][("ascend", "png")][1] / "alpha.png"
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img.shape[2] == 4 and np.all(img[:, :, 3] == 200)


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_jpeg_outputs_match_the_cpu_backend(runs: dict, name: str) -> None:
    ascend, cpu = (_read(runs["results"][(b, "jpeg")][1], name, "jpeg").astype(int) for b in ("ascend", "cpu"))
    limit = 3.0 if name == "tiny.png" else 2.0  # 8x12: JPEG blocks are most of the picture
    assert np.abs(ascend - cpu).mean() <= limit


def test_the_emulated_backend_releases_everything(runs: dict) -> None:
    spec = resolve(TEST_MODEL, runs["model_dir"])
    backend = create_backend("ascend", spec, emulate=True)
    emulator = backend.acl.raw
    backend.close()
    assert emulator.last_leaks == [] and emulator.leaks() == []
    backend.close()  # twice is fine


def test_without_cann_the_backend_says_so_unless_emulated(runs: dict) -> None:
    spec = resolve(TEST_MODEL, runs["model_dir"])
    with pytest.raises(BackendError, match="no CANN: module acl not importable"):
        create_backend("ascend", spec)
    create_backend("cpu", spec, emulate=True).close()  # nothing to emulate: ignored, as exact_l by opencv


def test_operators_built_for_another_contract_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    make_model_dir(folder)
    sha = hashlib.sha256((folder / "linear.onnx").read_bytes()).hexdigest()
    # An input scale no checked-in model uses, and no operators built for it.
    write_registry(folder, TEST_MODEL, "linear.onnx", sha,
                   input={"name": "L", "size": [224, 224], "l_offset": 50.0, "l_scale": 0.5})  # fmt: skip
    with pytest.raises(ModelError, match=r"no LabL operator built for its contract.*build them: python -m "
                                         r"acc\.kernels\.ascend\.singleop --soc Ascend310 --model test-linear"):
        create_backend("ascend", resolve(TEST_MODEL, folder), emulate=True)


# --- every operator probed at start-up -----------------------------------------------------------------------
def ops_without(model_dir: Path, drop) -> Path:
    """The test model's operators built, less the entries `drop(entry)` picks: an incomplete build."""
    build_ops(model_dir)
    path = op_model_dir(resolve(TEST_MODEL, model_dir), SOC) / singleop.JSON_NAME
    entries = json.loads(path.read_text())
    kept = [e for e in entries if not drop(e)]
    assert 0 < len(kept) < len(entries)
    path.write_text(json.dumps(kept))
    return path


def one_width(entry: dict, op: str = "AbMergeChroma", width: int = 384) -> bool:
    return entry["op"] == op and entry["input_desc"][0]["shape"][-1] == width


def test_a_missing_render_operator_sends_the_whole_run_to_the_host_and_says_so_once(runs: dict, tmp_path: Path,
                                                                                     capsys) -> None:  # fmt: skip
    """One band width of AbMergeChroma not built: found at start-up, not at the photo that needs it; every
    photo of the run is rendered on the host (the cpu backend's render kernel), and the run says so once."""
    model_dir = make_model_dir(tmp_path / "models")
    ops_without(model_dir, one_width)
    out = tmp_path / "out"
    names = ["gray.jpg", "odd.jpg", "colour_png.png", "tiny.png"]
    argv = ["colorize", *(str(runs["src"] / n) for n in names), "-o", str(out), "--backend", "ascend", "--emulate",
            "--model", TEST_MODEL, "--model-dir", str(model_dir), "--format", "png", "--workers", "2"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "rendered on the host" in line]
    assert len(notes) == 1, err
    assert re.search(r"AbMergeChroma .*x384 .*build them: python -m acc\.kernels\.ascend\.singleop", notes[0])
    for name in names:  # the cpu backend's render kernel on the device's luma and ab: the cpu backend's pixels
        host, cpu = _read(out, name, "png"), _read(runs["results"][("cpu", "png")][1], name, "png")
        dy, dc = ycbcr_differences(host, cpu)
        if name == "odd.jpg":  # the model sees the photo less its last column (VPC takes even sizes)
            assert dy.max() <= 4 and dc.max() <= 8 and (dc <= 1).mean() >= 0.85, (name, dy.max(), dc.max())
        else:
            assert dy.max() <= 1.5 and dc.max() <= 1.5 and (dy <= 1).mean() >= 0.99, (name, dy.max(), dc.max())


def test_with_a_render_operator_missing_the_device_renders_nothing(runs: dict, tmp_path: Path, capsys) -> None:
    model_dir = make_model_dir(tmp_path / "models")
    ops_without(model_dir, lambda e: e["op"] == "TransposeD")
    backend = create_backend("ascend", resolve(TEST_MODEL, model_dir), emulate=True)
    try:
        assert "TransposeD" in backend.host_render
        launched = []
        real = backend.ops.launch
        backend.ops.launch = lambda lane, spec, *args: launched.append(spec.op) or real(lane, spec, *args)
        data = colorize_one(backend, "gray.jpg", OutputFormat("jpeg", 90))
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (96, 130)
        assert launched == ["LabL"]  # the model input's operator; none of the render's
    finally:
        backend.close()
    assert backend.acl.raw.last_leaks == []
    code = main(["doctor", "--backend", "ascend", "--emulate", "--model", TEST_MODEL, "--model-dir", str(model_dir)])
    out = capsys.readouterr().out
    assert code == 0 and re.search(r"render: on the host \(\d+ render operators not built .*TransposeD", out), out


def test_a_missing_render_operator_ends_the_start_when_the_host_cannot_render(runs: dict, tmp_path: Path,
                                                                              monkeypatch) -> None:  # fmt: skip
    from acc.backends.cpu import CPUBackend

    model_dir = make_model_dir(tmp_path / "models")
    ops_without(model_dir, lambda e: one_width(e, "ChromaToU8"))
    monkeypatch.setattr(CPUBackend, "unavailable_reason", classmethod(lambda cls: "no thread-safe numba layer"))
    with pytest.raises(ModelError, match=r"render operators not built .*ChromaToU8 .*x384.*host cannot render "
                                         r"\(no thread-safe numba layer\); build them"):
        create_backend("ascend", resolve(TEST_MODEL, model_dir), emulate=True)


def test_every_operator_the_backend_calls_is_probed_at_start_up(runs: dict) -> None:
    """Every shape of every stage has its handle once the backend has started (singleop.stage_ops)."""
    spec = resolve(TEST_MODEL, runs["model_dir"])
    backend = create_backend("ascend", spec, emulate=True)
    try:
        wanted = [op for ops in singleop.stage_ops(backend.contract, SOC).values() for op in ops]
        assert backend.host_render is None and len(wanted) > 900
        assert set(backend.ops._handles) == set(wanted)
    finally:
        backend.close()


def test_emulate_is_a_config_key(runs: dict, tmp_path: Path, capsys) -> None:
    (tmp_path / "acc.yaml").write_text("backend: ascend\nemulate: true\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACC_MODEL_DIR", str(runs["model_dir"]))
        code = main(["colorize", str(runs["src"] / "gray.jpg"), "-o", str(tmp_path / "out"), "--config",
                     str(tmp_path / "acc.yaml"), "--model", TEST_MODEL])  # fmt: skip
    assert code == 0 and (tmp_path / "out" / "gray.jpg").is_file()
    assert re.match(r"1 colorized", capsys.readouterr().out)


def test_doctor_says_emulated_or_why_not(runs: dict, capsys) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACC_MODEL_DIR", str(runs["model_dir"]))
        code = main(["doctor", "--backend", "ascend", "--emulate", "--model", TEST_MODEL])
        out = capsys.readouterr().out
        assert code == 0 and re.search(r"^  ascend\s+ok \(emulated\) selected$", out, re.M), out
        assert "mode: emulated (the acl emulator as Ascend310" in out
        assert "hardware: never run on an Ascend device: tested against the emulator only" in out
        assert re.search(rf"operators: single-op JSON in .*{TEST_MODEL}_Ascend310_ops", out)
        code = main(["doctor", "--backend", "ascend", "--model", TEST_MODEL])
        out = capsys.readouterr().out
        assert code == 1 and "mode: not available (no CANN: module acl not importable)" in out
        assert "hardware: never run on an Ascend device" in out



def test_default_model_runs_emulated_with_the_checked_in_operators(tmp_path: Path) -> None:
    """`acc colorize --backend ascend --emulate` on the bundled default model, as the README promises:
    the operators in kernels/ascend/op_json must cover its contract."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "gray.jpg").write_bytes(INPUTS["gray.jpg"])
    argv = ["colorize", str(src), "-o", str(tmp_path / "out"), "--backend", "ascend", "--emulate",
            "--model-dir", str(tmp_path / "no-user-models")]  # fmt: skip
    assert main(argv) == 0
    assert cv2.imread(str(tmp_path / "out" / "gray.jpg")).shape[:2] == cv2.imdecode(
        np.frombuffer(INPUTS["gray.jpg"], np.uint8), cv2.IMREAD_COLOR).shape[:2]  # fmt: skip


# --- device-side failures, other chips and run modes -------------------------------------------------------
def colorize_one(backend, name: str, fmt: OutputFormat) -> bytes:
    data = INPUTS[name]
    frame = backend.decode(data, probe(data))
    try:
        x = backend.model_input(frame)
        (ab,) = backend.infer([x])
        return backend.render(frame, ab, fmt)
    finally:
        backend.release(frame)


@pytest.mark.parametrize("step", ["JPEGD", "VPC resize", "JPEGE"])
def test_a_failure_the_device_reports_sends_that_photo_to_the_host(runs: dict, step: str) -> None:
    """The same photo with and without a JPEGD / VPC / JPEGE failure at synchronize: the host takes over that
    step, and the output is the same bytes (the host's decode, resize and encode are what the emulator runs)."""
    spec = resolve(TEST_MODEL, runs["model_dir"])
    backend = create_backend("ascend", spec, emulate=True)
    try:
        fmt = OutputFormat("jpeg", 90)
        clean = colorize_one(backend, "gray.jpg", fmt)
        backend.acl.raw.fail_next(step)
        assert colorize_one(backend, "gray.jpg", fmt) == clean
        assert backend.device_fallbacks == {step.split()[0]: 1}
        assert colorize_one(backend, "gray.jpg", fmt) == clean  # and the next photo is the device's again
        assert sum(backend.device_fallbacks.values()) == 1
    finally:
        backend.close()


def test_a_failure_at_the_call_is_not_taken_over(runs: dict, monkeypatch) -> None:
    """A non-zero code from the call itself is a bug, not the photo's: it is raised, not hidden."""
    spec = resolve(TEST_MODEL, runs["model_dir"])
    backend = create_backend("ascend", spec, emulate=True)
    try:
        monkeypatch.setattr(backend.acl.raw.media, "dvpp_jpeg_decode_async", lambda *args: C.ACL_ERROR_INVALID_PARAM)
        with pytest.raises(AclError, match="dvpp_jpeg_decode_async failed"):
            backend.decode(INPUTS["gray.jpg"], probe(INPUTS["gray.jpg"]))
        assert not backend.device_fallbacks
    finally:
        backend.close()


def test_device_side_failures_do_not_fail_the_run(runs: dict, tmp_path: Path, monkeypatch) -> None:
    """Through the CLI: one JPEGD, one VPC and one JPEGE failure in a run of four photos; all four are written."""
    from acc.backends.ascend import emulator

    made = []

    class FailingOnce(emulator.Emulator):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            for step in ("JPEGD", "VPC resize", "JPEGE"):
                self.fail_next(step)
            made.append(self)

    monkeypatch.setattr(emulator, "Emulator", FailingOnce)
    monkeypatch.setenv("ACC_MODEL_DIR", str(runs["model_dir"]))
    src = tmp_path / "in"
    src.mkdir()
    names = ["gray.jpg", "colour.jpg", "odd.jpg", "gray_png.png"]
    for name in names:
        (src / name).write_bytes(INPUTS[name])
    out = tmp_path / "out"
    argv = ["colorize", str(src), "-o", str(out), "--backend", "ascend", "--emulate", "--model", TEST_MODEL,
            "--workers", "1", "--batch-size", "1"]  # fmt: skip
    assert main(argv) == 0
    assert len(made) == 1 and all(codes == [] for codes in made[0].dev.faults.values())  # all three happened
    for name in names:
        ours = _read(out, name, "jpeg").astype(int)
        assert np.abs(ours - _read(runs["results"][("ascend", "jpeg")][1], name, "jpeg")).mean() <= 0.5, name


@pytest.fixture(scope="module")
def runs_310p(runs: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same inputs through the emulated 310P (PNG)."""
    build_ops(runs["model_dir"], "Ascend310P3")
    out = tmp_path_factory.mktemp("ascend_310p") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACC_MODEL_DIR", str(runs["model_dir"]))
        mp.setenv("ACC_ASCEND_SOC", "Ascend310P3")
        argv = ["colorize", str(runs["src"]), "-o", str(out), "--backend", "ascend", "--emulate", "--model",
                TEST_MODEL, "--format", "png", "--workers", "2", "--threads", "1"]  # fmt: skip
        assert main(argv) == 0
    return out


@pytest.mark.parametrize("name", ["gray.jpg", "odd.jpg", "progressive.jpg"])
def test_the_310p_matches_the_310(runs: dict, runs_310p: Path, name: str) -> None:
    """On the 310P JPEGD drops an odd photo's last column/row, so odd.jpg is decoded on the host; the rest
    goes through JPEGD with 64-aligned strides. Same operators, same maths, but the 310's divider and float16
    exp/log are approximate: Y' and the 2x2 chroma at most 1 level apart, nearly all equal."""
    ours, theirs = _read(runs_310p, name, "png"), _read(runs["results"][("ascend", "png")][1], name, "png")
    assert ours.shape == theirs.shape
    dy, dc = ycbcr_differences(ours, theirs)
    assert dy.max() <= 1.5 and dc.max() <= 1.5 and (dy <= 0.5).mean() >= 0.99, (dy.max(), dc.max())


def test_the_application_on_the_device_loads_the_model_from_device_memory(runs: dict, tmp_path: Path) -> None:
    """ACL_DEVICE (an Atlas 200 DK): load_from_mem takes device memory there, copies are DEVICE_TO_DEVICE."""
    out = tmp_path / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACC_MODEL_DIR", str(runs["model_dir"]))
        mp.setenv("ACC_ASCEND_RUN_MODE", "device")
        argv = ["colorize", str(runs["src"] / "gray.jpg"), str(runs["src"] / "gray_png.png"), "-o", str(out),
                "--backend", "ascend", "--emulate", "--model", TEST_MODEL, "--format", "png"]  # fmt: skip
        assert main(argv) == 0
        backend = create_backend("ascend", resolve(TEST_MODEL, runs["model_dir"]), emulate=True)
        assert backend.runtime.run_mode == C.ACL_DEVICE
        backend.close()
    for name in ("gray.jpg", "gray_png.png"):
        assert np.array_equal(_read(out, name, "png"), _read(runs["results"][("ascend", "png")][1], name, "png"))
