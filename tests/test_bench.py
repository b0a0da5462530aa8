"""`acc bench` (acc/benchmark.py) and the corpus tool: what they measure and write, never how fast."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import pytest
import simplejpeg

from acc.benchmark import FLOOR, STAGES, Photo, size_groups
from acc.cli import main
from acc.probe import ImageInfo, probe
from conftest import TEST_MODEL, make_model_dir

ROOT = Path(__file__).parent.parent


def corpus_tool():
    spec = importlib.util.spec_from_file_location("make_corpus", ROOT / "tools" / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    corpus_tool().make_corpus(folder, sizes=[0.05, 1.1])
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("models"))


def bench(capsys, inputs: Path | list[Path], models: Path, *extra: str) -> tuple[int, str, str]:
    paths = [str(p) for p in (inputs if isinstance(inputs, list) else [inputs])]
    code = main(["bench", *paths, "--model", TEST_MODEL, "--model-dir", str(models), "--rounds", "1",
                 "--warmup", "0", "--threads", "1", "--workers", "1", "--batch-size", "2", "--steady-seconds", "0",
                 *extra])  # fmt: skip
    out, err = capsys.readouterr()
    return code, out, err


def test_corpus_tool_writes_every_kind(corpus: Path) -> None:
    names = sorted(p.name for p in corpus.iterdir())
    assert len(names) == 8 and "0.05mp_colour_progressive_0.jpg" in names
    for path in corpus.iterdir():
        data = path.read_bytes()
        info = probe(data)
        assert info.progressive == ("progressive" in path.name)
        assert simplejpeg.decode_jpeg_header(data)[2] == ("Gray" if "_gray_" in path.name else "YCbCr")
        assert 0.04e6 < info.pixels < 1.2e6
        assert 1.0 < 8 * len(data) / info.pixels < 5.0  # textured: real photos' bits per pixel, not a flat field
    assert corpus_tool().frame_size(12) == (3000, 4000)


def test_bench_writes_table_json_and_chart(tmp_path: Path, corpus: Path, models: Path, capsys) -> None:
    written = ["--json", str(tmp_path / "r.json"), "--chart", str(tmp_path / "r.png")]
    code, out, err = bench(capsys, corpus, models, *written)
    assert code == 0, err
    assert "round 1 of 1 done" in err
    for text in ("Per photo, outside the model", "opencv", "cpu", "floor", "Model only", "End to end", "x faster"):
        assert text in out
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["settings"]["backends"] == ["opencv", "cpu"] and rep["settings"]["model"] == TEST_MODEL
    assert {"cpu", "logical_cores", "load_average", "packages"} <= set(rep["machine"])
    assert len(rep["photos"]) == 8 and list(rep["groups"]) == ["0.05 MP", "1.1 MP"]
    assert all(set(p["median_ms"]) == {"opencv", "cpu", FLOOR} for p in rep["photos"])
    for group in rep["groups"].values():
        assert group["photos"] == 4
        for who in ("opencv", "cpu"):
            assert set(group[who]) == {*STAGES, "outside_model", "x_floor", "speedup_vs_opencv"}
            assert 0 < group[who]["outside_model"]["p50_ms"] <= group[who]["outside_model"]["p95_ms"]
        assert group["opencv"]["speedup_vs_opencv"] == 1.0
        assert set(group[FLOOR]) == {"decode", "encode", "total"}
    for name in ("opencv", "cpu"):
        assert rep["model_only"][name]["images_per_s"] > 0 and rep["model_only"][name]["core_ms_per_image"] > 0
        e2e = rep["end_to_end"][name]
        assert e2e["images_per_s"] > 0 and e2e["megapixels_per_s"] > 0 and e2e["failed"] == 0
        assert e2e["x_model_only"] == pytest.approx(e2e["images_per_s"] / rep["model_only"][name]["images_per_s"])
        assert e2e["cores"] == 1 and e2e["photos_per_run"] == 8  # --workers 1; --steady-seconds 0: one copy
        assert e2e["x_bound"] == pytest.approx(e2e["images_per_s"] / e2e["bound_images_per_s"])
        assert 0 < e2e["cores_busy"] and 0 < e2e["stage_share_of_cpu"]
    assert "of it; cores busy" in out
    chart = cv2.imread(str(tmp_path / "r.png"))
    assert chart is not None and chart.shape[1] == 900 and chart.shape[0] > 200


def test_one_backend_without_the_runner(corpus: Path, models: Path, tmp_path: Path, capsys) -> None:
    only_cpu = ["--backend", "cpu", "--no-end-to-end", "--json", str(tmp_path / "r.json")]
    code, out, _ = bench(capsys, corpus, models, *only_cpu)
    assert code == 0 and "End to end" not in out
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["settings"]["backends"] == ["cpu"] and rep["end_to_end"] == {}
    group = next(iter(rep["groups"].values()))
    assert "speedup_vs_opencv" not in group["cpu"] and group["cpu"]["x_floor"] > 0  # no baseline: no ratio to it


def test_unreadable_inputs_are_left_out_and_fail_the_run(corpus: Path, models: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a photo")
    one = next(corpus.glob("0.05mp_gray_baseline_*.jpg"))
    code, _, err = bench(capsys, [one, tmp_path / "broken.jpg"], models, "--no-end-to-end")
    assert code == 1 and "acc: left out: " in err and "broken.jpg" in err
    code, _, err = bench(capsys, tmp_path / "broken.jpg", models)
    assert code == 2 and "no photos to measure" in err
    code, _, err = bench(capsys, one, models, "--rounds", "0")
    assert code == 2 and "--rounds" in err


def test_size_groups_separate_the_usual_sizes() -> None:
    def photo(width: int, height: int) -> Photo:
        return Photo(f"{width}x{height}", b"", ImageInfo("jpeg", width, height))

    photos = [photo(4000, 3000), photo(632, 474), photo(1826, 1370), photo(640, 480), photo(4032, 3024)]
    assert size_groups(photos) == [("0.3 MP", [1, 3]), ("2.5 MP", [2]), ("12 MP", [0, 4])]


def test_end_to_end_repeats_the_photos_for_a_steady_state(corpus: Path, models: Path, tmp_path: Path, capsys) -> None:
    """--steady-seconds S: each recorded run holds about S seconds of work at the bound, in copies of the
    photos (so a run of 8 small photos is not over before the runner is busy)."""
    one = sorted(corpus.glob("0.05mp_*.jpg"))[:2]
    code, out, err = bench(capsys, one, models, "--backend", "cpu", "--steady-seconds", "0.5", "--json",
                           str(tmp_path / "r.json"))  # fmt: skip
    assert code == 0, err
    e2e = json.loads((tmp_path / "r.json").read_text())["end_to_end"]["cpu"]
    assert e2e["photos_per_run"] > 2 and e2e["photos_per_run"] % 2 == 0  # whole copies of the two photos
    assert e2e["failed"] == 0
    assert f"end to end runs {e2e['photos_per_run'] // 2} x 2 photos" in err
