"""The embedded default model acc-tiny (issue 3, parts 2 and 6).

* the ONNX export (made from the network's description, acc/networks.py) computes what the PyTorch
  network (tools/colorizer_net.py, made from the same description) and its decode compute;
* the shipped models/acc_tiny.onnx matches its registry entry (checksum, names, shapes) and runs.
No test reads ../shared (a user's checkout does not have it).
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
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


def test_onnx_export_matches_torch(tmp_path, centres):
    torch.set_num_threads(2)
    net = cn.build_net(len(centres), seed=0)
    # give BN non-trivial running statistics (seeded) so eval-mode folding is exercised
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    log_bias = np.random.default_rng(2).normal(0, 0.5, len(centres))  # as -alpha * log(rebalancing w)
    wrap = cn.AnnealedMeanColorizer(net, centres, 0.38, chroma=1.1, log_bias=log_bias).eval()
    path = tmp_path / "tiny.onnx"
    cn.export_onnx(wrap, str(path))

    rng = np.random.default_rng(0)
    x = (rng.uniform(0, 100, (2, 1, 224, 224)) - 50).astype(np.float32)
    with torch.no_grad():
        ref = wrap(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(["ab"], {"L": x})[0]
    assert got.shape == ref.shape == (2, 2, 56, 56)
    diff = np.abs(got - ref).max()
    print(f"max |onnx - torch| = {diff:.2e} ab units")
    assert diff < EXPORT_TOL
    # ... and what the decode wrapper acc-tiny was trained and shipped with computed (hand-written)
    hand = reference_nets.TinyColorNet(len(centres)).eval()
    hand.load_state_dict(net.state_dict())
    centres_t = torch.from_numpy(centres * 1.1)
    with torch.no_grad():
        want = reference_nets.annealed_mean(hand(torch.from_numpy(x)), centres_t, 0.38, torch.from_numpy(log_bias).float())
    assert np.abs(want.numpy() - ref).max() < 1e-4
    # the decode is an annealed mean of the bin centres: inside their bounding box
    a = got[:, 0] / 1.1
    assert a.min() >= centres[:, 0].min() - 1e-3 and a.max() <= centres[:, 0].max() + 1e-3


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
        got = chroma * tc.decode_ab(first, log_bias, T, centres)
        assert got.shape == ref.shape == (2, 2, 56, 56)
        assert np.abs(got - ref).max() < 1e-3  # float32 graph vs float64 numpy, ab units


def test_flops_budget(centres):
    wrap = cn.AnnealedMeanColorizer(cn.build_net(len(centres), seed=0), centres, 0.38)
    assert 2 * cn.count_macs(wrap, 224) <= 3.0e9  # issue 3: at most about 3 GFLOPs at 224 x 224


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
