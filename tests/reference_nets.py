"""The networks written out by hand in PyTorch: the test oracle of their description in acc/networks.py.

ECCV16 and SIGGRAPH17 transcribe the official release's modules (richzhang/colorization,
colorizers/eccv16.py and colorizers/siggraph17.py: the same nn.Sequential blocks, so the same
state-dict keys, and the same forward, SIGGRAPH17's taking its hints); TinyColorNet and ColorNet2 are
acc-tiny's and acc-tiny 2's networks as they were trained (tools/train_colorizer.py). acc itself never uses these classes: tests build
the same network from its description and require the same keys, shapes and outputs, so a slip in the
description (a missing ReLU, a wrong dilation) shows here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_block(channels: list[int], stride: int = 1, dilation: int = 1, norm: bool = True) -> nn.Sequential:
    """3 x 3 convs (with bias), each followed by ReLU; the last conv has `stride`; BatchNorm at the end."""
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
    """(N, 1, H, W) normalized L = (L - 50) / 100 -> (N, 2, H / 4, W / 4) ab / 110 (the release, before
    its x4 upsample and x110)."""

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
            nn.Conv2d(256, 313, 1),
        )
        self.softmax = nn.Softmax(dim=1)
        self.model_out = nn.Conv2d(313, 2, 1, bias=False)

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        x = l_norm
        for block in (self.model1, self.model2, self.model3, self.model4, self.model5, self.model6,
                      self.model7, self.model8):  # fmt: skip
            x = block(x)
        return self.model_out(self.softmax(x))


class SIGGRAPH17(nn.Module):
    """(N, 1, H, W) normalized L, ab hints / 110, mask -> (N, 2, H, W) ab / 110 (the release, before its x110;
    without its unused `model_class` head and the second pass through conv9 / conv10 its forward makes)."""

    def __init__(self) -> None:
        super().__init__()
        self.model1 = conv_block([4, 64, 64])
        self.model2 = conv_block([64, 128, 128])
        self.model3 = conv_block([128, 256, 256, 256])
        self.model4 = conv_block([256, 512, 512, 512])
        self.model5 = conv_block([512, 512, 512, 512], dilation=2)
        self.model6 = conv_block([512, 512, 512, 512], dilation=2)
        self.model7 = conv_block([512, 512, 512, 512])
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

    def forward(self, l_norm: torch.Tensor, ab_hints: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
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


def conv_bn(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TinyColorNet(nn.Module):
    """acc-tiny: N x 1 x H x W holding L - 50 -> N x Q x H/4 x W/4 bin logits."""

    def __init__(self, n_bins: int, w1: int = 32, w2: int = 64, w3: int = 128, wd: int = 64,
                 dilations=(1, 2, 4, 2, 1)):  # fmt: skip
        super().__init__()
        self.enc1 = nn.Sequential(conv_bn(1, w1, 2), conv_bn(w1, w1))
        self.enc2 = nn.Sequential(conv_bn(w1, w2, 2), conv_bn(w2, w2))
        self.enc3 = conv_bn(w2, w3, 2)
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


class ResBlock(nn.Module):
    """x + BN(conv3x3_d(ReLU(BN(conv3x3_d(x))))), then ReLU."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.conv1 = conv_bn(width, width, 1, dilation)
        self.conv2 = nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.bn2(self.conv2(self.conv1(x))))


class UpFuse(nn.Module):
    """1x1 conv of the coarse features, bilinear x2, plus the finer encoder features, 3x3 convs."""

    def __init__(self, cin: int, cout: int, n_convs: int = 1):
        super().__init__()
        self.lateral = nn.Conv2d(cin, cout, 1)
        self.fuse = nn.Sequential(*[conv_bn(cout, cout) for _ in range(n_convs)])

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(self.lateral(coarse), scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.fuse(up + skip)


class ColorNet2(nn.Module):
    """acc-tiny 2: N x 1 x H x W holding L - 50 -> N x Q x H/4 x W/4 bin logits, as it was trained."""

    def __init__(self, n_bins: int, widths=(32, 64, 128, 256, 384), dilations=(1, 2), head_convs: int = 2):
        super().__init__()
        w2, w4, w8, w16, w32 = widths
        self.stem = conv_bn(1, w2, 2)
        self.enc4 = nn.Sequential(conv_bn(w2, w4, 2), conv_bn(w4, w4))
        self.enc8 = nn.Sequential(conv_bn(w4, w8, 2), conv_bn(w8, w8))
        self.enc16 = nn.Sequential(conv_bn(w8, w16, 2), conv_bn(w16, w16))
        self.enc32 = conv_bn(w16, w32, 2)
        self.context = nn.Sequential(*[ResBlock(w32, d) for d in dilations])
        self.dec16 = UpFuse(w32, w16)
        self.dec8 = UpFuse(w16, w8)
        self.dec4 = UpFuse(w8, w4, head_convs)
        self.head = nn.Conv2d(w4, n_bins, 1)

    def forward(self, l_minus_50: torch.Tensor) -> torch.Tensor:
        x = l_minus_50 * (1.0 / 50.0)
        s4 = self.enc4(self.stem(x))
        s8 = self.enc8(s4)
        s16 = self.enc16(s8)
        c = self.context(self.enc32(s16))
        return self.head(self.dec4(self.dec8(self.dec16(c, s16), s8), s4))


def annealed_mean(logits: torch.Tensor, centres: torch.Tensor, temperature: float,
                  log_bias: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """acc-tiny's decode as its export wrapper computed it: softmax((logits + log_bias) / T) . centres,
    centres (Q, 2) already times the chroma factor."""
    if log_bias is not None:
        logits = logits + log_bias.reshape(1, -1, 1, 1)
    p = torch.softmax(logits * float(1.0 / temperature), dim=1)
    return F.conv2d(p, centres.T[:, :, None, None])
