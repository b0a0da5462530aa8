"""acc/networks.py: ECCV16, SIGGRAPH17 and acc-tiny described once, checked against the same networks
written out by hand in PyTorch (tests/reference_nets.py: the release's modules, acc-tiny as trained) and
against the official sizes; and the random-weight ECCV16 that tools/make_random_eccv16.py builds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import reference_nets as ref
from acc import netspec
from acc.inference import OrtColorizer
from acc.models import resolve
from acc.netspec import Conv
from acc.networks import acc_tiny, acc_tiny2, eccv16, siggraph17

ROOT = Path(__file__).parent.parent

# Each description, the hand-written module it must equal, and the extra inputs the module takes.
NETS = {
    "eccv16": (eccv16, ref.ECCV16, 0),
    "siggraph17": (siggraph17, ref.SIGGRAPH17, 3),  # ab hints and mask: zero in acc
    "acc_tiny": (lambda: acc_tiny(262), lambda: ref.TinyColorNet(262), 0),
    "acc_tiny2": (lambda: acc_tiny2(262), lambda: ref.ColorNet2(262), 0),
}

# The release's state dict (richzhang/colorization colorizers/eccv16.py): per block, the indices of
# its convs in the nn.Sequential and of its BatchNorm (None: none).
RELEASE_LAYOUT = {
    "model1": ([0, 2], 4), "model2": ([0, 2], 4), "model3": ([0, 2, 4], 6), "model4": ([0, 2, 4], 6),
    "model5": ([0, 2, 4], 6), "model6": ([0, 2, 4], 6), "model7": ([0, 2, 4], 6), "model8": ([0, 2, 4, 6], None),
}  # fmt: skip


def release_keys() -> set[str]:
    keys = {"model_out.weight"}
    for block, (convs, norm) in RELEASE_LAYOUT.items():
        keys |= {f"{block}.{i}.{p}" for i in convs for p in ("weight", "bias")}
        if norm is not None:
            stats = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
            keys |= {f"{block}.{norm}.{p}" for p in stats}
    return keys


def shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", NETS)
def test_state_dict_is_the_hand_written_networks(name: str) -> None:
    """Same keys, same shapes, same order: weights saved from either load into the other."""
    describe, module, _ = NETS[name]
    net = describe()
    assert list(shapes(netspec.to_torch(net)).items()) == list(shapes(module()).items())
    assert netspec.tensors(net).keys() | netspec.optional_tensors(net) == shapes(module()).keys()


def test_eccv16_has_the_release_layout() -> None:
    state = shapes(netspec.to_torch(eccv16()))
    assert set(state) == release_keys()
    want = {
        "model1.0.weight": (64, 1, 3, 3), "model3.4.weight": (256, 256, 3, 3), "model5.2.weight": (512, 512, 3, 3),
        "model8.0.weight": (512, 256, 4, 4), "model8.6.weight": (313, 256, 1, 1), "model_out.weight": (2, 313, 1, 1),
    }  # fmt: skip
    assert {k: state[k] for k in want} == want


def test_siggraph17_has_the_release_layout() -> None:
    """Key names and shapes of colorizers/siggraph17.py (decoder, shortcuts, head) and its size without
    the unused classification head: 34.05 M parameters, as OpenVINO's colorization-siggraph lists."""
    state = shapes(netspec.to_torch(siggraph17()))
    assert state["model1.0.weight"] == (64, 4, 3, 3)  # L, ab hints, mask
    assert state["model8up.0.weight"] == (512, 256, 4, 4)
    assert state["model3short8.0.weight"] == (256, 256, 3, 3)
    assert state["model8.5.running_var"] == (256,) and state["model9.3.running_var"] == (128,)
    assert state["model1short10.0.weight"] == (128, 64, 3, 3) and state["model10.1.weight"] == (128, 128, 3, 3)
    assert state["model_out.0.weight"] == (2, 128, 1, 1)
    params = sum(np.prod(s) for k, s in state.items() if not k.endswith(("running_mean", "running_var", "tracked")))
    assert params == 34_051_074
    assert siggraph17().ignored == ("model_class.",)


@pytest.mark.parametrize("name", NETS)
def test_description_computes_what_the_hand_written_network_computes(name: str) -> None:
    """Same weights (random, BatchNorm statistics included), same input: the same output, bit for bit,
    since both run the same PyTorch layers in the same order."""
    describe, module, hints = NETS[name]
    net = describe()
    rng = np.random.default_rng(2)
    state = {k: torch.from_numpy(v) for k, v in netspec.random_weights(net, seed=1).items()}
    for key in state:
        if key.endswith(("running_mean", "bias")):
            state[key] = torch.from_numpy(rng.normal(0, 0.1, state[key].shape).astype(np.float32))
        elif key.endswith("running_var"):
            state[key] = torch.from_numpy(rng.uniform(0.5, 1.5, state[key].shape).astype(np.float32))
    ours, theirs = netspec.to_torch(net).eval(), module().eval()
    ours.load_state_dict(state, strict=False)
    theirs.load_state_dict(state, strict=False)
    x = torch.from_numpy(rng.uniform(-0.5, 0.5, (2, 1, 64, 64)).astype(np.float32))
    with torch.no_grad():
        got = ours(x)
        want = theirs(x, x.new_zeros(2, 2, 64, 64), x.new_zeros(2, 1, 64, 64)) if hints else theirs(x)
    assert got.shape == want.shape and float(want.std()) > 1e-3
    assert torch.equal(got, want)


@pytest.mark.parametrize("arch, module", [("tiny1", ref.TinyColorNet), ("tiny2", ref.ColorNet2)])
def test_acc_tiny_initialises_as_it_was_trained(arch: str, module: type) -> None:
    """The training tool's seeded initialisation is the hand-written module's: same layers made in the same
    order, so a run of the documented recipe starts from the weights the shipped one started from."""
    sys.path.insert(0, str(ROOT / "tools"))
    import colorizer_net

    torch.manual_seed(5)
    want = module(262).state_dict()
    got = colorizer_net.build_net(262, seed=5, arch=arch).state_dict()
    assert list(got) == list(want) and all(torch.equal(got[k], want[k]) for k in want)


def test_size_and_compute_are_the_official_models() -> None:
    """ECCV16: 32,231,019 conv weights + 4,992 BN affine; 31.98 GMACs at 224 x 224 (transposed conv per
    input pixel), counted from the description and by hooks on the PyTorch module alike."""
    net = eccv16()
    module = netspec.to_torch(net)
    assert sum(p.numel() for p in module.parameters()) == 32_231_019 + 4_992
    macs = 0

    def count(layer, inputs, output) -> None:
        nonlocal macs
        pixels = inputs[0][0].numel() if isinstance(layer, torch.nn.ConvTranspose2d) else output[0].numel()
        macs += pixels * layer.weight[0].numel()

    for layer in module.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            layer.register_forward_hook(count)
    with torch.no_grad():
        out = module(torch.zeros(1, 1, 224, 224))
    assert tuple(out.shape) == (1, 2, 56, 56) == (1, *netspec.shapes(net, (224, 224))[net.output])
    assert macs == netspec.macs(net, (224, 224))
    assert macs / 1e9 == pytest.approx(31.98, abs=0.01)
    dilated = [n.op.dilation for n in net.nodes if n.name.startswith(("model5", "model6")) and isinstance(n.op, Conv)]
    assert dilated == [2] * 6


def test_random_weights_keep_activations_normal() -> None:
    """Random weights for timing must not decay into denormals (slow paths) nor overflow: the output of
    every block of ECCV16 (its BatchNorm) keeps a standard deviation between 0.1 and 100."""
    net = eccv16()
    module = netspec.to_torch(net).eval()
    module.load_state_dict({k: torch.from_numpy(v) for k, v in netspec.random_weights(net, seed=1).items()},
                           strict=False)  # fmt: skip
    stds = {}
    for block in RELEASE_LAYOUT:
        if RELEASE_LAYOUT[block][1] is not None:
            norm = module.layers[f"{block}.{RELEASE_LAYOUT[block][1]}"]
            norm.register_forward_hook(lambda layer, i, out, block=block: stds.__setitem__(block, float(out.std())))
    with torch.no_grad():
        module(torch.randn(1, 1, 224, 224, generator=torch.Generator().manual_seed(0)))
    assert len(stds) == 7 and all(0.1 < s < 100 for s in stds.values()), stds


def test_make_random_eccv16_writes_a_registered_model(tmp_path: Path, monkeypatch) -> None:
    other = "{file: other.onnx, sha256: '0', input: {name: L, size: [1, 1]}, output: {name: ab, size: [1, 1]}}"
    (tmp_path / "registry.yaml").write_text(f"models:\n  other: {other}\n")
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_random_eccv16.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)  # fmt: skip
    spec = resolve("eccv16-random", tmp_path)
    assert "other" in yaml.safe_load((tmp_path / "registry.yaml").read_text())["models"]  # merged
    assert (spec.l_offset, spec.l_scale, spec.ab_scale) == (50.0, 0.01, 110.0)
    assert spec.input_size == (224, 224) and spec.output_size == (56, 56)
    assert spec.path.stat().st_size / 1e6 == pytest.approx(129.0, abs=0.5)  # 32.24 M float32
    monkeypatch.setenv("ACC_CACHE_DIR", str(tmp_path / "cache"))
    ab = OrtColorizer(spec, threads=1)(np.zeros((2, 224, 224), np.float32))
    assert ab.shape == (2, 2, 56, 56) and np.isfinite(ab).all()
