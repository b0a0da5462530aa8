"""The converter (acc/convert.py through `acc models fetch --from`): weights in the official layout
become an ONNX that computes what the PyTorch network computes, under the registry's contract.

Random weights stand in for the official files (not reachable from CI); they are saved as the
releases are, torch.save of the state dict, with SIGGRAPH17's unused classification head included.
Forward passes are few: a 224 x 224 ECCV16 takes about a second on a CPU, a 256 x 256 SIGGRAPH17 more.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import acc.fetch
import acc.models
from acc.cli import main
from acc.inference import OrtColorizer
from acc.models import resolve
from acc.networks import NETWORKS, randomize

AB_TOL = 1e-3  # max |ab_onnx - ab_torch| in Lab units
CLASSES = 529  # SIGGRAPH17's unused classification head: 256 -> 529 bins


def release_weights(network: str, path: Path, seed: int = 0) -> nn.Module:
    """Save random weights for `network` at `path` as the release does; returns the network (eval mode).

    Shaped so that the output varies over tens of ab units without saturating, so the comparison means
    something: batch norms with random affine parameters and statistics; for ECCV16, bin centres
    spanning -1..1 (ab / 110, as the real ones) and logits peaky enough for the softmax to choose; for
    SIGGRAPH17, a final layer small enough to keep tanh out of saturation.
    """
    net = randomize(NETWORKS[network](), seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=gen)
                module.bias.normal_(0.0, 0.1, generator=gen)
                module.running_mean.normal_(0.0, 0.1, generator=gen)
                module.running_var.uniform_(0.5, 1.5, generator=gen)
        if network == "eccv16":
            net.model_out.weight.uniform_(-1.0, 1.0, generator=gen)
            net.model8[-1].weight.mul_(3.0)
        else:
            net.model_out[0].weight.mul_(0.3)
    state = net.state_dict()
    if network == "siggraph17":
        state["model_class.0.weight"] = torch.randn(CLASSES, 256, 1, 1, generator=gen)
        state["model_class.0.bias"] = torch.randn(CLASSES, generator=gen)
    torch.save(state, path)
    return net


def expect_weights(monkeypatch: pytest.MonkeyPatch, path: Path, url: str | None = None) -> None:
    """Make the fetch catalogue expect `path`'s SHA-256 (and download from `url` when given)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    real = acc.models.load_catalogue

    def catalogue() -> dict[str, acc.models.Fetchable]:
        return {n: replace(f, weights_sha256=digest, url=url or f.url) for n, f in real().items()}

    monkeypatch.setattr(acc.fetch, "load_catalogue", catalogue)


def l_planes(n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """n smooth L* planes (0..100): photo-like, not noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[0], 0 : size[1]] / max(size)
    planes = [50 + 40 * np.sin(rng.uniform(2, 9) * x + rng.uniform(0, 6)) * np.cos(rng.uniform(2, 9) * y)
              for _ in range(n)]  # fmt: skip
    return np.stack(planes).astype(np.float32)


@pytest.mark.parametrize("network", ["eccv16", "siggraph17"])
def test_onnx_matches_pytorch(network: str, tmp_path: Path, monkeypatch, capsys) -> None:
    weights = tmp_path / f"{network}.pth"
    net = release_weights(network, weights)
    expect_weights(monkeypatch, weights)
    model_dir = tmp_path / "models"
    assert main(["models", "fetch", network, "--from", str(weights), "--model-dir", str(model_dir)]) == 0
    assert f"installed {network}" in capsys.readouterr().out

    spec = resolve(network, model_dir)
    lightness = l_planes(1, spec.input_size)
    x = (lightness - spec.l_offset) * spec.l_scale  # what every backend feeds the model
    ab_onnx = OrtColorizer(spec)(x)  # output x ab_scale
    # The release: ab = 110 * net((L - 50) / 100), before any upsample; SIGGRAPH17 called with empty
    # hints (ab = 0, mask = 0), which the ONNX builds itself from its only input.
    hints = [torch.zeros(1, c, *spec.input_size) for c in (2, 1)] if network == "siggraph17" else []
    with torch.no_grad():
        ab_torch = 110 * net(torch.from_numpy((lightness[:, None] - 50) / 100), *hints).numpy()
    diff = float(np.abs(ab_onnx - ab_torch).max())
    print(f"{network}: max |ab_onnx - ab_torch| = {diff:.2e} Lab units (ab spans {np.ptp(ab_torch):.1f})")
    assert ab_onnx.shape == (1, 2, *spec.output_size)
    assert np.ptp(ab_torch) > 20  # the output depends on the input: the comparison means something
    assert diff <= AB_TOL


class Payload:
    """Unpickling this runs a shell command: what weights-only loading must refuse to do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch '{self.marker}'",))


@pytest.mark.parametrize(
    "content, message",
    [
        ("code", "not a PyTorch weights file that loads safely"),
        ("module", "not a PyTorch weights file that loads safely"),
        ("checkpoint", "not a state dict"),
        ("other layers", "the weights do not fit eccv16"),
    ],
)
def test_files_that_are_not_the_networks_state_dict_are_refused(content: str, message: str, tmp_path: Path,
                                                                monkeypatch, capsys) -> None:  # fmt: skip
    marker = tmp_path / "payload-ran"
    saved = {
        "code": Payload(marker),
        "module": nn.Linear(2, 2),  # a whole pickled module, not its state dict
        "checkpoint": {"epoch": 3, "weights": {"model1.0.weight": torch.zeros(1)}},
        "other layers": {"conv.weight": torch.zeros(2)},
    }[content]
    weights = tmp_path / "w.pth"
    torch.save(saved, weights)
    expect_weights(monkeypatch, weights)
    model_dir = tmp_path / "models"
    assert main(["models", "fetch", "eccv16", "--from", str(weights), "--model-dir", str(model_dir)]) == 2
    err = capsys.readouterr().err
    assert message in err and "nothing was installed" in err
    assert not marker.exists()
    assert not any(model_dir.iterdir())


def test_siggraph17_has_the_release_layout() -> None:
    """Key names and shapes of colorizers/siggraph17.py (decoder, shortcuts, head) and its size without
    the unused classification head: 34.05 M parameters, as OpenVINO's colorization-siggraph lists."""
    shapes = {k: tuple(v.shape) for k, v in NETWORKS["siggraph17"]().state_dict().items()}
    assert shapes["model1.0.weight"] == (64, 4, 3, 3)  # L, ab hints, mask
    assert shapes["model8up.0.weight"] == (512, 256, 4, 4)
    assert shapes["model3short8.0.weight"] == (256, 256, 3, 3)
    assert shapes["model8.5.running_var"] == (256,) and shapes["model9.3.running_var"] == (128,)
    assert shapes["model1short10.0.weight"] == (128, 64, 3, 3) and shapes["model10.1.weight"] == (128, 128, 3, 3)
    assert shapes["model_out.0.weight"] == (2, 128, 1, 1)
    params = sum(np.prod(s) for k, s in shapes.items() if not k.endswith(("running_mean", "running_var", "tracked")))
    assert params == 34_051_074
