"""acc/netspec.py: every op of the vocabulary means the same in PyTorch and in ONNX; descriptions and
weights that do not hold together are refused with the node named."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from acc import netspec
from acc.netspec import (Add, BatchNorm, Bias, Concat, Conv, ConvT, Graph, LeakyRelu, Node, Net, Relu, Scale,
                         Softmax, SpecError, Subsample, Tanh, Upsample)  # fmt: skip

TOL = 1e-5  # float32, values of order 1


def every_op() -> Net:
    """A small network using the whole vocabulary, in the shapes acc's networks use them: a depthwise-
    separable residual block, a dilated conv, a strided and an odd-sized subsample, a transposed conv with
    output padding, a concat skip, both upsample modes, and a decode head (softmax . fixed 1 x 1 conv)."""
    g = Graph(in_channels=1)
    g.layer("in_scale", Scale(0.02))
    stem = g.seq("stem", Conv(1, 8, 3, stride=2, pad=1), BatchNorm(8), Relu())
    g.seq("dw", Conv(8, 8, 3, pad=1, groups=8, bias=False), BatchNorm(8), Relu(), Conv(8, 8, 1), BatchNorm(8))
    res = g.layer("res", Add(), g.last, stem)
    g.seq("ctx", Subsample(2), Conv(8, 12, 3, pad=2, dilation=2), LeakyRelu(0.2), after=res)
    g.seq("up", ConvT(12, 8, 3, stride=2, pad=1, out_pad=1), Tanh())
    g.layer("skip", Concat(), g.last, res)
    g.seq("head", Conv(16, 10, 1), Bias(10), Upsample(2, "nearest"), Subsample(3), Upsample(3, "bilinear"))
    g.seq("decode", Scale(1 / 0.4), Softmax(), Conv(10, 2, 1, bias=False))
    return g.net("every_op")


def random_state(net: Net, seed: int = 0) -> dict[str, np.ndarray]:
    """random_weights with BatchNorm and Bias made non-trivial, so that they are tested too."""
    rng = np.random.default_rng(seed)
    state = netspec.random_weights(net, seed)
    for key, value in state.items():
        if key.endswith(("running_mean", ".bias")):
            state[key] = rng.normal(0, 0.3, value.shape).astype(np.float32)
        elif value.ndim == 1:  # BatchNorm's weight and running_var
            state[key] = rng.uniform(0.5, 1.5, value.shape).astype(np.float32)
    return state


def run_both(net: Net, state: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    module = netspec.to_torch(net)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    with torch.no_grad():
        ref = module.eval()(torch.from_numpy(x)).numpy()
    model = netspec.to_onnx(net, state, x.shape[2:])
    onnx.checker.check_model(model)
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(["ab"], {"L": x})[0]
    return ref, got


@pytest.mark.parametrize("size", [(24, 36), (28, 20)])  # odd sizes after both subsamples on (28, 20)
def test_every_op_means_the_same_in_torch_and_onnx(size: tuple[int, int]) -> None:
    net = every_op()
    x = np.random.default_rng(1).uniform(-50, 50, (2, 1, *size)).astype(np.float32)  # batch of 2: N is free
    ref, got = run_both(net, random_state(net), x)
    assert got.shape == ref.shape == (2, *netspec.shapes(net, size)[net.output])
    assert np.ptp(ref) > 0.1  # the output depends on the input
    assert np.abs(got - ref).max() < TOL


def test_state_dict_keys_are_node_names() -> None:
    net = every_op()
    keys = set(netspec.to_torch(net).state_dict())
    assert keys == set(netspec.tensors(net)) | netspec.optional_tensors(net)
    assert {"stem.0.weight", "dw.1.running_var", "dw.1.num_batches_tracked", "head.1.bias", "decode.2.weight"} <= keys
    nested = Graph(1)
    nested.seq("enc1", [Conv(1, 2, 3, pad=1), Relu()], [Conv(2, 2, 3, pad=1)])
    assert [n.name for n in nested.net("n").nodes] == ["enc1.0.0", "enc1.0.1", "enc1.1.0"]


def test_macs_count_what_the_convolutions_do() -> None:
    """netspec.macs against hooks on the PyTorch module (Conv per output pixel, ConvT per input pixel)."""
    net = every_op()
    module = netspec.to_torch(net)
    counted = 0

    def hook(layer, inputs, output) -> None:
        nonlocal counted
        pixels = inputs[0][0].numel() if isinstance(layer, torch.nn.ConvTranspose2d) else output[0].numel()
        counted += pixels * layer.weight[0].numel()

    for layer in module.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            layer.register_forward_hook(hook)
    with torch.no_grad():
        module(torch.zeros(1, 1, 24, 36))
    assert netspec.macs(net, (24, 36)) == counted > 0


@pytest.mark.parametrize(
    "nodes, message",
    [
        ([Node("a", Conv(2, 4, 3), ("L",))], "node 'a': Conv of 2 channels in groups of 1 gets 1"),
        ([Node("a", Conv(1, 4, 3, groups=2), ("L",))], "node 'a': Conv of 1 channels in groups of 2"),
        ([Node("a", Relu(), ("L",)), Node("a", Relu(), ("a",))], "node 'a': the name is taken"),
        ([Node("a", Relu(), ("x",))], "node 'a': unknown input 'x'"),
        ([Node("a", Add(), ("L", "L", "L"))], "Add does not take 3 inputs"),
        ([Node("a", Relu(), ("L", "L"))], "Relu does not take 2 inputs"),
        ([Node("a", Conv(1, 2, 3, stride=2), ("L",)), Node("b", Add(), ("a", "L"))], "node 'b': Add of"),
        ([Node("a", Upsample(2, "cubic"), ("L",))], "bilinear or nearest"),
        ([Node("a", Subsample(0), ("L",))], "not a positive integer"),
        ([Node("a", BatchNorm(3), ("L",))], "BatchNorm of 3 channels gets 1"),
        ([Node("a", Conv(1, 1, 300), ("L",))], "too small"),
        ([Node("a", "relu", ("L",))], "'relu' is not an op"),
    ],
)
def test_descriptions_that_do_not_hold_together_are_refused(nodes: list[Node], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        Net("bad", 1, tuple(nodes))


def test_sizes_the_network_cannot_take_are_refused() -> None:
    """(26, 30): the transposed conv doubles 7 x 8 to 14 x 16, the skip it joins is 13 x 15."""
    net = every_op()
    with pytest.raises(SpecError, match=r"node 'skip': Concat of \[\(14, 16\), \(13, 15\)\]"):
        netspec.to_onnx(net, netspec.random_weights(net), (26, 30))


def test_weights_that_do_not_fit_are_refused() -> None:
    net = every_op()
    good = netspec.random_weights(net)
    netspec.check_weights(net, good)
    cases = [
        ({k: v for k, v in good.items() if k != "dw.0.weight"}, r"1 tensors missing \['dw.0.weight'\]"),
        ({**good, "extra.weight": good["dw.0.weight"]}, r"1 unexpected \['extra.weight'\]"),
        ({**good, "dw.0.weight": good["dw.0.weight"][:4]}, r"dw.0.weight has shape \(4, 1, 3, 3\), the network needs"),
        ({**good, "head.1.bias": np.zeros(10, np.int64)}, "not floating point"),
    ]
    for weights, message in cases:
        with pytest.raises(SpecError, match=message):
            netspec.to_onnx(net, weights, (24, 36))
    netspec.check_weights(net, {**good, "stem.1.num_batches_tracked": np.zeros((), np.int64)})  # optional


def test_random_weights_are_he_initialised() -> None:
    net = every_op()
    w = netspec.random_weights(net, seed=3)
    assert np.array_equal(w["stem.0.weight"], netspec.random_weights(net, seed=3)["stem.0.weight"])  # seeded
    assert w["ctx.1.weight"].std() == pytest.approx((2 / (8 * 9)) ** 0.5, rel=0.1)
    assert (w["stem.1.weight"] == 1).all() and (w["stem.1.running_mean"] == 0).all() and (w["head.0.bias"] == 0).all()
