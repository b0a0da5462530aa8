"""The embedded default model acc-tiny (issue 3, parts 2 and 6).

* the ONNX export (made from the network's description, acc/networks.py) computes what the PyTorch
  network (tools/colorizer_net.py, made from the same description) and its decode compute;
* the shipped models/acc_tiny.onnx matches its registry entry (checksum, names, shapes) and runs.
No test reads data from outside the repository (a user's checkout has none).
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
import onnxruntime as ort
import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import colorizer_net as cn  # noqa: E402
import reference_nets  # noqa: E402

MODELS = ROOT / "models"
EXPORT_TOL = 2e-3  # max |ab_onnx - ab_torch| in Lab units (ab spans about -110..110)


@pytest.fixture(scope="module")
def centres() -> np.ndarray:
    return cn.gamut_bins()


@pytest.fixture(scope="module")
def registry_entry() -> dict:
    reg = yaml.safe_load((MODELS / "registry.yaml").read_text())
    assert reg["default"] == "acc-tiny"
    return reg["models"]["acc-tiny"]


def test_gamut_bins(centres):
    assert centres.shape == (262, 2) and centres.dtype == np.float32
    assert np.all(centres % 10 == 0)
    assert [0.0, 0.0] in centres.tolist()
    # sorted by a, then b, and distinct
    keys = centres[:, 0] * 1000 + centres[:, 1]
    assert np.all(np.diff(keys) > 0)


# What the exported graph of an acc network may contain: the ops a declarative description can express.
VOCABULARY = {"Conv", "ConvTranspose", "BatchNormalization", "Relu", "LeakyRelu", "Tanh", "Softmax", "Add",
              "Concat", "Resize", "Slice", "Mul", "Identity", "Constant"}
MAC_BUDGET = 1.5e9  # at most 3 GFLOPs = 1.5 GMACs at 224 x 224 (issues 3 and 15)
HAND_WRITTEN = {"tiny1": reference_nets.TinyColorNet, "tiny2": reference_nets.ColorNet2}


def graph_macs(model: onnx.ModelProto) -> tuple[int, dict[str, int]]:
    """Multiply-accumulates per photo of the Conv nodes of an ONNX graph (an onnx.ModelProto with a static
    input size; the batch axis not counted), from the graph alone -- shape inference gives each Conv's
    output, its weight (Cout x Cin/groups x kh x kw) the work per output value -- and {op_type: count} of
    every node, for checking the op vocabulary. Independent of the description's own count."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
    weights = {t.name: numpy_helper.to_array(t).shape for t in model.graph.initializer}
    total, ops = 0, {}
    for node in model.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
        if node.op_type == "Conv":
            out = shapes[node.output[0]][1:]
            if not out or 0 in out:
                raise ValueError(f"no static output shape for {node.name}")
            total += int(np.prod(out)) * int(np.prod(weights[node.input[1]][1:]))
    return total, ops


def randomized_bn(net: torch.nn.Module) -> torch.nn.Module:
    """Give BN non-trivial running statistics (seeded) so the eval-mode folding is exercised."""
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return net


@pytest.fixture(scope="module", params=["tiny1", "tiny2"])
def exported(request, tmp_path_factory, centres):
    """(arch, network, export model, ONNX path): seeded random weights, random BN statistics and a
    non-trivial decode, exported as the training tool exports."""
    torch.set_num_threads(2)
    net = randomized_bn(cn.build_net(len(centres), seed=0, arch=request.param))
    log_bias = np.random.default_rng(2).normal(0, 0.5, len(centres))  # as -alpha * log(rebalancing w)
    wrap = cn.AnnealedMeanColorizer(net, centres, 0.38, chroma=1.1, log_bias=log_bias).eval()
    path = tmp_path_factory.mktemp(request.param) / "tiny.onnx"
    cn.export_onnx(wrap, str(path))
    return request.param, net, wrap, log_bias, path


def test_onnx_export_matches_torch(exported, centres):
    arch, net, wrap, log_bias, path = exported
    rng = np.random.default_rng(0)
    x = (rng.uniform(0, 100, (2, 1, 224, 224)) - 50).astype(np.float32)
    with torch.no_grad():
        ref = wrap(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(["ab"], {"L": x})[0]
    assert got.shape == ref.shape == (2, 2, 56, 56)
    diff = np.abs(got - ref).max()
    print(f"{arch}: max |onnx - torch| = {diff:.2e} ab units")
    assert diff < EXPORT_TOL
    # ... and what the hand-written network it was trained as, with its decode, computes
    hand = HAND_WRITTEN[arch](len(centres)).eval()
    hand.load_state_dict(net.state_dict())
    centres_t = torch.from_numpy(centres * 1.1)
    with torch.no_grad():
        want = reference_nets.annealed_mean(hand(torch.from_numpy(x)), centres_t, 0.38, torch.from_numpy(log_bias).float())
    assert np.abs(want.numpy() - ref).max() < 1e-4
    # the decode is an annealed mean of the bin centres: inside their bounding box
    a = got[:, 0] / 1.1
    assert a.min() >= centres[:, 0].min() - 1e-3 and a.max() <= centres[:, 0].max() + 1e-3


def test_graph_budget_and_vocabulary(exported):
    """Compute counted from the exported graph alone (shape inference and weight shapes) equals the
    description's count and is within the budget; only ops a network description can express."""
    arch, _, wrap, _, path = exported
    macs, ops = graph_macs(onnx.load(str(path)))
    assert macs == cn.count_macs(wrap, 224)
    assert macs <= MAC_BUDGET
    assert set(ops) <= VOCABULARY, set(ops) - VOCABULARY
    assert ops["Softmax"] == 1 and ops["Resize"] == {"tiny1": 1, "tiny2": 3}[arch]


def test_tiny2_is_fully_convolutional_at_multiples_of_32(centres):
    """Logits at 1/4 of any input whose sides are multiples of 32 (the training crops), one per bin."""
    net = cn.build_net(len(centres), seed=0, arch="tiny2").eval()
    with torch.no_grad():
        for h, w in [(64, 96), (128, 128), (224, 224)]:
            assert net(torch.zeros(1, 1, h, w)).shape == (1, len(centres), h // 4, w // 4)


def test_batches_are_seeded_and_mix_large_and_small_photos():
    """The training batches (the recipe's reproducibility rests on them): the same seed gives the same
    crops; each batch takes its `large_frac` share from the large photos, the rest from the small sets
    (photos of three sizes here, told apart by their L), all at the crop size."""
    import train_data as td

    rng = np.random.default_rng(0)

    def photos(n: int, side: int, light: float) -> np.ndarray:
        lab = rng.uniform(-40, 40, (n, side, side, 3))
        lab[..., 0] = light
        return lab.astype(np.float16)

    cache = {"large": photos(3, 256, 90.0), "small:a": photos(5, 64, 20.0), "small:b": photos(2, 96, 30.0)}
    first = [td.CropSampler(cache, crop=64, batch=8, seed=7, large_frac=0.25).next() for _ in range(2)]
    sampler = td.CropSampler(cache, crop=64, batch=8, seed=7, large_frac=0.25)
    again = [sampler.next(), sampler.next()]
    assert torch.equal(first[0], again[0]) and not torch.equal(again[0], again[1])
    for batch in again:
        assert batch.shape == (8, 3, 64, 64) and batch.dtype == torch.float32
        light = batch[:, 0].mean(dim=(1, 2)).numpy()
        assert np.allclose(light[:2], 90.0, atol=0.1)
        assert np.all(np.isclose(light[2:], 20.0, atol=0.1) | np.isclose(light[2:], 30.0, atol=0.1))
        assert batch[:, 1:].abs().max() <= 40.0 + 1e-3  # resampling never overshoots the photos' ab


def test_crops_of_twice_the_crop_size_are_area_averages():
    """The resampling's geometry: a square of twice the crop's side (here the whole photo) comes out as
    the exact 2 x 2 box average of the photo, mirrored or not -- every offset, scale and flip of the
    sampling grid is right to the pixel."""
    import train_data as td

    photo = np.random.default_rng(1).uniform(-50, 50, (4, 128, 128, 3)).astype(np.float16)
    sampler = td.CropSampler({"large": photo}, crop=64, batch=16, seed=0, large_frac=1.0)
    sampler.smin = [128]  # squares of the whole side: s = 128, at offset 0
    got = sampler.next().numpy()
    boxes = photo.astype(np.float32).reshape(4, 64, 2, 64, 2, 3).mean(axis=(2, 4)).transpose(0, 3, 1, 2)
    for crop in got:
        err = [np.abs(crop - b).max() for b in boxes] + [np.abs(crop - b[:, :, ::-1]).max() for b in boxes]
        assert min(err) < 1e-3, min(err)
    assert len({round(float(c.sum()), 1) for c in got}) > 2  # several photos and flips drawn


def test_choice_decode_is_the_exported_decode(centres):
    """The training tool chooses alpha / T / chroma with a numpy decode of cached logits; the shipped
    graph decodes with AnnealedMeanColorizer. Both must compute the same ab for the same setting."""
    import train_colorizer as tc

    torch.set_num_threads(2)
    net = cn.build_net(len(centres), seed=0).eval()
    log_bias = np.random.default_rng(3).normal(0, 1.0, len(centres))
    x = (np.random.default_rng(4).uniform(0, 100, (2, 1, 224, 224)) - 50).astype(np.float32)
    logits = tc.LogitsOnce(net)
    first = logits(x)
    assert logits(x) is first  # one network run per model input, shared by the whole grid
    for T, chroma in [(0.38, 1.0), (1.0, 1.4)]:
        wrap = cn.AnnealedMeanColorizer(net, centres, T, chroma=chroma, log_bias=log_bias).eval()
        with torch.no_grad():
            ref = wrap(torch.from_numpy(x)).numpy()
        base = tc.decode_ab(first, log_bias, T, centres)
        assert np.array_equal(logits.decoded(x, 1.0, T, -log_bias, centres), base)  # the grid's memo, alpha 1
        got = chroma * base
        assert got.shape == ref.shape == (2, 2, 56, 56)
        assert np.abs(got - ref).max() < 1e-3  # float32 graph vs float64 numpy, ab units


def test_shipped_checksum_matches_registry(registry_entry):
    f = MODELS / registry_entry["file"]
    assert f.name == "acc_tiny.onnx"
    assert hashlib.sha256(f.read_bytes()).hexdigest() == registry_entry["sha256"]
    assert f.stat().st_size < 5 * 2 ** 20
    assert (MODELS / registry_entry["card"]).is_file()
    assert registry_entry["input"] == {"name": "L", "size": [224, 224], "l_offset": 50.0, "l_scale": 1.0}
    assert registry_entry["output"] == {"name": "ab", "size": [56, 56], "ab_scale": 1.0}


def test_shipped_model_io_and_runs(registry_entry):
    path = MODELS / registry_entry["file"]
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 13

    def dims(vi):
        return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]

    assert graph_macs(model)[0] <= MAC_BUDGET
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "L" and out.name == "ab"
    assert dims(inp)[1:] == [1, 224, 224] and isinstance(dims(inp)[0], str)  # dynamic N
    assert dims(out)[1:] == [2, 56, 56]

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for n in (1, 3):
        x = (rng.uniform(0, 100, (n, 1, 224, 224)) - 50).astype(np.float32)
        ab = sess.run(["ab"], {"L": x})[0]
        assert ab.shape == (n, 2, 56, 56) and ab.dtype == np.float32
        assert np.isfinite(ab).all() and np.abs(ab).max() <= 110.0
    # a flat mid-gray input gives one colour per channel away from the borders (the receptive field
    # reaches about 20 output pixels)
    flat = sess.run(["ab"], {"L": np.zeros((1, 1, 224, 224), np.float32)})[0][0, :, 20:-20, 20:-20]
    assert np.ptp(flat, axis=(1, 2)).max() < 1.0
