"""A small declarative form for acc's convolutional networks, and the two things made from it.

A network is written once, as data: a `Net` is a list of named `Node`s, each an operation of the
vocabulary below applied to earlier values. From that description

* `to_torch(net)` makes a PyTorch module (training, tests; torch is imported only here), whose
  state-dict keys are the node names: a `Conv` node named "model1.0" holds "model1.0.weight" and
  "model1.0.bias", as an nn.Sequential at index 0 of a module attribute "model1" would;
* `to_onnx(net, weights, size)` makes an ONNX graph with onnx.helper alone (no torch), the weights
  being plain numpy arrays under those same keys.

Both read the same nodes, so the architecture is stated once. Only numpy is imported at module level.

Vocabulary (images are N x C x H x W; each op lists its tensors, its PyTorch and its ONNX meaning):

    Conv(cin, cout, k, stride, pad, dilation, groups, bias)  weight (cout, cin/groups, k, k), bias (cout)
                                       nn.Conv2d                     Conv
    ConvT(cin, cout, k, stride, pad, out_pad, bias)          weight (cin, cout, k, k), bias (cout)
                                       nn.ConvTranspose2d            ConvTranspose
    BatchNorm(channels, eps)           weight, bias, running_mean, running_var (channels); inference:
                                       y = (x - mean) / sqrt(var + eps) * weight + bias
                                       nn.BatchNorm2d                BatchNormalization
    Bias(channels)                     bias (channels): y = x + bias[c]         (Add)
    Relu(), LeakyRelu(slope), Tanh()   elementwise                   Relu, LeakyRelu, Tanh
    Softmax()                          over the channels (dim 1)     Softmax axis 1
    Scale(factor)                      y = x * factor, a constant    Mul
    Add()                              elementwise sum of two values Add
    Concat()                           along the channels            Concat axis 1
    Upsample(factor, mode)             x factor (integer), "bilinear" (align_corners False, i.e. half-pixel
                                       centres) or "nearest"         Resize
    Subsample(step)                    x[:, :, ::step, ::step]       Slice

A fixed decode head (acc-tiny's annealed mean, softmax(logits / T) . centres) is Scale, Softmax and a
1 x 1 Conv without bias whose weight holds the centres: constants are weights like any other.

Writing a network: `Graph` appends nodes. `g.seq("model1", Conv(...), Relu(), ...)` chains layers
after the last value and names them "model1.0", "model1.1", ... (a nested list is a nested
Sequential: "enc1.0.0"); `g.layer("model_out", Conv(...))` adds one named node; joins take the names
of their inputs: `g.layer("sum8", Add(), a, b)`. Every method returns the name of the value it made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np


class SpecError(ValueError):
    """A description that does not hold together, or weights that do not fit it."""


# ------------------------------------------------------------------------------------ vocabulary
@dataclass(frozen=True)
class Conv:
    cin: int
    cout: int
    k: int
    stride: int = 1
    pad: int = 0
    dilation: int = 1
    groups: int = 1  # cin == cout == groups: depthwise
    bias: bool = True


@dataclass(frozen=True)
class ConvT:
    cin: int
    cout: int
    k: int
    stride: int = 1
    pad: int = 0
    out_pad: int = 0
    bias: bool = True


@dataclass(frozen=True)
class BatchNorm:
    channels: int
    eps: float = 1e-5


@dataclass(frozen=True)
class Bias:
    channels: int


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class LeakyRelu:
    slope: float


@dataclass(frozen=True)
class Tanh:
    pass


@dataclass(frozen=True)
class Softmax:
    pass


@dataclass(frozen=True)
class Scale:
    factor: float


@dataclass(frozen=True)
class Add:
    pass


@dataclass(frozen=True)
class Concat:
    pass


@dataclass(frozen=True)
class Upsample:
    factor: int
    mode: str = "bilinear"  # or "nearest"


@dataclass(frozen=True)
class Subsample:
    step: int


Op = Conv | ConvT | BatchNorm | Bias | Relu | LeakyRelu | Tanh | Softmax | Scale | Add | Concat | Upsample | Subsample


@dataclass(frozen=True)
class Node:
    name: str  # the value it makes; for an op with tensors also their state-dict prefix
    op: Op
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class Net:
    """A network: one input image of `in_channels` named `input`, nodes in order, the last is the output.

    `ignored`: state-dict prefixes a released weights file holds that this description does not use.
    Checked when made: unique names, inputs made before use, channel counts that chain.
    """

    name: str
    in_channels: int
    nodes: tuple[Node, ...]
    input: str = "L"
    ignored: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        known = {self.input}
        for node in self.nodes:
            where = f"{self.name} node '{node.name}'"
            if node.name in known:
                raise SpecError(f"{where}: the name is taken")
            if unknown := [i for i in node.inputs if i not in known]:
                raise SpecError(f"{where}: unknown input {unknown[0]!r}")
            arity = 2 if isinstance(node.op, Add) else len(node.inputs) if isinstance(node.op, Concat) else 1
            if len(node.inputs) != arity or not node.inputs:
                raise SpecError(f"{where}: {type(node.op).__name__} does not take {len(node.inputs)} inputs")
            known.add(node.name)
        if not self.nodes:
            raise SpecError(f"{self.name}: no nodes")
        shapes(self, (256, 256))  # channels chain (any size the network takes would do)

    @property
    def output(self) -> str:
        return self.nodes[-1].name


@dataclass
class Graph:
    """Builds a Net node by node (see the module docstring)."""

    in_channels: int
    input: str = "L"
    nodes: list[Node] = field(default_factory=list)

    @classmethod
    def extend(cls, net: Net) -> Graph:
        """A Graph that continues `net` after its output."""
        return cls(net.in_channels, net.input, list(net.nodes))

    @property
    def last(self) -> str:
        return self.nodes[-1].name if self.nodes else self.input

    def layer(self, name: str, op: Op, *inputs: str) -> str:
        """Add `op` as value `name`, applied to `inputs` (default: the last value). Checked by net()."""
        self.nodes.append(Node(name, op, tuple(inputs or (self.last,))))
        return name

    def seq(self, prefix: str, *layers: Op | list, after: str | None = None) -> str:
        """Chain `layers` after value `after` (default: the last value), named prefix.0, prefix.1, ..."""
        x = after or self.last
        for i, layer in enumerate(layers):
            if isinstance(layer, (list, tuple)):
                x = self.seq(f"{prefix}.{i}", *layer, after=x)
            else:
                x = self.layer(f"{prefix}.{i}", layer, x)
        return x

    def net(self, name: str, ignored: tuple[str, ...] = ()) -> Net:
        return Net(name, self.in_channels, tuple(self.nodes), self.input, ignored)


# ------------------------------------------------------------------------------- shapes, tensors
def shapes(net: Net, size: tuple[int, int]) -> dict[str, tuple[int, int, int]]:
    """(C, H, W) of every value for one input image of (h, w); SpecError where channels or sizes do not fit."""
    out: dict[str, tuple[int, int, int]] = {net.input: (net.in_channels, *size)}
    for node in net.nodes:
        ins = [out[i] for i in node.inputs]
        c, h, w = ins[0]
        where = f"{net.name} node '{node.name}'"
        match node.op:
            case Conv(cin, cout, k, s, p, d, g):
                if c != cin or cin % g or cout % g:
                    raise SpecError(f"{where}: Conv of {cin} channels in groups of {g} gets {c}")
                span = d * (k - 1) + 1
                out[node.name] = (cout, (h + 2 * p - span) // s + 1, (w + 2 * p - span) // s + 1)
            case ConvT(cin, cout, k, s, p, op_):
                if c != cin:
                    raise SpecError(f"{where}: ConvT of {cin} channels gets {c}")
                out[node.name] = (cout, (h - 1) * s - 2 * p + k + op_, (w - 1) * s - 2 * p + k + op_)
            case BatchNorm(channels) | Bias(channels):
                if c != channels:
                    raise SpecError(f"{where}: {type(node.op).__name__} of {channels} channels gets {c}")
                out[node.name] = (c, h, w)
            case Upsample(f, mode):
                if mode not in ("bilinear", "nearest") or not (isinstance(f, int) and f >= 1):
                    raise SpecError(f"{where}: Upsample by {f!r}, {mode!r}: an integer factor, bilinear or nearest")
                out[node.name] = (c, h * f, w * f)
            case Subsample(s):
                if not (isinstance(s, int) and s >= 1):
                    raise SpecError(f"{where}: Subsample step {s!r} is not a positive integer")
                out[node.name] = (c, -(-h // s), -(-w // s))
            case Add():
                if ins[0] != ins[1]:
                    raise SpecError(f"{where}: Add of {ins[0]} and {ins[1]}")
                out[node.name] = (c, h, w)
            case Concat():
                if any(x[1:] != (h, w) for x in ins):
                    raise SpecError(f"{where}: Concat of {[x[1:] for x in ins]}")
                out[node.name] = (sum(x[0] for x in ins), h, w)
            case Relu() | LeakyRelu() | Tanh() | Softmax() | Scale():
                out[node.name] = (c, h, w)
            case _:
                raise SpecError(f"{where}: {node.op!r} is not an op of acc.netspec's vocabulary")
        if min(out[node.name][1:]) < 1:
            raise SpecError(f"{where}: the input of {size} is too small")
    return out


def node_tensors(node: Node) -> dict[str, tuple[int, ...]]:
    """The state-dict entries of one node (name -> shape); none for ops without tensors."""
    match node.op:
        case Conv(cin, cout, k, groups=g, bias=b):
            shapes_ = {"weight": (cout, cin // g, k, k)} | ({"bias": (cout,)} if b else {})
        case ConvT(cin, cout, k, bias=b):
            shapes_ = {"weight": (cin, cout, k, k)} | ({"bias": (cout,)} if b else {})
        case BatchNorm(c):
            shapes_ = {t: (c,) for t in ("weight", "bias", "running_mean", "running_var")}
        case Bias(c):
            shapes_ = {"bias": (c,)}
        case _:
            shapes_ = {}
    return {f"{node.name}.{t}": shape for t, shape in shapes_.items()}


def tensors(net: Net) -> dict[str, tuple[int, ...]]:
    """The state-dict entries the network needs (name -> shape), in node order."""
    return {k: v for node in net.nodes for k, v in node_tensors(node).items()}


def optional_tensors(net: Net) -> set[str]:
    """Entries a state dict may hold that inference does not use: BatchNorm's batch counter."""
    return {f"{n.name}.num_batches_tracked" for n in net.nodes if isinstance(n.op, BatchNorm)}


def check_weights(net: Net, weights: Mapping[str, np.ndarray]) -> None:
    """SpecError unless `weights` (arrays by state-dict key) hold exactly the network's tensors
    with its shapes, floating point; entries under `net.ignored` and the optional ones are let through."""
    need = tensors(net)
    extra = [k for k in weights if k not in need and k not in optional_tensors(net) and not k.startswith(net.ignored)]
    missing = [k for k in need if k not in weights]
    if missing or extra:
        raise SpecError(f"{len(missing)} tensors missing {missing[:2]}, {len(extra)} unexpected {extra[:2]}")
    for key, shape in need.items():
        got = tuple(weights[key].shape)
        if got != shape:
            raise SpecError(f"{key} has shape {got}, the network needs {shape}")
        if np.dtype(weights[key].dtype).kind != "f":
            raise SpecError(f"{key} holds {weights[key].dtype}, not floating point numbers")


def macs(net: Net, size: tuple[int, int]) -> int:
    """Multiply-accumulates of the convolutions for one image: per output pixel for Conv, per input pixel
    for ConvT (each input pixel meets the whole kernel once)."""
    shape = shapes(net, size)
    total = 0
    for node in net.nodes:
        match node.op:
            case Conv(cin, cout, k, groups=g):
                total += int(np.prod(shape[node.name])) * cin // g * k * k
            case ConvT(cin, cout, k):
                total += int(np.prod(shape[node.inputs[0]])) * cout * k * k
    return total


def random_weights(net: Net, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights that keep activations in a normal float range through any depth: He-normal convolutions,
    zero biases, BatchNorm as identity. For timing and tests: they colorize nothing."""
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}
    for node in net.nodes:
        for key, shape in node_tensors(node).items():
            if key.endswith((".bias", ".running_mean")):
                weights[key] = np.zeros(shape, np.float32)
            elif isinstance(node.op, BatchNorm):  # weight, running_var
                weights[key] = np.ones(shape, np.float32)
            else:  # a convolution's weight: fan_in is what one output sums over
                fan_in = int(np.prod(shape[1:]))
                if isinstance(node.op, ConvT):  # (cin, cout, k, k), and each output sees 1 / stride^2 of it
                    fan_in = shape[0] * shape[2] * shape[3] // node.op.stride**2
                weights[key] = rng.standard_normal(shape, np.float32) * np.float32((2.0 / fan_in) ** 0.5)
    return weights


# ------------------------------------------------------------------------------------ PyTorch
def to_torch(net: Net) -> Any:
    """The network as a torch.nn.Module (default PyTorch initialisation, in node order: seeding torch before
    this call fixes the weights). Its state-dict keys are `tensors(net)` plus BatchNorm's batch counters."""
    return _torch_class()(net)


@cache
def _torch_class() -> type:
    import torch
    import torch.nn.functional as F
    from torch import nn

    class BiasLayer(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(channels))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.bias[:, None, None]

    def module(op: Op) -> nn.Module | None:
        match op:
            case Conv(cin, cout, k, s, p, d, g, b):
                return nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=b)
            case ConvT(cin, cout, k, s, p, op_, b):
                return nn.ConvTranspose2d(cin, cout, k, stride=s, padding=p, output_padding=op_, bias=b)
            case BatchNorm(c, eps):
                return nn.BatchNorm2d(c, eps=eps)
            case Bias(c):
                return BiasLayer(c)
        return None

    def apply(op: Op, layer: nn.Module | None, xs: list[torch.Tensor]) -> torch.Tensor:
        match op:
            case Relu():
                return F.relu(xs[0])
            case LeakyRelu(slope):
                return F.leaky_relu(xs[0], slope)
            case Tanh():
                return torch.tanh(xs[0])
            case Softmax():
                return torch.softmax(xs[0], dim=1)
            case Scale(factor):
                return xs[0] * factor
            case Add():
                return xs[0] + xs[1]
            case Concat():
                return torch.cat(xs, dim=1)
            case Upsample(f, "bilinear"):
                return F.interpolate(xs[0], scale_factor=f, mode="bilinear", align_corners=False)
            case Upsample(f, "nearest"):
                return F.interpolate(xs[0], scale_factor=f, mode="nearest")
            case Subsample(s):
                return xs[0][:, :, ::s, ::s]
        assert layer is not None, op
        return layer(xs[0])

    class TorchNet(nn.Module):
        """A Net run node by node; each value is dropped after its last use."""

        def __init__(self, net: Net) -> None:
            super().__init__()
            self.spec = net
            self.layers: dict[str, nn.Module] = {}
            for node in net.nodes:
                if (layer := module(node.op)) is not None:
                    self._place(node.name, layer)
            last_use = {i: n.name for n in net.nodes for i in n.inputs}
            self._drop = {n.name: [v for v, at in last_use.items() if at == n.name] for n in net.nodes}

        def _place(self, path: str, layer: nn.Module) -> None:
            """Register `layer` at dotted `path` ("model1.0"), making plain containers on the way."""
            *parents, leaf = path.split(".")
            parent: nn.Module = self
            for part in parents:
                if part not in parent._modules:
                    parent.add_module(part, nn.Module())
                parent = parent._modules[part]
            parent.add_module(leaf, layer)
            self.layers[path] = layer

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            values = {self.spec.input: x}
            for node in self.spec.nodes:
                values[node.name] = apply(node.op, self.layers.get(node.name), [values[i] for i in node.inputs])
                for name in self._drop[node.name]:
                    del values[name]
            return values[self.spec.output]

    return TorchNet


# --------------------------------------------------------------------------------------- ONNX
def to_onnx(net: Net, weights: Mapping[str, np.ndarray], size: tuple[int, int], input_name: str = "L",
            output_name: str = "ab", opset: int = 13) -> Any:  # fmt: skip
    """The network as an onnx.ModelProto: input `input_name` N x C x h x w (h, w = size; the batch size N is
    free), output `output_name`; `weights` by state-dict key (any float dtype; stored as float32)."""
    from onnx import TensorProto, helper, numpy_helper

    check_weights(net, weights)
    shape = shapes(net, size)
    rename = {net.input: input_name, net.output: output_name}
    inp = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", net.in_channels, *size])
    out = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", *shape[net.output]])
    model = helper.make_model(helper.make_graph([], net.name, [inp], [out]), producer_name="acc",
                              opset_imports=[helper.make_opsetid("", opset)])  # fmt: skip
    model.ir_version = 7  # the IR of opset 13: readable by older ONNX Runtimes and by ATC
    graph = model.graph  # filled in place: make_graph and make_model would copy every weight once more

    def const(name: str, value: Any, dtype: type = np.float32) -> str:
        graph.initializer.add().CopyFrom(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def operator(n: str, op: Op, xs: list[str]) -> tuple[str, list[str], dict[str, Any]]:
        """(ONNX op type, inputs, attributes) of node `n`."""

        def params() -> list[str]:
            return [const(key, weights[key]) for key in node_tensors(Node(n, op, ()))]

        match op:
            case Conv(_, _, k, s, p, d, g):
                attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [p] * 4, "dilations": [d, d], "group": g}
                return "Conv", xs + params(), attrs
            case ConvT(_, _, k, s, p, op_):
                attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [p] * 4, "output_padding": [op_, op_]}
                return "ConvTranspose", xs + params(), attrs
            case BatchNorm(_, eps):
                return "BatchNormalization", xs + params(), {"epsilon": eps}
            case Bias(c):  # the (c,) vector reshaped to broadcast over N x c x H x W
                return "Add", [xs[0], const(f"{n}.bias", np.reshape(weights[f"{n}.bias"], (1, c, 1, 1)))], {}
            case Relu() | Tanh() | Add():
                return type(op).__name__, xs, {}
            case LeakyRelu(slope):
                return "LeakyRelu", xs, {"alpha": slope}
            case Softmax():
                return "Softmax", xs, {"axis": 1}
            case Concat():
                return "Concat", xs, {"axis": 1}
            case Scale(factor):
                return "Mul", [xs[0], const(f"{n}.factor", factor)], {}
            case Upsample(f, "bilinear"):  # torch's align_corners=False is ONNX's half_pixel
                attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
                return "Resize", [xs[0], "", const(f"{n}.scales", [1, 1, f, f])], attrs
            case Upsample(f, "nearest"):  # torch's nearest: source index floor(i / f)
                attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
                return "Resize", [xs[0], "", const(f"{n}.scales", [1, 1, f, f])], attrs
            case Subsample(s):
                end = np.iinfo(np.int64).max
                limits = {"starts": [0, 0], "ends": [end, end], "axes": [2, 3], "steps": [s, s]}
                return "Slice", [xs[0], *(const(f"{n}.{k}", v, np.int64) for k, v in limits.items())], {}
        raise SpecError(f"node '{n}': no ONNX form for {op}")

    for node in net.nodes:
        kind, inputs, attrs = operator(node.name, node.op, [rename.get(i, i) for i in node.inputs])
        graph.node.append(helper.make_node(kind, inputs, [rename.get(node.name, node.name)], name=node.name, **attrs))
    return model


def save_onnx(net: Net, weights: Mapping[str, np.ndarray], path: Path, size: tuple[int, int], **options: Any) -> None:
    """to_onnx(net, weights, size, **options), written to `path`."""
    import onnx

    onnx.save(to_onnx(net, weights, size, **options), str(path))
