"""The colorization model on the AI Core (acl.mdl), with its datasets allocated once.

On hardware the model is the .om that tools/atc_command.py builds from the registry's ONNX; the emulator
loads the ONNX itself. Such an .om takes either a fixed batch (--input_shape=L:N,...) or a set of batch
sizes (--dynamic_batch_size): photos are run in chunks of the largest size, each chunk at the smallest
size that holds it, the unused slots left as they are (their outputs are ignored). Model inputs are
copied into their slots of the one input buffer, and each photo's ab out of the output buffer, on the
device.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from pathlib import Path

from acc.backends.ascend import constants as C
from acc.backends.ascend.acl_api import Acl, AclError
from acc.backends.ascend.memory import Buffer, MemoryPool
from acc.backends.ascend.runtime import Runtime
from acc.models import ModelError, ModelSpec


def om_stem(spec: ModelSpec, soc_name: str, batch_sizes: Sequence[int] = ()) -> str:
    """The .om name (without .om) for `spec` on `soc_name`: <model>_<first 12 hex of its ONNX's sha256>_<soc>
    _b<batch sizes>, e.g. eccv16_9b330a0bae53_Ascend310P3_b1-2-4-8. The checksum ties the .om to the ONNX
    it was compiled from: after the ONNX changes, an old .om no longer matches and is not loaded."""
    batches = "-".join(map(str, sorted(set(batch_sizes)))) or "1"
    return f"{spec.name}_{spec.sha256[:12]}_{soc_name}_b{batches}"


def find_om(spec: ModelSpec, soc_name: str) -> Path:
    """The .om tools/atc_command.py built for this chip from the registry's ONNX, beside the ONNX; with
    several, the one accepting the most batch sizes."""
    prefix = om_stem(spec, soc_name).rsplit("_b", 1)[0]
    found = sorted(spec.path.parent.glob(f"{prefix}_b*.om"))
    if not found:
        build = f"python tools/atc_command.py {spec.name} --soc-version {soc_name} --run"
        stale = sorted(p.name for p in spec.path.parent.glob(f"{spec.name}_*_{soc_name}_b*.om"))
        if stale:
            raise ModelError(f"model '{spec.name}': {', '.join(stale)} was built from another version of its ONNX "
                             f"(sha256 {spec.sha256[:12]}... now); rebuild it: {build}")  # fmt: skip
        raise ModelError(f"model '{spec.name}': no {prefix}_b*.om in {spec.path.parent}; build it: {build}")
    return max(found, key=lambda p: len(re.findall(r"\d+", p.stem.rsplit("_b", 1)[1])))


class OmModel:
    def __init__(self, runtime: Runtime, pool: MemoryPool, data: bytes, spec: ModelSpec) -> None:
        acl: Acl = runtime.acl
        self.acl, self.pool = acl, pool
        self.model_id = acl("mdl.load_from_mem", self._model_data(runtime, data), len(data))
        runtime.defer(acl, "mdl.unload", self.model_id)
        self.desc = acl.handle("mdl.create_desc")
        runtime.defer(acl, "mdl.destroy_desc", self.desc)
        acl("mdl.get_desc", self.desc, self.model_id)

        try:
            self.batch_input: int | None = acl("mdl.get_input_index_by_name", self.desc, C.DYNAMIC_BATCH_INPUT)
        except AclError:
            self.batch_input = None
        n_inputs = acl.raw.mdl.get_num_inputs(self.desc)
        if n_inputs != (1 if self.batch_input is None else 2) or self.batch_input == 0:
            raise ModelError(f"model '{spec.name}': the .om must have one input (besides {C.DYNAMIC_BATCH_INPUT})")
        h, w = spec.input_size
        oh, ow = spec.output_size
        dims = acl("mdl.get_input_dims", self.desc, 0)["dims"]
        if len(dims) != 4 or dims[1:] != [1, h, w] or acl.raw.mdl.get_input_data_type(self.desc, 0) != C.ACL_FLOAT:
            raise ModelError(f"model '{spec.name}': .om input {dims} is not float32 N x 1 x {h} x {w}")
        self.batches = sorted(acl("mdl.get_dynamic_batch", self.desc)["batch"]) if self.batch_input else [dims[0]]
        self.input_bytes = h * w * 4
        self.ab_bytes = 2 * oh * ow * 4
        n_outputs = acl.raw.mdl.get_num_outputs(self.desc)
        outputs = [acl("mdl.get_output_dims", self.desc, i)["dims"] for i in range(n_outputs)]
        matching = [i for i, d in enumerate(outputs) if d[1:] == [2, oh, ow]]
        if not matching:
            raise ModelError(f"model '{spec.name}': no .om output is N x 2 x {oh} x {ow} (has {outputs})")
        self.ab_index = matching[0]

        self.inputs = [pool.take("device", acl.raw.mdl.get_input_size_by_index(self.desc, i)) for i in range(n_inputs)]
        sizes = [acl.raw.mdl.get_output_size_by_index(self.desc, i) for i in range(n_outputs)]
        self.outputs = [pool.take("device", n) for n in sizes]
        self.inputs_ds = self._dataset(runtime, self.inputs)
        self.outputs_ds = self._dataset(runtime, self.outputs)

    def _model_data(self, runtime: Runtime, data: bytes) -> int:
        """Where load_from_mem reads the model: host memory when the application runs on the host, device
        memory when it runs on the device (ACL_DEVICE, an Atlas 200 DK) (CANN: aclcppdevg_03_0284, 8.0.0 to
        9.0.0; pyACL's page is aclpythondevg_01_0149 in 8.0.0). The device copy is kept until the model is
        unloaded (whether the load copies it is not documented); `data` itself outlives the call, so its
        bytes_to_ptr pointer stays valid."""
        if runtime.run_mode != C.ACL_DEVICE:
            return self.acl.raw.util.bytes_to_ptr(data)
        staged = self.pool.take("device", len(data))
        runtime.defer(self.pool.give, staged)  # after the unload registered next
        self.pool.upload(staged, data)
        return staged.ptr

    def _dataset(self, runtime: Runtime, buffers: list[Buffer]) -> int:
        acl = self.acl
        dataset = acl.handle("mdl.create_dataset")
        runtime.defer(acl, "mdl.destroy_dataset", dataset)
        for buf in buffers:
            handle = acl.handle("create_data_buffer", buf.ptr, buf.size)
            runtime.defer(acl, "destroy_data_buffer", handle)
            acl("mdl.add_dataset_buffer", dataset, handle)
        return dataset

    def run(self, inputs: list[Buffer]) -> list[Buffer]:
        """Model inputs (h*w float32 each, device) -> one ab buffer (2*oh*ow float32, device) per input."""
        results: list[Buffer] = []
        for start in range(0, len(inputs), self.batches[-1]):
            chunk = inputs[start : start + self.batches[-1]]
            for slot, x in enumerate(chunk):
                self.pool.copy(self.inputs[0], x, self.input_bytes, dst_offset=slot * self.input_bytes)
            if self.batch_input is not None:
                batch = self.batches[bisect.bisect_left(self.batches, len(chunk))]
                self.acl("mdl.set_dynamic_batch_size", self.model_id, self.inputs_ds, self.batch_input, batch)
            self.acl("mdl.execute", self.model_id, self.inputs_ds, self.outputs_ds)
            for slot in range(len(chunk)):
                ab = self.pool.take("device", self.ab_bytes)
                results.append(ab)
                self.pool.copy(ab, self.outputs[self.ab_index], self.ab_bytes, src_offset=slot * self.ab_bytes)
        return results
