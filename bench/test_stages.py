"""Each stage of each backend, per photo size (tools/make_corpus.py photos, gray, baseline JPEG).

    pytest bench/ --benchmark-enable --benchmark-group-by=func

Not part of the test suite: these measure, they check nothing. For side-by-side numbers with ratios,
interleaved on a noisy machine, use `acc bench` instead.
"""

from __future__ import annotations

import pytest

from conftest import FORMAT, SIZES


@pytest.mark.parametrize("size", SIZES)
def test_decode(benchmark, backend, photos, size: float) -> None:
    data, info = photos[size]
    benchmark(lambda: backend.release(backend.decode(data, info)))


@pytest.mark.parametrize("size", SIZES)
def test_model_input(benchmark, backend, photos, size: float) -> None:
    frame = backend.decode(*photos[size])
    benchmark(backend.model_input, frame)
    backend.release(frame)


def test_infer(benchmark, backend, photos) -> None:
    frame = backend.decode(*photos[SIZES[0]])
    x = backend.model_input(frame)
    backend.release(frame)
    benchmark(backend.infer, [x])


@pytest.mark.parametrize("size", SIZES)
def test_render(benchmark, backend, photos, size: float) -> None:
    frame = backend.decode(*photos[size])
    prediction = backend.infer([backend.model_input(frame)])[0]
    benchmark(backend.render, frame, prediction, FORMAT)
    backend.release(frame)
