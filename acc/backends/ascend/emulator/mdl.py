"""acl.mdl: offline models, their descriptions, datasets and synchronous execution.

There is no ATC here, so the emulator loads the registry's ONNX file in place of the .om ATC would build
from it, and runs it with ONNX Runtime. An ONNX whose batch dimension is dynamic becomes what
tools/atc_command.py --dynamic-batch makes of it: an .om taking the batch sizes `batches` (one more
input, ascend_mbatch_shape_data; the batch chosen per run with acl.mdl.set_dynamic_batch_size); with a
single size, a fixed-batch .om (--input_shape=L:N,1,h,w). Other dynamic dimensions are refused, as ATC
would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from acc.backends.ascend import constants as C
from acc.backends.ascend.emulator.core import AclFail, Device, api

DEFAULT_BATCHES = (1, 2, 4, 8)
_ONNX_TYPES = {"tensor(float)": C.ACL_FLOAT, "tensor(float16)": C.ACL_FLOAT16, "tensor(uint8)": C.ACL_UINT8}
_NUMPY = {C.ACL_FLOAT: np.float32, C.ACL_FLOAT16: np.float16, C.ACL_UINT8: np.uint8, C.ACL_INT64: np.int64}


@dataclass(frozen=True)
class Tensor:
    name: str
    dims: tuple[int, ...]  # at the largest batch
    dtype: int
    batched: bool = True  # its first dimension is the batch

    @property
    def size(self) -> int:
        return int(np.prod(self.dims)) * np.dtype(_NUMPY[self.dtype]).itemsize


@dataclass
class Model:
    session: ort.InferenceSession
    inputs: list[Tensor]
    outputs: list[Tensor]
    batches: tuple[int, ...]  # more than one: a dynamic-batch .om

    @property
    def dynamic(self) -> bool:
        return len(self.batches) > 1


@dataclass
class Dataset:
    buffers: list[int]
    batch: int | None = None  # set by set_dynamic_batch_size


def _tensor(name: str, shape: list, onnx_type: str, batch: int) -> Tensor:
    if onnx_type not in _ONNX_TYPES:
        raise AclFail(C.ACL_ERROR_DESERIALIZE_MODEL, f"tensor '{name}' of {onnx_type}")
    dims = [batch if i == 0 and not isinstance(d, int) else d for i, d in enumerate(shape)]
    if not all(isinstance(d, int) and d > 0 for d in dims):
        raise AclFail(C.ACL_ERROR_DESERIALIZE_MODEL, f"tensor '{name}' has dynamic dimensions {shape}")
    return Tensor(name, tuple(dims), _ONNX_TYPES[onnx_type])


def load_onnx(data: bytes, batches: tuple[int, ...], threads: int = 0) -> Model:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise AclFail(C.ACL_ERROR_DESERIALIZE_MODEL, f"not a model the emulator can load: {exc}") from None
    if all(isinstance(i.shape[0], int) for i in session.get_inputs()):
        batches = (session.get_inputs()[0].shape[0],)  # a static ONNX gives a fixed-batch .om
    inputs = [_tensor(i.name, i.shape, i.type, max(batches)) for i in session.get_inputs()]
    feeds = {t.name: np.zeros(t.dims, _NUMPY[t.dtype]) for t in inputs}
    shapes = [o.shape for o in session.run(None, feeds)]  # output shapes at the largest batch
    outputs = [_tensor(o.name, list(s), o.type, max(batches)) for o, s in zip(session.get_outputs(), shapes)]
    if len(batches) > 1:
        inputs.append(Tensor(C.DYNAMIC_BATCH_INPUT, (1,), C.ACL_INT64, batched=False))
    return Model(session, inputs, outputs, tuple(sorted(batches)))


class Mdl:
    def __init__(self, dev: Device, threads: int = 0, batches: tuple[int, ...] = DEFAULT_BATCHES) -> None:
        self.dev = dev
        self.threads = threads
        self.batches = batches

    @api("value_ret")
    def load_from_mem(self, ptr: int, size: int) -> int:
        """The model data lies in host memory when the application runs on the host (ACL_HOST), in device
        memory (acl.rt.malloc) when it runs on the device (ACL_DEVICE) (CANN: aclcppdevg_03_0284)."""
        self.dev.current_context()
        kinds = ("host", "borrowed") if self.dev.run_mode == C.ACL_HOST else ("device",)
        block = self.dev.find_kind(ptr, size, kinds, "model data")
        return self.dev.new("model", load_onnx(block.view(ptr, size).tobytes(), self.batches, self.threads))

    @api("ret")
    def unload(self, model_id: int) -> None:
        self.dev.drop(model_id, "model")

    @api("value")
    def create_desc(self) -> int:
        return self.dev.new("model_desc", [None])

    @api("ret")
    def destroy_desc(self, desc: int) -> None:
        self.dev.drop(desc, "model_desc")

    @api("ret")
    def get_desc(self, desc: int, model_id: int) -> None:
        self.dev.get(desc, "model_desc")[0] = self.dev.get(model_id, "model")

    def _described(self, desc: int) -> Model:
        model = self.dev.get(desc, "model_desc")[0]
        if model is None:
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, "model description not filled (acl.mdl.get_desc)")
        return model

    def _tensor(self, desc: int, index: int, outputs: bool) -> Tensor:
        tensors = self._described(desc).outputs if outputs else self._described(desc).inputs
        if not isinstance(index, int) or not 0 <= index < len(tensors):
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"tensor index {index!r}")
        return tensors[index]

    @api("value")
    def get_num_inputs(self, desc: int) -> int:
        return len(self._described(desc).inputs)

    @api("value")
    def get_num_outputs(self, desc: int) -> int:
        return len(self._described(desc).outputs)

    @api("value")
    def get_input_size_by_index(self, desc: int, index: int) -> int:
        return self._tensor(desc, index, False).size

    @api("value")
    def get_output_size_by_index(self, desc: int, index: int) -> int:
        return self._tensor(desc, index, True).size

    @api("value")
    def get_input_data_type(self, desc: int, index: int) -> int:
        return self._tensor(desc, index, False).dtype

    @api("value_ret")
    def get_input_index_by_name(self, desc: int, name: str) -> int:
        for index, tensor in enumerate(self._described(desc).inputs):
            if tensor.name == name:
                return index
        raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"the model has no input named {name!r}")

    def _dims(self, desc: int, tensor: Tensor) -> dict:
        dims = list(tensor.dims)
        if self._described(desc).dynamic and tensor.batched:
            dims[0] = -1
        return {"name": tensor.name, "dimCount": len(dims), "dims": dims}

    @api("value_ret")
    def get_input_dims(self, desc: int, index: int) -> dict:
        return self._dims(desc, self._tensor(desc, index, False))

    @api("value_ret")
    def get_output_dims(self, desc: int, index: int) -> dict:
        return self._dims(desc, self._tensor(desc, index, True))

    @api("value_ret")
    def get_dynamic_batch(self, desc: int) -> dict:
        model = self._described(desc)
        batches = list(model.batches) if model.dynamic else []
        return {"batchCount": len(batches), "batch": batches}

    @api("value")
    def create_dataset(self) -> int:
        return self.dev.new("dataset", Dataset([]))

    @api("ret")
    def destroy_dataset(self, dataset: int) -> None:
        self.dev.drop(dataset, "dataset")

    @api("value_ret")
    def add_dataset_buffer(self, dataset: int, buffer: int) -> int:
        self.dev.get(buffer, "data_buffer")
        self.dev.get(dataset, "dataset").buffers.append(buffer)
        return dataset

    @api("ret")
    def set_dynamic_batch_size(self, model_id: int, dataset: int, index: int, batch: int) -> None:
        model = self.dev.get(model_id, "model")
        data = self.dev.get(dataset, "dataset")
        if not model.dynamic:
            raise AclFail(C.ACL_ERROR_MODEL_NOT_DYNAMIC, "the model was built with a fixed batch")
        if not (0 <= index < len(model.inputs)) or model.inputs[index].name != C.DYNAMIC_BATCH_INPUT:
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"input {index!r} is not {C.DYNAMIC_BATCH_INPUT}")
        if batch not in model.batches:
            raise AclFail(C.ACL_ERROR_INVALID_PARAM, f"batch {batch!r}; the model was built for {list(model.batches)}")
        data.batch = batch

    def _buffers(self, dataset: Dataset, tensors: list[Tensor], code: int, role: str) -> list:
        if len(dataset.buffers) != len(tensors):
            raise AclFail(code, f"{len(dataset.buffers)} {role} buffer(s) for {len(tensors)} {role}(s)")
        found = []
        for handle, tensor in zip(dataset.buffers, tensors):
            ptr, size = self.dev.get(handle, "data_buffer")
            if size < tensor.size:
                raise AclFail(code, f"{role} '{tensor.name}': buffer of {size} bytes, the model needs {tensor.size}")
            block = self.dev.find_kind(ptr, tensor.size, ("device", "dvpp"), f"model {role} '{tensor.name}'")
            found.append((block, ptr, tensor))
        return found

    @api("ret")
    def execute(self, model_id: int, inputs: int, outputs: int) -> None:
        """Synchronous: runs now, on what the input memory holds now, at the dataset's batch."""
        self.dev.current_context()
        model = self.dev.get(model_id, "model")
        in_data = self.dev.get(inputs, "dataset")
        ins = self._buffers(in_data, model.inputs, C.ACL_ERROR_MODEL_INPUT_NOT_MATCH, "input")
        out_data = self.dev.get(outputs, "dataset")
        outs = self._buffers(out_data, model.outputs, C.ACL_ERROR_MODEL_OUTPUT_NOT_MATCH, "output")
        batch = model.batches[0]
        if model.dynamic:
            if in_data.batch is None:
                raise AclFail(C.ACL_ERROR_INVALID_PARAM, "dynamic-batch model: call set_dynamic_batch_size first")
            batch = in_data.batch
        feeds = {}
        for block, ptr, tensor in ins:
            pending = self.dev.pending_write(block, ptr - block.base, tensor.size)
            if pending is not None:
                raise AclFail(C.ACL_ERROR_RT_MODEL_EXECUTE, f"input '{tensor.name}' is still to be written by "
                              f"queued {pending.name} (synchronize first)")  # fmt: skip
            if tensor.batched:
                dims = (batch, *tensor.dims[1:])
                raw = block.view(ptr, tensor.size * batch // tensor.dims[0]).tobytes()
                feeds[tensor.name] = np.frombuffer(raw, _NUMPY[tensor.dtype]).reshape(dims)
        results = model.session.run([t.name for _, _, t in outs], feeds)
        for (block, ptr, tensor), value in zip(outs, results):
            raw = np.frombuffer(np.ascontiguousarray(value, _NUMPY[tensor.dtype]).tobytes(), np.uint8)
            self.dev.host_wrote(block, ptr - block.base, raw.size)
            block.view(ptr, raw.size)[:] = raw
