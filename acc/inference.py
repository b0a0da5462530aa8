"""ONNX Runtime inference on the CPU, shared by every backend that runs the model on the host."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from acc.models import ModelError, ModelSpec, read_verified


class OrtColorizer:
    """A verified model in an ONNX Runtime session: batches of model input (N, h, w) -> ab (N, 2, oh, ow).

    The input is already transformed as the registry declares ((L - l_offset) * l_scale); the output is
    scaled to Lab units here (ab_scale), so callers see the same contract for every model.
    """

    def __init__(self, spec: ModelSpec, threads: int = 0) -> None:
        self.spec = spec
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime's default, one per physical core
        # Spinning threads steal the cores that decode and render run on between model calls.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(read_verified(spec), options, providers=["CPUExecutionProvider"])
        except ModelError:
            raise
        except Exception as exc:  # onnxruntime raises its own exception types for malformed files
            raise ModelError(f"model '{spec.name}': ONNX Runtime cannot load {spec.path}: {exc}") from None
        self._batch_fixed = self._check_contract()

    def _check_contract(self) -> bool:
        """Compare the graph's input and output with the registry; True when the batch size is fixed at 1."""
        spec = self.spec
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or inputs[0].name != spec.input_name:
            raise ModelError(f"model '{spec.name}': expected one input named '{spec.input_name}'")
        if spec.output_name not in [o.name for o in outputs]:
            raise ModelError(f"model '{spec.name}': no output named '{spec.output_name}'")
        shape = inputs[0].shape
        if len(shape) != 4 or shape[1] != 1 or tuple(shape[2:]) != spec.input_size:
            raise ModelError(
                f"model '{spec.name}': input shape {shape} does not match the declared N x 1 x {spec.input_size}"
            )
        return shape[0] == 1

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """batch: (N, h, w) float32 model input -> (N, 2, oh, ow) float32 ab in Lab units."""
        x = np.ascontiguousarray(batch, dtype=np.float32)[:, None]
        if self._batch_fixed and len(x) > 1:
            y = np.concatenate([self._run(x[i : i + 1]) for i in range(len(x))])
        else:
            y = self._run(x)
        expected = (len(x), 2, *self.spec.output_size)
        if y.shape != expected:
            raise ModelError(f"model '{self.spec.name}': output shape {y.shape}, declared {expected}")
        if self.spec.ab_scale != 1.0:
            y = y * np.float32(self.spec.ab_scale)
        return y

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self._session.run([self.spec.output_name], {self.spec.input_name: x})[0]
