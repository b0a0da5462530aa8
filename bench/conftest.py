"""Fixtures of the benchmark suites: photos from tools/make_corpus.py, a model, and every backend that
runs here, each made once per session."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from acc.backends import BACKENDS, BackendError, OutputFormat, create_backend
from acc.models import ModelError, ModelSpec, resolve
from acc.probe import probe

ROOT = Path(__file__).parent.parent
SIZES = [0.3, 2.5, 12.0]  # megapixels
FORMAT = OutputFormat("jpeg", 95)


def _load(name: str, path: Path):
    """A module from a file outside any package (tools/, tests/conftest.py)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[float, tuple[bytes, object]]:
    """size -> (JPEG bytes, ImageInfo): one gray, baseline photo per size."""
    folder = tmp_path_factory.mktemp("corpus")
    paths = _load("make_corpus", ROOT / "tools" / "make_corpus.py").make_corpus(
        folder, SIZES, kinds=["gray"], modes=["baseline"]
    )
    return {size: (p.read_bytes(), probe(p.read_bytes())) for size, p in zip(SIZES, paths)}


@pytest.fixture(scope="session")
def spec(tmp_path_factory: pytest.TempPathFactory) -> ModelSpec:
    """ACC_BENCH_MODEL from ACC_BENCH_MODEL_DIR (e.g. eccv16-random), else the tests' linear model."""
    if os.environ.get("ACC_BENCH_MODEL"):
        return resolve(os.environ["ACC_BENCH_MODEL"], Path(os.environ.get("ACC_BENCH_MODEL_DIR", ".")))
    tests = _load("acc_tests_conftest", ROOT / "tests" / "conftest.py")
    return resolve(tests.TEST_MODEL, tests.make_model_dir(tmp_path_factory.mktemp("models")))


@pytest.fixture(scope="session", params=list(BACKENDS))
def backend(request: pytest.FixtureRequest, spec: ModelSpec):
    try:
        made = create_backend(request.param, spec, threads=0)
    except (BackendError, ModelError) as exc:
        pytest.skip(str(exc))
    yield made
    made.close()
