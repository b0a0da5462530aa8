"""int8 models: `acc models quantize` (acc/quantize.py), the bundled acc-tiny-int8, and which model runs by default.

The quantized model here is a small acc-tiny-shaped network with random weights, made by the test; the
calibration photos are the repository's examples/ (and, once, the bundled calibration set). Nothing is
timed: speed is measured by `acc bench` and tools/onnx_speed.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml

import acc.models
from acc import netspec
from acc.backends import BackendError, create_backend
from acc.cli import main
from acc.inference import OrtColorizer
from acc.models import file_status, resolve
from acc.networks import acc_tiny, annealed_mean
from acc.quantize import Recipe, calibration_inputs, pick_photos
from conftest import write_registry

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture
def small_dir(tmp_path: Path) -> Path:
    """A user model folder holding 'small': acc-tiny's layers, few channels, random weights, 16 colour bins."""
    folder = tmp_path / "models"
    folder.mkdir()
    net = annealed_mean(acc_tiny(16, w1=8, w2=8, w3=16, wd=8), 16, temperature=1.0)
    weights = netspec.random_weights(net, seed=3)
    weights["decode.weight"] = np.random.default_rng(4).uniform(-60, 60, (2, 16, 1, 1)).astype(np.float32)
    netspec.save_onnx(net, weights, folder / "small.onnx", (224, 224))
    sha = hashlib.sha256((folder / "small.onnx").read_bytes()).hexdigest()
    write_registry(folder, "small", "small.onnx", sha)
    return folder


def quantize(capsys, small_dir: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["models", "quantize", "small", "--model-dir", str(small_dir), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def registry(folder: Path) -> dict:
    return yaml.safe_load((folder / "registry.yaml").read_text())["models"]


def test_quantize_installs_a_checked_int8_variant(small_dir: Path, capsys) -> None:
    code, out, err = quantize(capsys, small_dir, "--calibration", str(EXAMPLES), "--photos", "4")
    assert code == 0, err
    assert "installed small-int8" in out and "calibrated on 4 photos" in out
    entry = registry(small_dir)["small-int8"]
    float_sha = registry(small_dir)["small"]["sha256"]
    assert entry["precision"] == "int8" and entry["quantized"]["from"] == "small"
    assert entry["quantized"]["from_sha256"] == float_sha and entry["quantized"]["photos_used"] == 4
    assert entry["input"] == registry(small_dir)["small"]["input"]  # the float model's contract
    spec = resolve("small-int8", small_dir)
    assert hashlib.sha256(spec.path.read_bytes()).hexdigest() == entry["sha256"] == spec.sha256
    assert file_status(spec) == "verified" and spec.precision == "int8" and spec.quantized_from == "small"
    graph = onnx.load(str(spec.path)).graph
    ops = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    assert any(t.data_type == onnx.TensorProto.INT8 for t in graph.initializer)  # int8 weights
    # close to the float model on its calibration inputs: within a few percent of the ab it predicts
    inputs = calibration_inputs(resolve("small", small_dir), [str(EXAMPLES)], Recipe(photos=4)).inputs
    ab_float = OrtColorizer(resolve("small", small_dir))(inputs)
    ab_int8 = OrtColorizer(spec)(inputs)
    assert np.abs(ab_int8 - ab_float).mean() < 0.05 * np.abs(ab_float).mean()


def test_the_int8_variant_runs_on_host_backends_and_device_backends_refuse_it(small_dir: Path, tmp_path: Path,
                                                                              capsys) -> None:  # fmt: skip
    assert quantize(capsys, small_dir, "--calibration", str(EXAMPLES), "--photos", "2")[0] == 0
    for backend in ("cpu", "opencv"):
        code = main(["colorize", str(EXAMPLES / "EasterNyc1911.jpg"), "-o", str(tmp_path / backend),
                     "--model-dir", str(small_dir), "--model", "small-int8", "--backend", backend])  # fmt: skip
        assert code == 0, capsys.readouterr().err
        assert (tmp_path / backend / "EasterNyc1911.jpg").read_bytes()[:2] == b"\xff\xd8"
    with pytest.raises(BackendError, match="runs float models, and model 'small-int8' is int8: use small"):
        create_backend("cuda", resolve("small-int8", small_dir))


def test_quantizing_again_replaces_the_variant_and_taken_names_are_refused(small_dir: Path, capsys) -> None:
    assert quantize(capsys, small_dir, "--calibration", str(EXAMPLES), "--photos", "2")[0] == 0
    first = registry(small_dir)["small-int8"]["file"]
    code, _, err = quantize(capsys, small_dir, "--calibration", str(EXAMPLES), "--photos", "3")
    assert code == 0, err
    entry = registry(small_dir)["small-int8"]
    assert entry["quantized"]["photos_used"] == 3 and entry["file"] != first
    assert not (small_dir / first).exists()  # the replaced file is gone, the new one verifies
    assert file_status(resolve("small-int8", small_dir)) == "verified"
    code, _, err = quantize(capsys, small_dir, "--calibration", str(EXAMPLES), "--name", "small")
    assert code == 2 and "'small' is a model in" in err and "--name" in err
    code = main(["models", "quantize", "small-int8", "--model-dir", str(small_dir)])
    assert code == 2 and "is int8 already" in capsys.readouterr().err
    code, _, err = quantize(capsys, small_dir, "--calibration", str(EXAMPLES), "--keep-float", "NoSuchOp")
    assert code == 2 and "keep_float names no node or op type of small: NoSuchOp" in err


def test_keep_float_leaves_those_nodes_unquantized(small_dir: Path, capsys) -> None:
    counts = {}
    for name, keep in (("all", ""), ("decode-float", "Softmax,decode")):
        code, _, err = quantize(capsys, small_dir, "--calibration", str(EXAMPLES), "--photos", "2", "--name", name,
                                "--keep-float", keep)  # fmt: skip
        assert code == 0, err
        nodes = onnx.load(str(resolve(name, small_dir).path)).graph.node
        counts[name] = sum(n.op_type == "QuantizeLinear" for n in nodes)
        if keep:
            producers = {o: n.op_type for n in nodes for o in n.output}
            decode = next(n for n in nodes if n.name == "decode")
            assert producers[decode.input[0]] == "Softmax"  # the softmax's float output, no Q/DQ between
            assert registry(small_dir)[name]["quantized"]["keep_float"] == ["Softmax", "decode"]
    assert counts["decode-float"] < counts["all"]


def test_without_photos_the_bundled_calibration_set_is_used(small_dir: Path, capsys) -> None:
    bundled = sorted(p.name for p in (ROOT / "models" / "calibration").glob("*.jpg"))
    assert len(bundled) == 15
    code, out, err = quantize(capsys, small_dir)
    assert code == 0, err
    assert "calibrated on 15 photos" in out
    assert registry(small_dir)["small-int8"]["quantized"]["calibration"] == ["the bundled calibration set"]


def test_photos_are_picked_by_a_seeded_shuffle() -> None:
    first, problems = pick_photos([str(EXAMPLES)], 3, seed=0)
    again, _ = pick_photos([str(EXAMPLES)], 3, seed=0)
    other, _ = pick_photos([str(EXAMPLES)], 5, seed=1)
    assert [p.path for p in first] == [p.path for p in again] and problems == []
    assert len(first) == 3 and len(other) == 5 and {p.path for p in first} <= {p.path for p in other}
    _, problems = pick_photos([str(EXAMPLES / "missing")], 3, seed=0)
    assert problems and "missing" in problems[0]


# --- the bundled int8 model and the default -------------------------------------------------------------


def test_the_bundled_int8_model_is_acc_tiny_quantized() -> None:
    spec, original = resolve("acc-tiny-int8"), resolve("acc-tiny")
    assert file_status(spec) == "verified" and spec.precision == "int8" and spec.quantized_from == "acc-tiny"
    doc = yaml.safe_load((ROOT / "models" / "registry.yaml").read_text())
    assert doc["models"]["acc-tiny-int8"]["quantized"]["from_sha256"] == original.sha256
    assert (spec.input_size, spec.output_size, spec.l_offset) == (original.input_size, original.output_size,
                                                                   original.l_offset)  # fmt: skip
    inputs = calibration_inputs(original, [str(EXAMPLES)], Recipe(photos=5)).inputs
    diff = np.abs(OrtColorizer(spec)(inputs) - OrtColorizer(original)(inputs))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) < 5.0  # Lab units; the card has the quality numbers


@pytest.mark.parametrize("vnni", [True, False])
def test_the_cpu_backend_runs_int8_by_default_only_where_the_cpu_has_vnni(monkeypatch, vnni: bool) -> None:
    monkeypatch.setattr(acc.models, "has_vnni", lambda: vnni)
    assert resolve(None, backend="cpu").name == ("acc-tiny-int8" if vnni else "acc-tiny")
    for backend in ("opencv", "cuda", "ascend", None):  # the baseline keeps the seed's float model
        assert resolve(None, backend=backend).name == "acc-tiny"
    assert resolve("acc-tiny", backend="cpu").name == "acc-tiny"  # float is one flag away


def test_eval_compares_two_models(small_dir: Path, tmp_path: Path, capsys) -> None:
    assert quantize(capsys, small_dir, "--calibration", str(EXAMPLES), "--photos", "2")[0] == 0
    from conftest import color_photo, encode

    photos = tmp_path / "colour"
    photos.mkdir()
    for i in range(2):
        (photos / f"c{i}.png").write_bytes(encode(color_photo(80, 120, seed=i), ".png"))
    code = main(["eval", str(photos), "-o", str(tmp_path / "eval"), "--model-dir", str(small_dir),
                 "--model", "small,small-int8", "--sheet-rows", "0"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "small on cpu" in out and "small-int8 on cpu" in out
    assert "small-int8 against small: PSNR " in out and "(2 photos)" in out
    assert (tmp_path / "eval" / "small" / "eval.json").is_file()
    assert (tmp_path / "eval" / "small-int8" / "eval.json").is_file()
