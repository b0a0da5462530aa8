"""Official PyTorch weights -> the ONNX acc runs (for `acc models fetch`). Imports torch: import lazily.

The weights are loaded with torch.load(weights_only=True): tensors and plain containers only, never
arbitrary unpickling, so a crafted file cannot run code. They must fill the architecture in
acc/networks.py exactly (the release's unused extras aside); the network is exported as it is defined
there, which is the registry's contract: input (L - 50) / 100, output ab / 110.
"""

from __future__ import annotations

import io
import re
import warnings

import torch

from acc.models import ModelSpec
from acc.networks import NETWORKS, export_onnx

# ATC in CANN 5.x and 6.x reads ONNX opsets 9 to 13 (7.x: 9 to 18); 13 is also the first opset whose
# Softmax normalizes along one axis, as ECCV16's softmax over its 313 bins does.
OPSET = 13


class ConvertError(Exception):
    """Weights that cannot be converted: not loadable safely, or not the network's."""


def load_state_dict(data: bytes) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for anything beyond tensors; RuntimeError for a damaged archive
        raise ConvertError(f"not a PyTorch weights file that loads safely ({_load_failure(exc)})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConvertError("not a state dict (a mapping of layer names to tensors)")
    return state


def _load_failure(exc: Exception) -> str:
    """The telling part of torch.load's message (the rest suggests loading unsafely, which acc never does)."""
    text = str(exc)
    found = re.search(r"[Uu]nsupported (?:global: )?(?:GLOBAL \S+|operand \d+)", text)
    return found.group(0) if found else text.split(". ")[0].strip() or exc.__class__.__name__


def build(network: str, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The network `network` of acc/networks.py holding `state`, in eval mode."""
    net = NETWORKS[network]()
    extras = getattr(net, "release_extras", ())
    state = {k: v for k, v in state.items() if not k.startswith(extras)}
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of the wrong shape
        raise ConvertError(f"the weights do not fit {network}: {str(exc).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise ConvertError(
            f"the weights do not fit {network}: {len(missing)} tensors missing {missing[:2]}, "
            f"{len(unexpected)} unexpected {unexpected[:2]}"
        )
    return net.eval()


def to_onnx(network: str, weights: bytes, spec: ModelSpec) -> None:
    """Write the ONNX of `network` with `weights` to spec.path, at the contract's input size."""
    net = build(network, load_state_dict(weights))
    with warnings.catch_warnings():  # the TorchScript exporter (no onnxscript needed) warns that it is old
        warnings.simplefilter("ignore", DeprecationWarning)
        export_onnx(net, spec.path, spec.input_size, opset=OPSET)
