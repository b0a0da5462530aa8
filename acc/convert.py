"""Official PyTorch weights -> the ONNX acc runs (for `acc models fetch`), with numpy and onnx alone.

The weights are read by acc/pth.py, which resolves no name beyond what a state dict of tensors needs,
so a crafted file cannot run code, and needs no torch. They must fill the network's description in
acc/networks.py exactly (the release's unused extras aside); the ONNX is built from that description
(acc/netspec.py), which is the registry's contract: input (L - 50) / 100, output ab / 110.
Imports onnx (the "onnx" extra): import this module lazily.
"""

from __future__ import annotations

import numpy as np
import onnx

from acc import netspec, pth
from acc.models import ModelSpec
from acc.networks import NETWORKS

# ATC in CANN 5.x and 6.x reads ONNX opsets 9 to 13 (7.x: 9 to 18); 13 is also the first opset whose
# Softmax normalizes along one axis, as ECCV16's softmax over its 313 bins does.
OPSET = 13


class ConvertError(Exception):
    """Weights that cannot be converted: not readable safely, or not the network's."""


def load_state_dict(data: bytes) -> dict[str, np.ndarray]:
    try:
        return pth.read_state_dict(data)
    except pth.PthError as exc:
        raise ConvertError(f"not a PyTorch weights file that acc reads safely: {exc}") from None


def to_onnx(network: str, weights: bytes, spec: ModelSpec) -> None:
    """Write the ONNX of `network` with `weights` (a .pth file's bytes) to spec.path, at the contract's sizes."""
    net = NETWORKS[network]()
    out_shape = netspec.shapes(net, spec.input_size)[net.output]
    if out_shape != (2, *spec.output_size):  # the registry and the description disagree: acc's bug, not the file's
        raise ConvertError(f"{network} gives {out_shape} for {spec.input_size}, the registry says {spec.output_size}")
    state = load_state_dict(weights)
    try:
        model = netspec.to_onnx(net, state, spec.input_size, spec.input_name, spec.output_name, OPSET)
    except netspec.SpecError as exc:  # missing, unexpected or misshapen tensors
        raise ConvertError(f"the weights do not fit {network}: {exc}") from None
    onnx.save(model, str(spec.path))
