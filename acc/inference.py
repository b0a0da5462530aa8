"""ONNX Runtime inference on the CPU, shared by every backend that runs the model on the host.

Sessions are tuned for a batch runner that decodes and renders on the same cores: one intra-op thread
unless asked for more (the runner runs one inference per core at once instead: acc/pipeline.py; an
inference spread over several threads waits at every layer for the slowest of them, and on a busy
machine that is one the scheduler has just given to a decoder), no spinning, one inter-op thread,
every graph optimization. The optimized graph is
cached on disk (cache_dir()/ort), keyed by the model's SHA-256, the ONNX Runtime version and the CPU
(the layout optimizations are specific to the instruction set), so later runs skip the optimization;
the cached file is checked against the digest recorded when it was written, like every model load.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
from functools import cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from acc.models import ModelError, ModelSpec, read_verified, sha256_bytes

CACHE_DIR_ENV = "ACC_CACHE_DIR"
PROVIDERS = ["CPUExecutionProvider"]


def cache_dir() -> Path:
    """Where acc keeps files it can rebuild: $ACC_CACHE_DIR, else $XDG_CACHE_HOME/acc (~/.cache/acc)."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "acc"


@cache
def _cpu_signature() -> str:
    """A short digest of the CPU's model and instruction-set flags (Linux), else of the platform."""
    text = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            text += "".join(line for line in f.read().split("\n\n")[0].splitlines()
                            if line.startswith(("model name", "flags")))  # fmt: skip
    except OSError:
        pass
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def session_options(threads: int, level: ort.GraphOptimizationLevel) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 1  # 0: acc's default, one (see the module docstring)
    options.inter_op_num_threads = 1  # the graph is a chain: nothing to run side by side
    # Spinning threads steal the cores that decode and render run on between model calls.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.graph_optimization_level = level
    options.log_severity_level = 3  # errors only: saving a layout-optimized graph warns that it is CPU-specific
    return options


def load_optimized(spec: ModelSpec) -> tuple[bytes, bool]:
    """(graph, whether it is already optimized): the model after every ONNX Runtime optimization.

    The model file is verified against the registry first, every time. The optimized graph comes from
    the cache when its file matches the digest recorded with it; otherwise it is made and cached. The
    cache is best effort: when it cannot be written, the verified model is returned as it is.
    """
    data = read_verified(spec)
    folder = cache_dir() / "ort"
    key = f"{spec.sha256[:32]}-ort{ort.__version__}-{_cpu_signature()}"
    model, digest, partial = (folder / f"{key}{suffix}" for suffix in (".onnx", ".sha256", f".{os.getpid()}.partial"))
    try:
        cached = model.read_bytes()
        if sha256_bytes(cached) == digest.read_text().strip():
            return cached, True
    except OSError:
        pass
    try:
        folder.mkdir(parents=True, exist_ok=True)
        options = session_options(1, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
        options.optimized_model_filepath = str(partial)
        ort.InferenceSession(data, options, providers=PROVIDERS)
        optimized = partial.read_bytes()
        digest.write_text(sha256_bytes(optimized))
        os.replace(partial, model)  # atomic: readers see the old file or the whole new one
        return optimized, True
    except OSError:
        return data, False
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


class OrtColorizer:
    """A verified model in an ONNX Runtime session: batches of model input (N, h, w) -> ab (N, 2, oh, ow).

    The input is already transformed as the registry declares ((L - l_offset) * l_scale); the output is
    scaled to Lab units here (ab_scale), so callers see the same contract for every model.
    """

    def __init__(self, spec: ModelSpec, threads: int = 0) -> None:
        self.spec = spec
        try:
            graph, done = load_optimized(spec)
            # Optimizing an optimized graph again would only cost start-up time.
            level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL if done else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session = ort.InferenceSession(graph, session_options(threads, level), providers=PROVIDERS)
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
