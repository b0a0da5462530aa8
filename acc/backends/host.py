"""The infer stage of the backends that run the model on the host, with ONNX Runtime: written once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from acc.backends.base import Backend
from acc.inference import OrtColorizer
from acc.models import ModelSpec


class HostInferenceBackend(Backend):
    """A Backend whose infer stage stacks the model inputs and runs them through OrtColorizer."""

    precisions = ("fp32", "int8")  # ONNX Runtime runs QDQ int8 models on the CPU (acc/quantize.py)
    infer_threadsafe = True  # an ONNX Runtime session takes runs from several threads at once

    def __init__(self, model: ModelSpec, threads: int = 0) -> None:
        super().__init__(model, threads)
        self._colorizer: OrtColorizer | None = OrtColorizer(model, threads)

    def infer(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self._colorizer is None:
            raise RuntimeError("backend is closed")
        return list(self._colorizer(np.stack(inputs)))

    def close(self) -> None:
        self._colorizer = None
