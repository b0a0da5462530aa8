"""The registry's ONNX model run by PyTorch, on the GPU in fp16 or bf16: the cuda backend's infer stage
when onnxruntime-gpu is not installed.

The graph is interpreted node by node with torch operators (OnnxModule): ONNX's semantics for the
operators acc's models use (OPS: ECCV16, SIGGRAPH17 as acc.networks exports them, acc-tiny, the test
models), and a clear refusal naming any other. Not onnx2torch: it imports torchvision when imported, and
PyPI's torchvision does not load beside the CPU build of torch that CI and the development machines use,
so that converter could not be tested there.

Precision: weights and activations in the requested float type; integer tensors (shapes, indices) stay
integers on the host, so shape arithmetic never waits on the GPU. Converted modules are cached in the
process by (model checksum, device, dtype): several backends on one model convert it once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from acc.models import ModelError, ModelSpec, read_verified

Op = Callable[..., Any]
OPS: dict[str, Op] = {}


def op(*names: str) -> Callable[[Op], Op]:
    def register(fn: Op) -> Op:
        for name in names:
            OPS[name] = fn
        return fn

    return register


def _pairs(pads: list[int]) -> tuple[int, int]:
    """ONNX pads [top, left, bottom, right] -> torch's symmetric (h, w) padding; refuses asymmetric ones."""
    top, left, bottom, right = pads
    if (top, left) != (bottom, right):
        raise ModelError(f"asymmetric padding {pads} is not supported")
    return top, left


def _spatial(attrs: dict[str, Any], x: torch.Tensor) -> None:
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise ModelError(f"auto_pad={attrs['auto_pad']!r} is not supported")
    if x.dim() != 4:
        raise ModelError(f"only 2-D images (N x C x H x W) are supported, got {x.dim()}-D")


@op("Conv")
def _conv(attrs, x, w, b=None):
    _spatial(attrs, x)
    return F.conv2d(x, w, b, stride=tuple(attrs.get("strides", (1, 1))), padding=_pairs(attrs.get("pads", [0] * 4)),
                    dilation=tuple(attrs.get("dilations", (1, 1))), groups=attrs.get("group", 1))  # fmt: skip


@op("ConvTranspose")
def _conv_transpose(attrs, x, w, b=None):
    _spatial(attrs, x)
    if "output_shape" in attrs:
        raise ModelError("ConvTranspose with output_shape is not supported")
    return F.conv_transpose2d(x, w, b, stride=tuple(attrs.get("strides", (1, 1))),
                              padding=_pairs(attrs.get("pads", [0] * 4)),
                              output_padding=tuple(attrs.get("output_padding", (0, 0))),
                              groups=attrs.get("group", 1), dilation=tuple(attrs.get("dilations", (1, 1))))  # fmt: skip


@op("BatchNormalization")
def _batch_norm(attrs, x, scale, bias, mean, var):
    return F.batch_norm(x, mean, var, scale, bias, training=False, eps=attrs.get("epsilon", 1e-5))


@op("AveragePool")
def _average_pool(attrs, x):
    _spatial(attrs, x)
    if attrs.get("ceil_mode", 0) or attrs.get("dilations", [1, 1]) != [1, 1]:
        raise ModelError("AveragePool with ceil_mode or dilations is not supported")
    kernel = tuple(attrs["kernel_shape"])
    return F.avg_pool2d(x, kernel, stride=tuple(attrs.get("strides", kernel)),
                        padding=_pairs(attrs.get("pads", [0] * 4)),
                        count_include_pad=bool(attrs.get("count_include_pad", 0)))  # fmt: skip


@op("MaxPool")
def _max_pool(attrs, x):
    _spatial(attrs, x)
    if attrs.get("storage_order", 0):
        raise ModelError("MaxPool with storage_order=1 is not supported")
    kernel = tuple(attrs["kernel_shape"])
    return F.max_pool2d(x, kernel, stride=tuple(attrs.get("strides", kernel)),
                        padding=_pairs(attrs.get("pads", [0] * 4)), dilation=tuple(attrs.get("dilations", (1, 1))),
                        ceil_mode=bool(attrs.get("ceil_mode", 0)))  # fmt: skip


op("Relu")(lambda attrs, x: F.relu(x))
op("LeakyRelu")(lambda attrs, x: F.leaky_relu(x, attrs.get("alpha", 0.01)))
op("Tanh")(lambda attrs, x: torch.tanh(x))
op("Sigmoid")(lambda attrs, x: torch.sigmoid(x))
op("Softmax")(lambda attrs, x: torch.softmax(x, attrs.get("axis", -1)))
op("Identity")(lambda attrs, x: x)
op("Add")(lambda attrs, a, b: a + b)
op("Sub")(lambda attrs, a, b: a - b)
op("Mul")(lambda attrs, a, b: a * b)
op("Div")(lambda attrs, a, b: a / b if a.is_floating_point() else torch.div(a, b, rounding_mode="trunc"))
op("Concat")(lambda attrs, *xs: torch.cat(xs, attrs["axis"]))


@op("Shape")
def _shape(attrs, x):
    return torch.tensor(x.shape[attrs.get("start", 0) : attrs.get("end", None)], dtype=torch.int64)


@op("Gather")
def _gather(attrs, x, indices):
    axis = attrs.get("axis", 0) % x.dim()
    return torch.index_select(x, axis, indices.reshape(-1).to(x.device)).reshape(
        x.shape[:axis] + indices.shape + x.shape[axis + 1 :])  # fmt: skip


@op("Unsqueeze")
def _unsqueeze(attrs, x, axes=None):
    dims = sorted(int(a) for a in (axes.tolist() if axes is not None else attrs["axes"]))
    for axis in dims:
        x = x.unsqueeze(axis % (x.dim() + 1))
    return x


@op("Slice")
def _slice(attrs, x, starts, ends, axes=None, steps=None):
    axes = axes.tolist() if axes is not None else list(range(len(starts)))
    steps = steps.tolist() if steps is not None else [1] * len(starts)
    index = [slice(None)] * x.dim()
    for start, end, axis, step in zip(starts.tolist(), ends.tolist(), axes, steps):
        if step <= 0:
            raise ModelError("Slice with a negative step is not supported")
        size = x.shape[axis]
        index[axis] = slice(max(0, min(size, start + size if start < 0 else start)),
                            max(0, min(size, end + size if end < 0 else end)), step)  # fmt: skip
    return x[tuple(index)]


_INTEGER_TYPES = {onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.INT16, onnx.TensorProto.INT8,
                  onnx.TensorProto.UINT8}  # fmt: skip
_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}


@op("Cast")
def _cast(attrs, x):
    """Integers become int64; floats keep the module's precision (the graph's float32 casts do not undo it)."""
    if attrs["to"] in _INTEGER_TYPES:
        return x.to(torch.int64)
    if attrs["to"] in _FLOAT_TYPES:
        return x if x.is_floating_point() else x.to(torch.float32)
    raise ModelError(f"Cast to ONNX type {attrs['to']} is not supported")


@op("Resize")
def _resize(attrs, x, roi=None, scales=None, sizes=None):
    mode = attrs.get("mode", b"nearest").decode()
    transform = attrs.get("coordinate_transformation_mode", b"half_pixel").decode()
    if sizes is not None and sizes.numel():
        size = tuple(int(s) for s in sizes.tolist()[2:])
    else:
        size = tuple(int(np.floor(d * s)) for d, s in zip(x.shape[2:], scales.tolist()[2:]))
    if mode == "linear" and transform in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        return F.interpolate(x, size=size, mode="bilinear", align_corners=transform == "align_corners",
                             antialias=bool(attrs.get("antialias", 0)))  # fmt: skip
    if mode == "nearest" and transform == "asymmetric" and attrs.get("nearest_mode", b"round_prefer_floor") == b"floor":
        return F.interpolate(x, size=size, mode="nearest")
    raise ModelError(f"Resize mode={mode} coordinate_transformation_mode={transform} is not supported")


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, copy=True))


class OnnxModule(torch.nn.Module):
    """An ONNX graph as a torch module: forward(*inputs) -> the graph's outputs (one tensor or a tuple).

    Float initializers and constants are buffers (they follow .to(device, dtype)); integer ones stay
    host tensors, for shape arithmetic, and so do Resize's roi and scales (read on the host per call: on
    the GPU that read would wait for the device).
    """

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        graph = model.graph
        unsupported = sorted({node.op_type for node in graph.node if node.domain not in ("", "ai.onnx")} |
                             ({node.op_type for node in graph.node} - OPS.keys() - {"Constant"}))  # fmt: skip
        if unsupported:
            raise ModelError(f"ONNX operators {', '.join(unsupported)} are not supported by acc's ONNX-to-PyTorch "
                             "interpreter (install onnxruntime-gpu to run this model on the GPU)")  # fmt: skip
        self._host: dict[str, torch.Tensor] = {}
        self._buffers_by_value: dict[str, str] = {}
        self._host_floats = {name for node in graph.node if node.op_type == "Resize" for name in node.input[1:3]}
        for init in graph.initializer:
            self._keep(init.name, numpy_helper.to_array(init))
        self._nodes = []
        for node in graph.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type == "Constant":
                if "value" not in attrs:
                    raise ModelError("Constant without a 'value' tensor is not supported")
                self._keep(node.output[0], numpy_helper.to_array(attrs["value"]))
                continue
            self._nodes.append((node.op_type, attrs, list(node.input), list(node.output)))
        self.input_names = [i.name for i in graph.input if i.name not in self._host and i.name not in
                            self._buffers_by_value]  # fmt: skip
        self.output_names = [o.name for o in graph.output]

    def _keep(self, name: str, array: np.ndarray) -> None:
        tensor = _tensor(array)
        if tensor.is_floating_point() and name in self._host_floats:
            self._host[name] = tensor.float()
        elif tensor.is_floating_point():
            buffer = f"v{len(self._buffers_by_value)}"
            self.register_buffer(buffer, tensor.float())
            self._buffers_by_value[name] = buffer
        else:
            self._host[name] = tensor.to(torch.int64)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        values: dict[str, torch.Tensor] = dict(zip(self.input_names, inputs))
        values.update(self._host)
        values.update({name: getattr(self, buffer) for name, buffer in self._buffers_by_value.items()})
        for op_type, attrs, names, outputs in self._nodes:
            args = [values[name] if name else None for name in names]
            while args and args[-1] is None:  # trailing optional inputs left out
                args.pop()
            try:
                result = OPS[op_type](attrs, *args)
            except ModelError as exc:
                raise ModelError(f"{op_type} ({outputs[0]}): {exc}") from None
            values[outputs[0]] = result
        results = tuple(values[name] for name in self.output_names)
        return results[0] if len(results) == 1 else results


_cache: dict[tuple[str, str, torch.dtype], OnnxModule] = {}
_cache_lock = threading.Lock()


def converted(spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> OnnxModule:
    """The verified model as an OnnxModule on `device` in `dtype`, converted once per process."""
    key = (spec.sha256, str(device), dtype)
    with _cache_lock:
        if key not in _cache:
            data = read_verified(spec)
            try:
                model = onnx.load_from_string(data)
            except Exception as exc:  # protobuf's decode errors: a registered file that is not ONNX
                raise ModelError(f"model '{spec.name}': not an ONNX file: {exc}") from None
            module = OnnxModule(model).to(device=device, dtype=dtype).eval()
            _cache[key] = module.to(memory_format=torch.channels_last)
        return _cache[key]


def _check_contract(spec: ModelSpec, module: OnnxModule) -> None:
    if module.input_names != [spec.input_name]:
        raise ModelError(f"model '{spec.name}': expected one input named '{spec.input_name}', "
                         f"the graph has {module.input_names}")  # fmt: skip
    if spec.output_name not in module.output_names:
        raise ModelError(f"model '{spec.name}': no output named '{spec.output_name}'")


class TorchColorizer:
    """A verified model on a torch device: batches of model input (N, h, w) -> ab (N, 2, oh, ow) float32 in Lab
    units (the registry's ab_scale applied), computed in `dtype`. Inputs and outputs are torch tensors on
    `device`; inference runs on torch's current stream."""

    def __init__(self, spec: ModelSpec, device: str | torch.device = "cuda", dtype: torch.dtype = torch.float16) -> None:
        self.spec = spec
        self.device = torch.device(device)
        self.dtype = dtype
        self.module = converted(spec, self.device, dtype)
        _check_contract(spec, self.module)  # per spec: two registry entries may share one file
        self._output = self.module.output_names.index(spec.output_name)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.to(device=self.device, dtype=self.dtype)[:, None].contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            y = self.module(x)
            y = y[self._output] if isinstance(y, tuple) else y
            expected = (len(x), 2, *self.spec.output_size)
            if tuple(y.shape) != expected:
                raise ModelError(f"model '{self.spec.name}': output shape {tuple(y.shape)}, declared {expected}")
            return y.float().mul_(self.spec.ab_scale).contiguous()
