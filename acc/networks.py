"""The networks acc converts, trains and exports, each described once in the form of acc/netspec.py.

No torch here: the description is data. `netspec.to_torch` makes the PyTorch module (training, tests),
`netspec.to_onnx` the ONNX graph (`acc models fetch`, the tools). Node names are the state-dict keys of
the released weights, so the official files load unchanged.

ECCV16 (Zhang, Isola, Efros, "Colorful Image Colorization", ECCV 2016) follows the official PyTorch
release (richzhang/colorization, colorizers/eccv16.py) layer for layer: its state dict is
model1.0.weight ... model8.6.bias, model_out.weight. What the release's forward does around the
network, and how that maps onto acc's model contract (models/registry.yaml):

    release:  ab = 110 * upsample4(net((L - 50) / 100))      ab at the input size
    acc:      x = (L - 50) * 0.01   (l_offset 50, l_scale 0.01)
              ab = 110 * net(x)     (ab_scale 110), 56 x 56 for a 224 x 224 input

The x4 upsample is left out: every backend resizes ab straight to the photo's size (a single bilinear
step instead of the release's two).

Adding a network: write a function returning a Net (a `Graph`, node names chosen as the state-dict
keys its weights use or should use), list it in NETWORKS if `acc models fetch` converts it, and test
it as tests/test_networks.py does: against a hand-written PyTorch module when there is one (same keys,
same outputs), and its ONNX against its PyTorch module. An op the vocabulary lacks goes into
acc/netspec.py once, in its three places (shapes, to_torch, to_onnx), with a case in
tests/test_netspec.py.
"""

from __future__ import annotations

from collections.abc import Callable

from acc.netspec import (Add, BatchNorm, Bias, Concat, Conv, ConvT, Graph, LeakyRelu, Net, Op, Relu, Scale, Softmax,
                         Subsample, Tanh, Upsample)  # fmt: skip

ECCV16_BINS = 313  # in-gamut ab bins of the ECCV16 classifier


def vgg_block(channels: list[int], stride: int = 1, dilation: int = 1, norm: bool = True) -> list[Op]:
    """3 x 3 convs (with bias), each followed by ReLU; the last conv has `stride`; BatchNorm at the end.

    As in the release's nn.Sequential blocks: convs at indices 0, 2, 4 ..., the norm last.
    """
    layers: list[Op] = []
    pairs = list(zip(channels[:-1], channels[1:]))
    for i, (cin, cout) in enumerate(pairs):
        s = stride if i == len(pairs) - 1 else 1
        layers += [Conv(cin, cout, 3, stride=s, pad=dilation, dilation=dilation), Relu()]
    return layers + [BatchNorm(channels[-1])] if norm else layers


def eccv16() -> Net:
    """(N, 1, H, W) normalized L = (L - 50) / 100 -> (N, 2, H / 4, W / 4) ab / 110.

    Blocks 1-3 halve the resolution, 4-7 keep it (5 and 6 dilated by 2), 8 doubles it and ends in
    313 bin logits; softmax over the bins and a 1 x 1 conv (the bins' ab centres) decode them to ab.
    """
    g = Graph(in_channels=1)
    g.seq("model1", *vgg_block([1, 64, 64], stride=2))
    g.seq("model2", *vgg_block([64, 128, 128], stride=2))
    g.seq("model3", *vgg_block([128, 256, 256, 256], stride=2))
    g.seq("model4", *vgg_block([256, 512, 512, 512]))
    g.seq("model5", *vgg_block([512] * 4, dilation=2))
    g.seq("model6", *vgg_block([512] * 4, dilation=2))
    g.seq("model7", *vgg_block([512] * 4))
    g.seq("model8", ConvT(512, 256, 4, stride=2, pad=1), Relu(), *vgg_block([256, 256, 256], norm=False),
          Conv(256, ECCV16_BINS, 1))  # fmt: skip
    g.layer("softmax", Softmax())
    g.layer("model_out", Conv(ECCV16_BINS, 2, 1, bias=False))
    return g.net("eccv16")


def siggraph17() -> Net:
    """(N, 1, H, W) normalized L -> (N, 2, H, W) ab / 110, at the input's resolution; H, W multiples of 8.

    Zhang, Zhu, Isola et al., "Real-Time User-Guided Image Colorization with Learned Deep Priors",
    SIGGRAPH 2017, in the layout of the official release (colorizers/siggraph17.py). Its forward maps
    onto acc's contract as ECCV16's:

        release:  ab = 110 * net(cat((L - 50) / 100, ab_hints / 110, mask))
        acc:      x = (L - 50) * 0.01, ab = 110 * net(x), no hints (ab_hints = 0, mask = 0)

    The graph makes the empty hints itself (L * 0), so its only input is L. Left out of the release: the
    classification head `model_class` (defined, never used; its weights are in the release file, hence
    `ignored`) and the second, identical pass through the conv9 / conv10 decoder at the end of its forward.
    """
    g = Graph(in_channels=1)
    zero = g.layer("no_hints", Scale(0.0))
    g.layer("with_hints", Concat(), g.input, zero, zero, zero)  # L, ab hints (2 channels), mask
    # Encoder: as ECCV16's, but every downsampling is a [:, :, ::2, ::2] after the block.
    conv1_2 = g.seq("model1", *vgg_block([4, 64, 64]))
    conv2_2 = g.seq("model2", *vgg_block([64, 128, 128]), after=g.layer("conv1_2_down", Subsample(2)))
    conv3_3 = g.seq("model3", *vgg_block([128, 256, 256, 256]), after=g.layer("conv2_2_down", Subsample(2)))
    g.layer("conv3_3_down", Subsample(2))
    g.seq("model4", *vgg_block([256, 512, 512, 512]))
    g.seq("model5", *vgg_block([512] * 4, dilation=2))
    g.seq("model6", *vgg_block([512] * 4, dilation=2))
    x = g.seq("model7", *vgg_block([512] * 4))

    def decoder(level: int, x: str, cin: int, cout: int, short: str, short_level: int, cshort: int) -> str:
        """model{level}up: x2 deconv of x, plus model{short_level}short{level}: 3 x 3 conv of encoder value
        `short`, at the same resolution; returns their sum, the input of block model{level}."""
        up = g.seq(f"model{level}up", ConvT(cin, cout, 4, stride=2, pad=1), after=x)
        shortcut = g.seq(f"model{short_level}short{level}", Conv(cshort, cout, 3, pad=1), after=short)
        return g.layer(f"model{level}_in", Add(), up, shortcut)

    x = g.seq("model8", Relu(), *vgg_block([256, 256, 256]), after=decoder(8, x, 512, 256, conv3_3, 3, 256))
    x = g.seq("model9", Relu(), *vgg_block([128, 128]), after=decoder(9, x, 256, 128, conv2_2, 2, 128))
    x = g.seq("model10", Relu(), Conv(128, 128, 3, pad=1), LeakyRelu(0.2),
              after=decoder(10, x, 128, 128, conv1_2, 1, 64))  # fmt: skip
    g.seq("model_out", Conv(128, 2, 1), Tanh())
    return g.net("siggraph17", ignored=("model_class.",))


def conv_bn(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> list[Op]:
    """acc-tiny's unit: 3 x 3 conv without bias, BatchNorm, ReLU."""
    return [Conv(cin, cout, 3, stride=stride, pad=dilation, dilation=dilation, bias=False), BatchNorm(cout), Relu()]


def acc_tiny(n_bins: int, w1: int = 32, w2: int = 64, w3: int = 128, wd: int = 64,
             dilations: tuple[int, ...] = (1, 2, 4, 2, 1)) -> Net:  # fmt: skip
    """acc-tiny's network: (N, 1, H, W) L - 50 -> (N, n_bins, H / 4, W / 4) ab-bin logits; H, W multiples of 8.

    Encoder: 3 x 3 convs with BN + ReLU, strided to 1/2 (w1), 1/4 (w2, the skip level) and 1/8 (w3);
    context: dilated 3 x 3 convs at 1/8; decoder: bilinear x2 to 1/4, concat with the 1/4 encoder
    features, two 3 x 3 convs, 1 x 1 conv to the logits. Trained by tools/train_colorizer.py; exported
    with the decode head of `annealed_mean`.
    """
    g = Graph(in_channels=1)
    g.layer("in_scale", Scale(1.0 / 50.0))  # L - 50 -> about -1..1
    g.seq("enc1", conv_bn(1, w1, 2), conv_bn(w1, w1))  # 1/2
    skip = g.seq("enc2", conv_bn(w1, w2, 2), conv_bn(w2, w2))  # 1/4
    g.seq("enc3", *conv_bn(w2, w3, 2))  # 1/8
    g.seq("context", *[conv_bn(w3, w3, 1, d) for d in dilations])
    g.layer("dec_in", Concat(), g.layer("up", Upsample(2)), skip)
    g.seq("dec", conv_bn(w3 + w2, wd), conv_bn(wd, wd))
    g.layer("head", Conv(wd, n_bins, 1))
    return g.net("acc_tiny")


def acc_tiny2(n_bins: int, widths: tuple[int, ...] = (32, 64, 128, 256, 384), dilations: tuple[int, ...] = (1, 2),
              head_convs: int = 2) -> Net:  # fmt: skip
    """acc-tiny 2's network: (N, 1, H, W) L - 50 -> (N, n_bins, H / 4, W / 4) ab-bin logits; H, W multiples of 32.

    Encoder: 3 x 3 convs with BN + ReLU, each level entered by a stride-2 conv, down to 1/32 (7 x 7 at 224),
    where residual blocks of two dilated 3 x 3 convs (one block per dilation) see the whole photo. Decoder:
    back up to 1/4 in three steps, each a 1 x 1 conv of the coarse features (before the bilinear x2: both
    are linear and commute, and it costs a quarter there), plus the encoder's features of the finer level,
    then 3 x 3 convs with BN + ReLU; a 1 x 1 conv to the logits. Dense convs only (ONNX Runtime's CPU
    kernels run depthwise ones slowly per FLOP); most parameters sit at 1/16 and 1/32, where a parameter
    costs the fewest multiply-adds. Node names are the state-dict keys of the module it was trained as.
    """
    w2, w4, w8, w16, w32 = widths
    g = Graph(in_channels=1)
    g.layer("in_scale", Scale(1.0 / 50.0))  # L - 50 -> about -1..1
    g.seq("stem", *conv_bn(1, w2, 2))  # 1/2
    s4 = g.seq("enc4", conv_bn(w2, w4, 2), conv_bn(w4, w4))
    s8 = g.seq("enc8", conv_bn(w4, w8, 2), conv_bn(w8, w8))
    s16 = g.seq("enc16", conv_bn(w8, w16, 2), conv_bn(w16, w16))
    g.seq("enc32", *conv_bn(w16, w32, 2))
    for i, d in enumerate(dilations):  # x + BN(conv(ReLU(BN(conv(x))))), then ReLU
        block, x = f"context.{i}", g.last
        g.seq(f"{block}.conv1", *conv_bn(w32, w32, 1, d))
        g.layer(f"{block}.conv2", Conv(w32, w32, 3, pad=d, dilation=d, bias=False))
        g.layer(f"{block}.bn2", BatchNorm(w32))
        g.layer(f"{block}.relu", Relu(), g.layer(f"{block}.sum", Add(), g.last, x))
    for step, cin, cout, skip, convs in (("dec16", w32, w16, s16, 1), ("dec8", w16, w8, s8, 1),
                                         ("dec4", w8, w4, s4, head_convs)):  # fmt: skip
        g.layer(f"{step}.lateral", Conv(cin, cout, 1))
        g.layer(f"{step}.sum", Add(), g.layer(f"{step}.up", Upsample(2)), skip)
        g.seq(f"{step}.fuse", *[conv_bn(cout, cout) for _ in range(convs)])
    g.layer("head", Conv(w4, n_bins, 1))
    return g.net("acc_tiny2")


def annealed_mean(logits: Net, n_bins: int, temperature: float, prior: bool = False) -> Net:
    """`logits` followed by the annealed-mean decode (Zhang et al. 2016): ab = softmax((z + prior) / T) . centres.

    Its tensors: "decode.weight" (2, n_bins, 1, 1), the bins' ab centres (times any chroma factor), and
    with `prior` "prior.bias" (n_bins), a constant per-bin offset of the logits.
    """
    g = Graph.extend(logits)
    if prior:
        g.layer("prior", Bias(n_bins))
    g.layer("anneal", Scale(1.0 / temperature))
    g.layer("softmax", Softmax())
    g.layer("decode", Conv(n_bins, 2, 1, bias=False))
    return g.net(f"{logits.name}_annealed_mean")


# The fetchable networks by the name models/registry.yaml gives them (fetchable: network:).
NETWORKS: dict[str, Callable[[], Net]] = {"eccv16": eccv16, "siggraph17": siggraph17}
