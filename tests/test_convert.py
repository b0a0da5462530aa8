"""The converter (acc/convert.py through `acc models fetch --from`): weights in the official layout become,
without PyTorch, an ONNX that computes what the PyTorch network computes, under the registry's contract.

Random weights stand in for the official files (not reachable from CI); they are saved as the releases
are, torch.save of the state dict of the release's modules (tests/reference_nets.py), with SIGGRAPH17's
unused classification head included. The conversion runs in a child process in which torch cannot be
imported (a sitecustomize on PYTHONPATH blocks it), as in an environment where it is not installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import acc.fetch
import acc.models
import reference_nets
from acc import netspec
from acc.cli import main
from acc.inference import OrtColorizer
from acc.models import resolve
from acc.networks import NETWORKS

# max |ab_onnx - ab_torch| in Lab units, ab_torch computed in float64: the exact result, so that the
# tolerance measures the ONNX's float32 rounding alone (PyTorch's own float32 result is as far off).
AB_TOL = 2e-4
CLASSES = 529  # SIGGRAPH17's unused classification head: 256 -> 529 bins
MODULES = {"eccv16": reference_nets.ECCV16, "siggraph17": reference_nets.SIGGRAPH17}
OFFICIAL = "official"  # for run_without: keep the catalogue's official checksums


def release_weights(network: str, path: Path, seed: int = 0) -> nn.Module:
    """Save random weights for `network` at `path` as the release does; returns the network (eval mode),
    the release's own PyTorch module.

    Shaped so that the output varies over tens of ab units without saturating, so the comparison means
    something: batch norms with random affine parameters and statistics; for ECCV16, bin centres
    spanning -1..1 (ab / 110, as the real ones) and logits peaky enough for the softmax to choose (x2:
    sharper still, float32 rounding alone, in PyTorch as in ONNX Runtime, moves ab by more than 2e-4);
    for SIGGRAPH17, a final layer small enough to keep tanh out of saturation.
    """
    net = MODULES[network]()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in netspec.random_weights(NETWORKS[network](), seed).items()},
                        strict=False)  # fmt: skip
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
            net.model8[-1].weight.mul_(2.0)
        else:
            net.model_out[0].weight.mul_(0.3)
    state = net.state_dict()
    if network == "siggraph17":
        state["model_class.0.weight"] = torch.randn(CLASSES, 256, 1, 1, generator=gen)
        state["model_class.0.bias"] = torch.randn(CLASSES, generator=gen)
    torch.save(state, path)
    return net.eval()


def expect_weights(monkeypatch: pytest.MonkeyPatch, path: Path, url: str | None = None) -> None:
    """Make the fetch catalogue expect `path`'s SHA-256 (and download from `url` when given)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    real = acc.models.load_catalogue

    def catalogue() -> dict[str, acc.models.Fetchable]:
        return {n: replace(f, weights_sha256=digest, url=url or f.url) for n, f in real().items()}

    monkeypatch.setattr(acc.fetch, "load_catalogue", catalogue)


# The child process: `import X` fails for every X in $ACC_TEST_BLOCK, as if X were not installed.
BLOCKER = """
import os, sys

class Blocked:
    names = tuple(os.environ["ACC_TEST_BLOCK"].split(","))

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)

sys.meta_path.insert(0, Blocked())
"""

# `acc models fetch ARGS` in the child, expecting weights with SHA-256 argv[1] (or the official ones);
# it must not have imported any blocked module, and torch must really be out of reach.
DRIVER = """
import dataclasses, os, sys
import acc.fetch, acc.models
from acc.cli import main

if sys.argv[1] != "official":
    real = acc.models.load_catalogue
    sha = sys.argv[1]
    acc.fetch.load_catalogue = lambda: {n: dataclasses.replace(f, weights_sha256=sha) for n, f in real().items()}
code = main(sys.argv[2:])
assert not set(os.environ["ACC_TEST_BLOCK"].split(",")) & set(sys.modules), "a blocked module was imported"
try:
    import torch
except ModuleNotFoundError:
    sys.exit(code)
sys.exit("torch could be imported")
"""


def run_without(blocked: list[str], sha: str, args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    """Run `acc models fetch` (DRIVER) in a child process in which the modules `blocked` cannot be imported."""
    (tmp / "blocker").mkdir(exist_ok=True)
    (tmp / "blocker" / "sitecustomize.py").write_text(textwrap.dedent(BLOCKER))
    env = {**os.environ, "PYTHONPATH": str(tmp / "blocker"), "ACC_TEST_BLOCK": ",".join(blocked),
           "ACC_CACHE_DIR": str(tmp / "cache")}  # fmt: skip
    return subprocess.run([sys.executable, "-c", DRIVER, sha, "models", "fetch", *args], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def l_planes(n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """n smooth L* planes (0..100): photo-like, not noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[0], 0 : size[1]] / max(size)
    planes = [50 + 40 * np.sin(rng.uniform(2, 9) * x + rng.uniform(0, 6)) * np.cos(rng.uniform(2, 9) * y)
              for _ in range(n)]  # fmt: skip
    return np.stack(planes).astype(np.float32)


@pytest.mark.parametrize("network", ["eccv16", "siggraph17"])
def test_conversion_without_torch_matches_pytorch(network: str, tmp_path: Path) -> None:
    weights = tmp_path / f"{network}.pth"
    net = release_weights(network, weights)
    model_dir = tmp_path / "models"
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    done = run_without(["torch"], sha, [network, "--from", str(weights), "--model-dir", str(model_dir)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"installed {network}" in done.stdout

    spec = resolve(network, model_dir)
    lightness = l_planes(1, spec.input_size)
    x = (lightness - spec.l_offset) * spec.l_scale  # what every backend feeds the model
    ab_onnx = OrtColorizer(spec, threads=2)(x)  # output x ab_scale
    # The release: ab = 110 * net((L - 50) / 100), before any upsample; SIGGRAPH17 called with empty
    # hints (ab = 0, mask = 0), which the ONNX builds itself from its only input.
    l_norm = torch.from_numpy((lightness[:, None] - 50) / 100).double()
    hints = [torch.zeros(1, c, *spec.input_size).double() for c in (2, 1)] if network == "siggraph17" else []
    with torch.no_grad():
        ab_torch = 110 * net.double()(l_norm, *hints).numpy()
    diff = float(np.abs(ab_onnx - ab_torch).max())
    print(f"{network}: max |ab_onnx - ab_torch| = {diff:.2e} Lab units (ab spans {np.ptp(ab_torch):.1f})")
    assert ab_onnx.shape == (1, 2, *spec.output_size)
    assert np.ptp(ab_torch) > 20  # the output depends on the input: the comparison means something
    assert diff <= AB_TOL


def test_a_wrong_file_is_called_wrong_without_torch_or_onnx(tmp_path: Path) -> None:
    """The checksum is judged before anything is asked of the machine: no converter needed to hear it."""
    weights = tmp_path / "colorization_release_v2-9b330a0b.pth"
    weights.write_bytes(b"not the official weights")
    done = run_without(["torch", "onnx"], OFFICIAL, ["eccv16", "--from", str(weights), "--model-dir",
                                                     str(tmp_path / "models")], tmp_path)  # fmt: skip
    assert done.returncode == 2
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert f"{weights} has sha256 {digest}, but the official eccv16 weights have 9b330a0b" in done.stderr
    assert "onnx" not in done.stderr  # the file was judged, not the installation
    # With the right checksum, the missing converter is what is said.
    done = run_without(["torch", "onnx"], digest, ["eccv16", "--from", str(weights)], tmp_path)
    assert done.returncode == 2 and "pip install 'acc-colorize[onnx]'" in done.stderr


class Payload:
    """Unpickling this runs a shell command: what a safe reader must refuse to do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch '{self.marker}'",))


@pytest.mark.parametrize(
    "content, message",
    [
        ("code", f"the pickle names {os.system.__module__}.system"),  # posix.system on Linux
        ("module", "the pickle names torch.nn.modules.linear.Linear"),
        ("legacy", "legacy format of PyTorch before 1.6"),
        ("checkpoint", "not a state dict"),
        ("other layers", "the weights do not fit eccv16: 75 tensors missing"),
        ("wrong shape", "the weights do not fit eccv16: model8.6.weight has shape (312, 256, 1, 1)"),
    ],
)
def test_files_that_are_not_the_networks_state_dict_are_refused(content: str, message: str, tmp_path: Path,
                                                                monkeypatch, capsys) -> None:  # fmt: skip
    marker = tmp_path / "payload-ran"
    shapes = netspec.tensors(NETWORKS["eccv16"]())
    state = {k: torch.zeros(s) for k, s in shapes.items()}
    saved = {
        "code": Payload(marker),
        "module": nn.Linear(2, 2),  # a whole pickled module, not its state dict
        "legacy": state,
        "checkpoint": {"epoch": 3, "weights": {"model1.0.weight": torch.zeros(1)}},
        "other layers": {"conv.weight": torch.zeros(2)},
        "wrong shape": {**state, "model8.6.weight": torch.zeros(312, 256, 1, 1)},
    }[content]
    weights = tmp_path / "w.pth"
    torch.save(saved, weights, _use_new_zipfile_serialization=content != "legacy")
    expect_weights(monkeypatch, weights)
    model_dir = tmp_path / "models"
    assert main(["models", "fetch", "eccv16", "--from", str(weights), "--model-dir", str(model_dir)]) == 2
    err = capsys.readouterr().err
    assert message in err and "nothing was installed" in err
    assert not marker.exists()
    assert not any(model_dir.iterdir())
