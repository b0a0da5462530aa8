"""The acc-tiny colorization networks in PyTorch, their ab bins, and the export with its decode.

Used by tools/train_colorizer.py and tests/test_tiny_model.py. Imports torch: never import this from
the `acc` package (torch is the optional extra "train"). The networks are described once, in
acc/networks.py (`acc_tiny`, `acc_tiny2`, `annealed_mean`); the PyTorch module and the ONNX graph are
both made from that description (acc/netspec.py).

Formulation: Zhang et al., "Colorful Image Colorization", ECCV 2016 -- ab quantized to the in-gamut
cells of a 10 x 10 grid, the network predicts one logit per cell at 1/4 of the input resolution, and
the exported graph decodes the annealed mean softmax(logits / T) . centres, so the ONNX outputs ab.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from acc import netspec
from acc.networks import acc_tiny, acc_tiny2, annealed_mean

GRID = 10.0  # ab cell size (Lab units), as in ECCV16
ARCHS = {"tiny1": acc_tiny, "tiny2": acc_tiny2}  # acc-tiny 1 (H, W multiples of 8), acc-tiny 2 (of 32)


def gamut_bins(grid: float = GRID) -> np.ndarray:
    """Centres (Q x 2, float32, a then b) of the ab cells hit by at least one 8-bit sRGB colour.

    Every one of the 256^3 sRGB colours is converted with OpenCV's float BGR2Lab (D65, sRGB
    companding; the product's colour contract), its (a, b) rounded to the nearest multiple of `grid`,
    and the distinct cells kept, sorted by (a, b). Deterministic; 262 cells with grid 10 (ECCV16's
    pts_in_hull has 313 -- it is a convex hull over a looser gamut).
    """
    import cv2

    v = np.arange(256, dtype=np.float32) / 255.0
    bgr = np.empty((256, 256, 256, 3), np.float32)
    bgr[..., 0] = v[:, None, None]
    bgr[..., 1] = v[None, :, None]
    bgr[..., 2] = v[None, None, :]
    lab = cv2.cvtColor(bgr.reshape(256 * 256, 256, 3), cv2.COLOR_BGR2Lab)
    cells = np.rint(lab[..., 1:].reshape(-1, 2) / grid).astype(np.int64)  # half to even
    off = int(np.abs(cells).max()) + 1
    span = 2 * off + 1
    hits = np.bincount((cells[:, 0] + off) * span + (cells[:, 1] + off), minlength=span * span)
    nz = np.nonzero(hits)[0]                                    # sorted by a, then b
    return (np.stack([nz // span - off, nz % span - off], axis=1) * grid).astype(np.float32)


def build_net(n_bins: int, seed: int = 0, arch: str = "tiny2", **kw) -> nn.Module:
    """The network ARCHS[arch](n_bins, **kw) with its seeded initialisation: torch.manual_seed(seed), then
    PyTorch's default initialisation layer by layer. Input N x 1 x H x W holding L - 50; output
    N x Q x H/4 x W/4 bin logits."""
    torch.manual_seed(seed)
    return netspec.to_torch(ARCHS[arch](n_bins, **kw))


def AnnealedMeanColorizer(net: nn.Module, centres: np.ndarray, temperature: float, chroma: float = 1.0,
                          log_bias: np.ndarray | None = None) -> nn.Module:  # fmt: skip
    """The export model: `net` (from build_net) followed by its decode, L-50 -> ab (N x 2 x H/4 x W/4).

    ab = chroma * softmax((logits + log_bias) / T) . centres. `log_bias` (Q, optional) is a constant
    per-bin offset of the logits: -alpha * log(w) with w the class-rebalancing weights partly undoes the
    rebalancing at decode time (alpha = 0: none, 1: the unweighted posterior). `chroma` scales the
    decoded ab. All three become constants of the graph (acc.networks.annealed_mean). A copy: later
    training of `net` does not reach it. (Named as the wrapper class it replaces, which the training
    tool calls.)
    """
    spec = annealed_mean(net.spec, len(centres), temperature, prior=log_bias is not None)
    model = netspec.to_torch(spec)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    decode = np.ascontiguousarray(centres.T * chroma, dtype=np.float32)  # 2 x Q
    state["decode.weight"] = torch.from_numpy(decode)[:, :, None, None]
    if log_bias is not None:
        state["prior.bias"] = torch.from_numpy(np.asarray(log_bias, dtype=np.float32))
    model.load_state_dict(state)
    return model.eval()


def count_macs(model: nn.Module, size: int = 224) -> int:
    """Multiply-accumulates of the convolutions (incl. the 1x1 decode conv of the export model) for one
    1 x 1 x size x size input. FLOPs ~= 2 x MACs."""
    return netspec.macs(model.spec, (size, size))


def onnx_bytes(model: nn.Module, opset: int = 13) -> bytes:
    """The export model as a serialized ONNX graph, made from its description (no torch exporter): input
    `L` N x 1 x 224 x 224, output `ab` N x 2 x 56 x 56, dynamic N. Opset 13: what ATC reads."""
    weights = {k: v.detach().cpu().contiguous().numpy() for k, v in model.state_dict().items()}
    return netspec.to_onnx(model.spec, weights, (224, 224), opset=opset).SerializeToString()


def export_onnx(model: nn.Module, path: str, opset: int = 13) -> None:
    """Write `onnx_bytes(model)` to `path`."""
    with open(path, "wb") as fh:
        fh.write(onnx_bytes(model, opset))


def saved_weights(path: str, net: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of `net` (from build_net) as saved in `path`, read without unpickling anything:
    an exported ONNX (its initializers are named by state-dict key; the decode's constants are not
    part of the network) or an .npz of the state dict. SpecError unless every tensor of the network is
    there with its shape."""
    if path.endswith(".onnx"):
        import onnx
        from onnx import numpy_helper

        arrays = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    else:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    need = netspec.tensors(net.spec)
    weights = {k: arrays[k] for k in need if k in arrays}
    netspec.check_weights(net.spec, weights)
    state = {k: torch.from_numpy(np.array(v, np.float32)) for k, v in weights.items()}
    return state | {k: v for k, v in net.state_dict().items() if k not in state}  # BN batch counters

