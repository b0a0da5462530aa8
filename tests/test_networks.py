"""acc/networks.py: the ECCV16 architecture in the official release's layout, and the random-weight
model tools/make_random_eccv16.py builds from it for timing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from acc.inference import OrtColorizer  # noqa: E402
from acc.models import resolve  # noqa: E402
from acc.networks import ECCV16, NETWORKS, randomize  # noqa: E402

ROOT = Path(__file__).parent.parent

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


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    return randomize(ECCV16(), seed=1)


def test_state_dict_has_the_release_layout(net) -> None:
    state = net.state_dict()
    assert set(state) == release_keys()
    shapes = {
        "model1.0.weight": (64, 1, 3, 3), "model3.4.weight": (256, 256, 3, 3), "model5.2.weight": (512, 512, 3, 3),
        "model8.0.weight": (512, 256, 4, 4), "model8.6.weight": (313, 256, 1, 1), "model_out.weight": (2, 313, 1, 1),
    }  # fmt: skip
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    assert NETWORKS["eccv16"] is ECCV16


def test_size_and_compute_are_the_official_models(net) -> None:
    """32,231,019 conv weights + 4,992 BN affine; 31.98 GMACs at 224 x 224 (transposed conv per input pixel)."""
    assert sum(p.numel() for p in net.parameters()) == 32_231_019 + 4_992
    macs = 0

    def count(module, inputs, output) -> None:
        nonlocal macs
        if isinstance(module, torch.nn.ConvTranspose2d):
            macs += inputs[0][0].numel() * module.weight[0].numel()
        else:
            macs += output[0].numel() * module.weight[0].numel()

    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            m.register_forward_hook(count)
    with torch.no_grad():
        out = net(torch.zeros(1, 1, 224, 224))
    assert tuple(out.shape) == (1, 2, 56, 56)
    assert macs / 1e9 == pytest.approx(31.98, abs=0.01)
    dilated = [m.dilation for m in (*net.model5, *net.model6) if isinstance(m, torch.nn.Conv2d)]
    assert dilated == [(2, 2)] * 6


def test_random_weights_keep_activations_normal(net) -> None:
    """Random weights for timing must not decay into denormals (slow paths) nor overflow."""
    x = torch.randn(1, 1, 224, 224)
    with torch.no_grad():
        for block in (net.model1, net.model2, net.model3, net.model4, net.model5, net.model6, net.model7):
            x = block(x)
            assert 0.1 < float(x.std()) < 100


def test_make_random_eccv16_writes_a_registered_model(tmp_path: Path, monkeypatch) -> None:
    other = "{file: other.onnx, sha256: '0', input: {name: L, size: [1, 1]}, output: {name: ab, size: [1, 1]}}"
    (tmp_path / "registry.yaml").write_text(f"models:\n  other: {other}\n")
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_random_eccv16.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)  # fmt: skip
    spec = resolve("eccv16-random", tmp_path)
    assert "other" in yaml.safe_load((tmp_path / "registry.yaml").read_text())["models"]  # merged
    assert (spec.l_offset, spec.l_scale, spec.ab_scale) == (50.0, 0.01, 110.0)
    assert spec.input_size == (224, 224) and spec.output_size == (56, 56)
    monkeypatch.setenv("ACC_CACHE_DIR", str(tmp_path / "cache"))
    ab = OrtColorizer(spec, threads=1)(np.zeros((2, 224, 224), np.float32))
    assert ab.shape == (2, 2, 56, 56) and np.isfinite(ab).all()
