"""The model registry: loading, checksums before every load, the declared contract against the graph,
and the rule that a user registry never shadows a bundled model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

import acc.models
from acc.backends.opencv import LabFrame, OpenCVBackend
from acc.inference import OrtColorizer
from acc.models import ModelError, default_model_dir, load_registry, read_verified, resolve
from conftest import A_BIAS, A_GAIN, B_BIAS, B_GAIN, TEST_MODEL, build_linear_model, write_registry


def build_model(path: Path, batch: int | str = "N", in_name: str = "L", out_name: str = "ab", size: int = 224) -> None:
    """Like conftest's linear model, with the batch size, tensor names and input size to choose."""
    k = size // 56
    weight = numpy_helper.from_array(np.array([A_GAIN, B_GAIN], np.float32).reshape(2, 1, 1, 1), "w")
    bias = numpy_helper.from_array(np.array([A_BIAS, B_BIAS], np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("AveragePool", [in_name], ["pooled"], kernel_shape=[k, k], strides=[k, k]),
            helper.make_node("Conv", ["pooled", "w", "b"], [out_name]),
        ],
        "variant",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, [batch, 1, size, size])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [batch, 2, 56, 56])],
        [weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def register(folder: Path, models: dict[str, dict], **top) -> None:
    """A registry.yaml in `folder` with `models`, each entry completed with the test model's contract."""
    full = {}
    for name, entry in models.items():
        base = {
            "description": f"{name} for tests",
            "input": {"name": "L", "size": [224, 224], "l_offset": 50.0, "l_scale": 1.0},
            "output": {"name": "ab", "size": [56, 56], "ab_scale": 1.0},
        }
        base.update(entry)
        full[name] = base
    (folder / "registry.yaml").write_text(yaml.safe_dump({**top, "models": full}))


@pytest.fixture
def bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bundled model folder of our own (the shipped one is not the tests' business), with one model."""
    folder = tmp_path / "bundled"
    folder.mkdir()
    build_linear_model(folder / "shipped.onnx")
    register(folder, {"shipped": {"file": "shipped.onnx", "sha256": sha(folder / "shipped.onnx")}}, default="shipped")
    monkeypatch.setattr(acc.models, "bundled_dir", lambda: folder)
    return folder


# --- loading -------------------------------------------------------------------------------------------


def test_registry_loads_bundled_and_user_models(bundled: Path, model_dir: Path) -> None:
    default, specs = load_registry(model_dir)
    assert default == "shipped"
    assert set(specs) == {"shipped", TEST_MODEL}
    shipped, user = specs["shipped"], specs[TEST_MODEL]
    assert shipped.bundled and shipped.path == bundled / "shipped.onnx"
    assert not user.bundled and user.path == model_dir / "linear.onnx"
    assert user.sha256 == sha(model_dir / "linear.onnx")
    assert (user.input_name, user.input_size, user.l_offset, user.l_scale) == ("L", (224, 224), 50.0, 1.0)
    assert (user.output_name, user.output_size, user.ab_scale) == ("ab", (56, 56), 1.0)
    assert resolve(None, model_dir).name == "shipped"  # the registry's default
    assert resolve(TEST_MODEL, model_dir) == user


def test_unknown_model_names_the_known_ones(bundled: Path, model_dir: Path) -> None:
    with pytest.raises(ModelError, match=r"unknown model 'nope' \(known: shipped, test-linear; see `acc models list`\)"):
        resolve("nope", model_dir)


def test_user_model_folder_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ACC_MODEL_DIR", str(tmp_path / "mine"))
    assert default_model_dir() == tmp_path / "mine"
    monkeypatch.delenv("ACC_MODEL_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_model_dir() == tmp_path / "data" / "acc" / "models"


def test_env_model_dir_is_used_when_no_folder_is_given(bundled: Path, model_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("ACC_MODEL_DIR", str(model_dir))
    assert resolve(TEST_MODEL).path == model_dir / "linear.onnx"


def test_user_registry_cannot_shadow_a_bundled_model(bundled: Path, tmp_path: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    build_linear_model(user / "evil.onnx")
    register(user, {"shipped": {"file": "evil.onnx", "sha256": sha(user / "evil.onnx")}})
    with pytest.raises(ModelError, match="model 'shipped' would shadow the bundled model of that name"):
        load_registry(user)
    with pytest.raises(ModelError, match="shadow"):
        resolve("shipped", user)


@pytest.mark.parametrize(
    "entry,message",
    [
        ({"file": "linear.onnx"}, "missing or malformed field 'sha256'"),
        ({"sha256": "0" * 64}, "missing or malformed field 'file'"),
        ({"file": "linear.onnx", "sha256": "0" * 64, "input": {"size": [224, 224]}}, "missing or malformed field 'name'"),
        ({"file": "linear.onnx", "sha256": "0" * 64, "input": {"name": "L", "size": [224]}}, "size must be [height, width]"),
        ({"file": "linear.onnx", "sha256": "0" * 64, "output": {"name": "ab", "size": [56, -56]}}, "size must be [height, width]"),
    ],
)
def test_malformed_registry_entries(bundled: Path, tmp_path: Path, entry: dict, message: str) -> None:
    user = tmp_path / "user"
    user.mkdir()
    register(user, {"broken": entry})
    with pytest.raises(ModelError) as err:
        load_registry(user)
    assert "model 'broken'" in str(err.value) and message in str(err.value)


@pytest.mark.parametrize("text", ["models: [a, b]\n", "models: {a: 1\n", "- just\n- a list\n"])
def test_malformed_registry_files(bundled: Path, tmp_path: Path, text: str) -> None:
    user = tmp_path / "user"
    user.mkdir()
    (user / "registry.yaml").write_text(text)
    with pytest.raises(ModelError, match=str(user / "registry.yaml")):
        load_registry(user)


# --- checksums -----------------------------------------------------------------------------------------


def test_verified_load(test_spec) -> None:
    assert read_verified(test_spec) == test_spec.path.read_bytes()
    OrtColorizer(test_spec)


def test_checksum_mismatch_in_registry_refuses_to_load(model_dir: Path) -> None:
    write_registry(model_dir, TEST_MODEL, "linear.onnx", "ab" * 32)
    spec = resolve(TEST_MODEL, model_dir)
    with pytest.raises(ModelError) as err:
        OrtColorizer(spec)
    text = str(err.value)
    assert f"model '{TEST_MODEL}': checksum mismatch for {spec.path}" in text
    assert f"expected {'ab' * 32}" in text and "reinstall" in text


def test_replaced_model_file_refuses_to_load(test_spec) -> None:
    data = test_spec.path.read_bytes()
    test_spec.path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit flipped
    with pytest.raises(ModelError, match="checksum mismatch"):
        OrtColorizer(test_spec)
    with pytest.raises(ModelError, match="checksum mismatch"):
        OpenCVBackend(test_spec)


def test_missing_model_file(test_spec) -> None:
    test_spec.path.unlink()
    with pytest.raises(ModelError, match=f"model '{TEST_MODEL}': cannot read {test_spec.path}"):
        OrtColorizer(test_spec)


def test_garbage_with_a_matching_checksum_is_refused_by_onnx_runtime(model_dir: Path) -> None:
    (model_dir / "junk.onnx").write_bytes(b"not an onnx model at all")
    write_registry(model_dir, TEST_MODEL, "junk.onnx", sha(model_dir / "junk.onnx"))
    with pytest.raises(ModelError, match="ONNX Runtime cannot load"):
        OrtColorizer(resolve(TEST_MODEL, model_dir))


# --- the contract --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build,contract,message",
    [
        ({"in_name": "gray"}, {}, "expected one input named 'L'"),
        ({"out_name": "colour"}, {}, "no output named 'ab'"),
        ({"size": 256}, {}, "does not match the declared N x 1 x (224, 224)"),
        ({}, {"input": {"name": "L", "size": [256, 256]}}, "does not match the declared N x 1 x (256, 256)"),
    ],
    ids=["input-name", "output-name", "graph-size", "declared-size"],
)
def test_graph_not_matching_the_contract_is_refused(model_dir: Path, build: dict, contract: dict, message: str) -> None:
    build_model(model_dir / "variant.onnx", **build)
    register(model_dir, {"variant": {"file": "variant.onnx", "sha256": sha(model_dir / "variant.onnx"), **contract}})
    with pytest.raises(ModelError) as err:
        OrtColorizer(resolve("variant", model_dir))
    assert "model 'variant'" in str(err.value) and message in str(err.value)


def test_declared_output_size_is_checked_at_inference(model_dir: Path) -> None:
    register(model_dir, {"variant": {"file": "linear.onnx", "sha256": sha(model_dir / "linear.onnx"),
                                     "output": {"name": "ab", "size": [64, 64]}}})  # fmt: skip
    colorizer = OrtColorizer(resolve("variant", model_dir))
    with pytest.raises(ModelError, match=r"output shape \(1, 2, 56, 56\), declared \(1, 2, 64, 64\)"):
        colorizer(np.zeros((1, 224, 224), np.float32))


def test_fixed_batch_model_runs_any_batch(model_dir: Path) -> None:
    build_model(model_dir / "one.onnx", batch=1)
    register(model_dir, {"one": {"file": "one.onnx", "sha256": sha(model_dir / "one.onnx")}})
    colorizer = OrtColorizer(resolve("one", model_dir))
    x = np.random.default_rng(0).uniform(-50, 50, (3, 224, 224)).astype(np.float32)
    y = colorizer(x)
    assert y.shape == (3, 2, 56, 56)
    np.testing.assert_allclose(y[1], colorizer(x[1:2])[0])


def test_declared_transforms_are_applied(model_dir: Path) -> None:
    """model input = (L - l_offset) * l_scale; ab = output * ab_scale: from the registry, in any backend."""
    file = {"file": "linear.onnx", "sha256": sha(model_dir / "linear.onnx")}
    register(model_dir, {
        "plain": file,
        "scaled": {**file, "input": {"name": "L", "size": [224, 224], "l_offset": 40.0, "l_scale": 0.5},
                   "output": {"name": "ab", "size": [56, 56], "ab_scale": 2.0}},
    })  # fmt: skip
    lab = np.zeros((30, 40, 3), np.float32)
    lab[:, :, 0] = np.linspace(0, 100, 40, dtype=np.float32)[None, :]
    frame = LabFrame(lab, None)
    with OpenCVBackend(resolve("plain", model_dir)) as plain, OpenCVBackend(resolve("scaled", model_dir)) as scaled:
        x_plain, x_scaled = plain.model_input(frame), scaled.model_input(frame)
        np.testing.assert_allclose(x_scaled, (x_plain + 50 - 40) * 0.5, atol=1e-5)
        [y_plain] = plain.infer([x_scaled])
        [y_scaled] = scaled.infer([x_scaled])
        np.testing.assert_allclose(y_scaled, 2 * y_plain, rtol=1e-6)
