"""tools/atc_command.py: the atc argument lists for the fetchable models (atc itself is not here), and the
.om names that tie an .om to the ONNX it was built from."""

from __future__ import annotations

import shlex
import stat
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from acc.backends.ascend.model import find_om, om_stem
from acc.models import ModelError, load_catalogue
from conftest import TEST_MODEL

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import atc_command as ac  # noqa: E402


@pytest.fixture
def eccv16(tmp_path: Path):
    return load_catalogue()["eccv16"].spec(tmp_path, "eccv16-0123.onnx", sha256="")


def test_static_batch_eccv16_for_the_310(eccv16, tmp_path: Path) -> None:
    out = tmp_path / "eccv16_Ascend310_b1"
    assert ac.atc_command(eccv16, "Ascend310", out) == [
        "atc",
        "--framework=5",
        f"--model={tmp_path / 'eccv16-0123.onnx'}",
        f"--output={out}",
        "--input_format=NCHW",
        "--input_shape=L:1,1,224,224",
        "--soc_version=Ascend310",
        "--precision_mode=allow_fp32_to_fp16",
        "--output_type=FP32",
    ]


def test_dynamic_batch_siggraph17_for_the_310p(tmp_path: Path) -> None:
    spec = load_catalogue()["siggraph17"].spec(tmp_path, "s.onnx", sha256="")
    command = ac.atc_command(spec, "Ascend310P3", tmp_path / "o", "force_fp32", [8, 1, 4, 2, 4])
    assert "--input_shape=L:-1,1,256,256" in command
    assert command[-1] == "--dynamic_batch_size=1,2,4,8"
    assert "--soc_version=Ascend310P3" in command and "--precision_mode=force_fp32" in command
    assert not any(arg.startswith("--insert_op_conf") for arg in command)  # no AIPP
    spec = replace(spec, sha256="0123456789ab" + "f" * 52)
    assert om_stem(spec, "Ascend310P3", [8, 1, 4, 2]) == "siggraph17_0123456789ab_Ascend310P3_b1-2-4-8"


@pytest.mark.parametrize(
    "kwargs",
    [{"soc_version": "Ascend910"}, {"precision_mode": "fp8"}, {"dynamic_batch": [4]}, {"dynamic_batch": [0, 2]}],
)
def test_bad_options_are_refused(eccv16, tmp_path: Path, kwargs: dict) -> None:
    args = {"soc_version": "Ascend310", **kwargs}
    with pytest.raises(ValueError):
        ac.atc_command(eccv16, output=tmp_path / "o", **args)


def test_main_prints_one_command_per_soc(model_dir: Path, capsys) -> None:
    assert ac.main([TEST_MODEL, "--model-dir", str(model_dir), "--dynamic-batch", "1,2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [shlex.split(line)[6] for line in lines] == ["--soc_version=Ascend310", "--soc_version=Ascend310P3"]
    sha12 = ac.resolve(TEST_MODEL, model_dir).sha256[:12]
    assert f"--output={model_dir / f'{TEST_MODEL}_{sha12}_Ascend310_b1-2'}" in shlex.split(lines[0])


def test_run_passes_the_list_to_atc_unchanged(model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """A stand-in `atc` records its argv: the list arrives as built, with no shell in between."""
    bin_dir, record = tmp_path / "bin", tmp_path / "argv.txt"
    bin_dir.mkdir()
    fake = bin_dir / "atc"
    fake.write_text(f'#!/bin/sh\nfor a in "$@"; do echo "$a" >> {record}; done\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    out_dir = tmp_path / "om dir; rm -rf x"  # a path a shell would misread
    code = ac.main([TEST_MODEL, "--model-dir", str(model_dir), "--soc-version", "Ascend310", "--run",
                    "--output-dir", str(out_dir)])  # fmt: skip
    assert code == 0
    spec_path = model_dir / "linear.onnx"
    spec = ac.resolve(TEST_MODEL, model_dir)
    expected = ac.atc_command(spec, "Ascend310", out_dir / f"{TEST_MODEL}_{spec.sha256[:12]}_Ascend310_b1")
    assert record.read_text().splitlines() == expected[1:]
    assert f"--model={spec_path}" in expected


def test_run_without_atc_or_with_a_damaged_model_says_so(model_dir: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", "")
    assert ac.main([TEST_MODEL, "--model-dir", str(model_dir), "--run"]) == 2
    assert "atc is not on PATH" in capsys.readouterr().err
    (model_dir / "linear.onnx").write_bytes(b"not the registered file")
    assert ac.main([TEST_MODEL, "--model-dir", str(model_dir), "--run"]) == 2
    assert "checksum mismatch" in capsys.readouterr().err


def test_the_backend_loads_only_an_om_built_from_the_current_onnx(model_dir: Path) -> None:
    spec = ac.resolve(TEST_MODEL, model_dir)
    with pytest.raises(ModelError, match=r"no .*_Ascend310_b\*\.om .*build it: python tools/atc_command.py"):
        find_om(spec, "Ascend310")
    stale = model_dir / f"{TEST_MODEL}_000000000000_Ascend310_b1.om"  # compiled from an earlier ONNX
    stale.write_bytes(b"old")
    (model_dir / f"{om_stem(spec, 'Ascend310P3')}.om").write_bytes(b"other chip")
    with pytest.raises(ModelError, match=f"{stale.name} was built from another version of its ONNX.*rebuild it"):
        find_om(spec, "Ascend310")
    for sizes in ([], [1, 2, 4]):
        (model_dir / f"{om_stem(spec, 'Ascend310', sizes)}.om").write_bytes(b"current")
    assert find_om(spec, "Ascend310").name == f"{TEST_MODEL}_{spec.sha256[:12]}_Ascend310_b1-2-4.om"
    assert find_om(spec, "Ascend310P3").name == f"{om_stem(spec, 'Ascend310P3')}.om"
