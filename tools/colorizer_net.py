"""The acc-tiny colorization network (PyTorch), its ab bins, and the export wrapper.

Used by tools/train_colorizer.py and tests/test_tiny_model.py. Imports torch: never import this from
the `acc` package (torch is the optional extra "train").

Formulation: Zhang et al., "Colorful Image Colorization", ECCV 2016 -- ab quantized to the in-gamut
cells of a 10 x 10 grid, the network predicts one logit per cell at 1/4 of the input resolution, and
the exported graph decodes the annealed mean softmax(logits / T) . centres, so the ONNX outputs ab.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

GRID = 10.0  # ab cell size (Lab units), as in ECCV16


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


def conv_bn(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TinyColorNet(nn.Module):
    """Input: N x 1 x H x W holding L - 50 (L = CIE L* 0..100). Output: N x Q x H/4 x W/4 bin logits.

    Encoder: 3x3 convs with BN+ReLU, strided to 1/2 (w1), 1/4 (w2, the skip level) and 1/8 (w3);
    context: dilated 3x3 convs (dilations 1, 2, 4, 2, 1) at 1/8; decoder: bilinear x2 to 1/4, concat
    with the 1/4 encoder features, two 3x3 convs, 1x1 conv to Q logits.
    """

    def __init__(self, n_bins: int, w1: int = 32, w2: int = 64, w3: int = 128, wd: int = 64,
                 dilations=(1, 2, 4, 2, 1)):
        super().__init__()
        self.enc1 = nn.Sequential(conv_bn(1, w1, 2), conv_bn(w1, w1))            # 1/2
        self.enc2 = nn.Sequential(conv_bn(w1, w2, 2), conv_bn(w2, w2))           # 1/4 (skip)
        self.enc3 = conv_bn(w2, w3, 2)                                           # 1/8
        self.context = nn.Sequential(*[conv_bn(w3, w3, 1, d) for d in dilations])
        self.dec = nn.Sequential(conv_bn(w3 + w2, wd), conv_bn(wd, wd))
        self.head = nn.Conv2d(wd, n_bins, 1)

    def forward(self, l_minus_50: torch.Tensor) -> torch.Tensor:
        x = l_minus_50 * (1.0 / 50.0)
        s1 = self.enc1(x)
        s2 = self.enc2(s1)
        c = self.context(self.enc3(s2))
        up = F.interpolate(c, size=s2.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.dec(torch.cat([up, s2], dim=1)))


class AnnealedMeanColorizer(nn.Module):
    """Export wrapper: L-50 (N x 1 x 224 x 224) -> ab (N x 2 x 56 x 56).

    ab = chroma * softmax((logits + log_bias) / T) . centres. `log_bias` (Q, optional) is a constant
    per-bin offset of the logits: -alpha * log(w) with w the class-rebalancing weights partly undoes the
    rebalancing at decode time (alpha = 0: none, 1: the unweighted posterior). `chroma` scales the
    decoded ab. All three are folded into the graph as constants.
    """

    def __init__(self, net: TinyColorNet, centres: np.ndarray, temperature: float, chroma: float = 1.0,
                 log_bias: np.ndarray | None = None):
        super().__init__()
        self.net = net
        self.inv_t = float(1.0 / temperature)
        w = torch.from_numpy(np.ascontiguousarray(centres.T * chroma, dtype=np.float32))  # 2 x Q
        self.register_buffer("centres", w[:, :, None, None].clone())
        if log_bias is None:
            self.log_bias = None
        else:
            b = torch.from_numpy(np.asarray(log_bias, dtype=np.float32).reshape(1, -1, 1, 1))
            self.register_buffer("log_bias", b.clone())

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        logits = self.net(L)
        if self.log_bias is not None:
            logits = logits + self.log_bias
        p = torch.softmax(logits * self.inv_t, dim=1)
        return F.conv2d(p, self.centres)


def build_net(n_bins: int, seed: int = 0, **kw) -> TinyColorNet:
    """The network with its seeded initialisation (torch.manual_seed(seed) before construction)."""
    torch.manual_seed(seed)
    return TinyColorNet(n_bins, **kw)


def count_macs(model: nn.Module, size: int = 224) -> int:
    """Multiply-accumulates of the conv layers (incl. the 1x1 decode conv of the wrapper) for one
    1 x 1 x size x size input. FLOPs ~= 2 x MACs."""
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
            total += int(out.numel() * k)

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    was = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, size, size))
    model.train(was)
    for h in hs:
        h.remove()
    if isinstance(model, AnnealedMeanColorizer):
        total += int(model.centres.shape[0] * model.centres.shape[1] * (size // 4) ** 2)
    return total


def export_onnx(wrapper: AnnealedMeanColorizer, path: str, opset: int = 17) -> None:
    """Write the wrapper as ONNX: input `L` N x 1 x 224 x 224, output `ab` N x 2 x 56 x 56, dynamic N."""
    import warnings

    wrapper = wrapper.eval()
    dummy = torch.zeros(1, 1, 224, 224)
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated but needs no onnxscript
        warnings.simplefilter("ignore", DeprecationWarning)
        _export(wrapper, dummy, path, opset)


def _export(wrapper, dummy, path, opset):
    torch.onnx.export(
        wrapper, (dummy,), path, input_names=["L"], output_names=["ab"],
        dynamic_axes={"L": {0: "N"}, "ab": {0: "N"}}, opset_version=opset, do_constant_folding=True,
        dynamo=False,
    )
