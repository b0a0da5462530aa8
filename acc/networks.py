"""Network architectures, in PyTorch: defined once, shared by the tools that build and convert models.

Imports torch, which is an optional extra ("convert", "train"): the acc package never imports this
module at start-up; tools and model conversion do.

ECCV16 (Zhang, Isola, Efros, "Colorful Image Colorization", ECCV 2016) follows the layout of the
official PyTorch release (richzhang/colorization, colorizers/eccv16.py) layer for layer, so that its
state dict (model1.0.weight ... model8.6.bias, model_out.weight) loads here unchanged. What the release's
forward does around the network, and how it maps onto acc's model contract (models/registry.yaml):

    release:  ab = 110 * upsample4(net((L - 50) / 100))      ab at the input size
    acc:      x = (L - 50) * 0.01   (l_offset 50, l_scale 0.01)
              ab = 110 * net(x)     (ab_scale 110), 56 x 56 for a 224 x 224 input

The x4 upsample is left out: every backend resizes ab straight to the photo's size (a single bilinear
step instead of the release's two).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

ECCV16_BINS = 313  # in-gamut ab bins of the ECCV16 classifier


def conv_block(channels: list[int], stride: int = 1, dilation: int = 1, norm: bool = True) -> nn.Sequential:
    """3 x 3 convs (with bias), each followed by ReLU; the last conv has `stride`; BatchNorm at the end.

    Layer indices are 0, 2, 4 ... for the convs and the last one for the norm, as in the release.
    """
    layers: list[nn.Module] = []
    pairs = list(zip(channels[:-1], channels[1:]))
    for i, (cin, cout) in enumerate(pairs):
        last = i == len(pairs) - 1
        layers += [
            nn.Conv2d(cin, cout, 3, stride=stride if last else 1, padding=dilation, dilation=dilation),
            nn.ReLU(inplace=True),
        ]
    if norm:
        layers.append(nn.BatchNorm2d(channels[-1]))
    return nn.Sequential(*layers)


class ECCV16(nn.Module):
    """(N, 1, H, W) normalized L = (L - 50) / 100 -> (N, 2, H / 4, W / 4) ab / 110.

    Blocks 1-3 halve the resolution, 4-7 keep it (5 and 6 dilated by 2), 8 doubles it and ends in
    313 bin logits; softmax over the bins and a 1 x 1 conv (the bins' ab centres) decode them to ab.
    """

    def __init__(self) -> None:
        super().__init__()
        self.model1 = conv_block([1, 64, 64], stride=2)
        self.model2 = conv_block([64, 128, 128], stride=2)
        self.model3 = conv_block([128, 256, 256, 256], stride=2)
        self.model4 = conv_block([256, 512, 512, 512])
        self.model5 = conv_block([512, 512, 512, 512], dilation=2)
        self.model6 = conv_block([512, 512, 512, 512], dilation=2)
        self.model7 = conv_block([512, 512, 512, 512])
        self.model8 = nn.Sequential(
            nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            *conv_block([256, 256, 256], norm=False),
            nn.Conv2d(256, ECCV16_BINS, 1),
        )
        self.softmax = nn.Softmax(dim=1)
        self.model_out = nn.Conv2d(ECCV16_BINS, 2, 1, bias=False)

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        x = l_norm
        for block in (self.model1, self.model2, self.model3, self.model4, self.model5, self.model6,
                      self.model7, self.model8):  # fmt: skip
            x = block(x)
        return self.model_out(self.softmax(x))


# Architectures by the names models/registry.yaml uses (`network:`), for the converter.
NETWORKS: dict[str, type[nn.Module]] = {"eccv16": ECCV16}


def randomize(net: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights that keep activations in a normal float range through any depth (He init, BN as
    identity), so timings are not distorted by denormals or overflow. Timing only: it colorizes nothing."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
                if isinstance(module, nn.ConvTranspose2d):
                    fan_in //= module.stride[0] * module.stride[1]  # each output sees 1 / stride^2 of the kernel
                module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()
                module.reset_running_stats()
    return net.eval()


def export_onnx(net: nn.Module, path: Path, size: tuple[int, int] = (224, 224), opset: int = 13) -> None:
    """Write `net` as ONNX with acc's names: input 'L' N x 1 x h x w, output 'ab'; the batch size N is free.

    Opset 13 by default: what ATC (Ascend) reads, and the first whose Softmax works along one axis.
    """
    torch.onnx.export(
        net.eval(), (torch.zeros(1, 1, *size),), str(path), input_names=["L"], output_names=["ab"],
        dynamic_axes={"L": {0: "N"}, "ab": {0: "N"}}, opset_version=opset, do_constant_folding=True, dynamo=False,
    )  # fmt: skip


class SIGGRAPH17(nn.Module):
    """(N, 1, H, W) normalized L, optional hints -> (N, 2, H, W) ab / 110, at the input's resolution.

    Zhang, Zhu, Isola et al., "Real-Time User-Guided Image Colorization with Learned Deep Priors",
    SIGGRAPH 2017, in the layout of the official release (colorizers/siggraph17.py), so its state dict
    loads here unchanged. The release's forward around the network maps onto acc's contract as ECCV16's:

        release:  ab = 110 * net(cat((L - 50) / 100, ab_hints / 110, mask))
        acc:      x = (L - 50) * 0.01, ab = 110 * net(x), no hints (ab_hints = 0, mask = 0)

    H and W must be multiples of 8. Left out of the release: the classification head `model_class`
    (defined, never used; its weights are in the release file, see `release_extras`) and the second,
    identical pass through the conv9 / conv10 decoder at the end of its forward.
    """

    release_extras = ("model_class.",)  # state-dict entries of the release this definition does not use

    def __init__(self) -> None:
        super().__init__()
        # Encoder: as ECCV16's, but 4 input channels and every downsampling a [::2, ::2] in forward.
        self.model1 = conv_block([4, 64, 64])
        self.model2 = conv_block([64, 128, 128])
        self.model3 = conv_block([128, 256, 256, 256])
        self.model4 = conv_block([256, 512, 512, 512])
        self.model5 = conv_block([512, 512, 512, 512], dilation=2)
        self.model6 = conv_block([512, 512, 512, 512], dilation=2)
        self.model7 = conv_block([512, 512, 512, 512])
        # Decoder: each x2 deconv is added to a 3 x 3 shortcut from the encoder level of that resolution.
        self.model8up = nn.Sequential(nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1))
        self.model3short8 = nn.Sequential(nn.Conv2d(256, 256, 3, padding=1))
        self.model8 = nn.Sequential(nn.ReLU(inplace=True), *conv_block([256, 256, 256]))
        self.model9up = nn.Sequential(nn.ConvTranspose2d(256, 128, 4, stride=2, padding=1))
        self.model2short9 = nn.Sequential(nn.Conv2d(128, 128, 3, padding=1))
        self.model9 = nn.Sequential(nn.ReLU(inplace=True), *conv_block([128, 128]))
        self.model10up = nn.Sequential(nn.ConvTranspose2d(128, 128, 4, stride=2, padding=1))
        self.model1short10 = nn.Sequential(nn.Conv2d(64, 128, 3, padding=1))
        self.model10 = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(128, 128, 3, padding=1), nn.LeakyReLU(0.2))
        self.model_out = nn.Sequential(nn.Conv2d(128, 2, 1), nn.Tanh())

    def forward(self, l_norm: torch.Tensor, ab_hints: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """ab_hints: (N, 2, H, W) ab / 110 where the user gave a colour, mask: (N, 1, H, W) 1 there.
        Without them (acc's case) both are zero, computed from the input so the batch size stays free."""
        if ab_hints is None:
            ab_hints = torch.cat((l_norm * 0, l_norm * 0), dim=1)
        if mask is None:
            mask = l_norm * 0
        conv1_2 = self.model1(torch.cat((l_norm, ab_hints, mask), dim=1))
        conv2_2 = self.model2(conv1_2[:, :, ::2, ::2])
        conv3_3 = self.model3(conv2_2[:, :, ::2, ::2])
        x = conv3_3[:, :, ::2, ::2]
        for block in (self.model4, self.model5, self.model6, self.model7):
            x = block(x)
        x = self.model8(self.model8up(x) + self.model3short8(conv3_3))
        x = self.model9(self.model9up(x) + self.model2short9(conv2_2))
        x = self.model10(self.model10up(x) + self.model1short10(conv1_2))
        return self.model_out(x)


# The architectures by the name models/registry.yaml gives them (fetchable: network:).
NETWORKS: dict[str, type[nn.Module]] = {"eccv16": ECCV16, "siggraph17": SIGGRAPH17}
