#!/usr/bin/env python3
"""Model-only ONNX Runtime CPU throughput of colorization models, side by side.

    python tools/onnx_speed.py OLD.onnx NEW.onnx [--batch 4] [--threads 2] [--rounds 15]

Each model gets its own CPUExecutionProvider session, configured as acc configures its own
(intra-op threads = --threads, one inter-op thread, no spinning) and a random L-50 batch of its declared input size. Rounds are interleaved (one timed run of
each model per round) so a machine whose load changes during the measurement slows all models alike;
the report is the median images/s per model and its ratio to the first model's median.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def session(path: str, threads: int):
    """A CPU session configured as acc's own (acc.inference.session_options), every optimization on."""
    import onnxruntime as ort

    from acc.inference import session_options

    options = session_options(threads, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def measure(paths: list[str], batch: int, threads: int, rounds: int, repeat: int) -> dict[str, float]:
    """path -> median images/s over `rounds` interleaved rounds of `repeat` runs each."""
    runs = []
    rng = np.random.default_rng(0)
    for p in paths:
        sess = session(p, threads)
        inp = sess.get_inputs()[0]
        h, w = inp.shape[2], inp.shape[3]
        x = (rng.uniform(0, 100, (batch, 1, h, w)) - 50).astype(np.float32)
        sess.run(None, {inp.name: x})  # warm-up: allocations, kernel selection
        runs.append((p, sess, {inp.name: x}))
    rates: dict[str, list[float]] = {p: [] for p in paths}
    for _ in range(rounds):
        for p, sess, feed in runs:
            t0 = time.perf_counter()
            for _ in range(repeat):
                sess.run(None, feed)
            rates[p].append(batch * repeat / (time.perf_counter() - t0))
    return {p: statistics.median(r) for p, r in rates.items()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="ONNX files; the first is the reference of the ratios")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--repeat", type=int, default=3, help="runs per model per round")
    args = ap.parse_args(argv)
    res = measure(args.models, args.batch, args.threads, args.rounds, args.repeat)
    ref = res[args.models[0]]
    print(f"batch {args.batch}, {args.threads} threads, median of {args.rounds} interleaved rounds")
    for p, r in res.items():
        print(f"{r:8.1f} images/s  x{r / ref:.2f}  {p}")


if __name__ == "__main__":
    main()
