"""kernels/ascend/build.sh without CANN: --dry-run prints every command it would run, and a run against
stand-in CANN tools (msopgen, the generated project's build, atc: scripts that record what they get) goes
through the same commands. Checked: one operator per msopgen call with the flags CANN 8.1.RC1's msopgen
documents (op_gen/interface/arg_parser.py: -i -f -c -out -m -op -lan), the environment the generated build
needs, and the single-op JSON and `atc --singleop` where the backend looks for the operators.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from acc.backends.ascend.backend import op_model_dir
from acc.backends.ascend.emulator import Emulator
from acc.kernels.ascend import singleop
from acc.models import resolve
from conftest import TEST_MODEL

KERNELS = Path(__file__).resolve().parents[1] / "kernels" / "ascend"
BUILD = KERNELS / "build.sh"
OPS = [entry["op"] for entry in json.loads((KERNELS / "op_ir.json").read_text())]
MSOPGEN_FLAGS = {"-i", "-f", "-c", "-out", "-m", "-op", "-lan"}


def build(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(["bash", str(BUILD), *args], env={**base, **env}, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


def dry_run(model_dir: Path, soc: str, *extra: str) -> list[list[str]]:
    result = build(["--dry-run", "--model", TEST_MODEL, "--model-dir", str(model_dir), "--soc", soc, *extra], {})
    assert result.returncode == 0, result.stderr
    return [shlex.split(line) for line in result.stdout.splitlines() if not line.startswith("#")]


def flags(command: list[str]) -> dict[str, str]:
    """msopgen gen's options (each takes one value) -> value."""
    assert command[:2] == ["msopgen", "gen"] and len(command) % 2 == 0, command
    pairs = dict(zip(command[2::2], command[3::2]))
    assert set(pairs) <= MSOPGEN_FLAGS, pairs
    return pairs


@pytest.mark.parametrize(("soc", "soc_dir"), [("Ascend310", "ascend310"), ("Ascend310P3", "ascend310p")])
def test_dry_run_prints_every_command_without_cann(model_dir: Path, soc: str, soc_dir: str) -> None:
    commands = dry_run(model_dir, soc)
    gens = [flags(c) for c in commands if c[0] == "msopgen"]
    assert [g["-op"] for g in gens] == OPS  # one operator per call: msopgen asks which one otherwise
    project = gens[0]["-out"]
    for g in gens:
        assert (g["-i"], g["-f"], g["-c"], g["-lan"], g["-out"]) == (str(KERNELS / "op_ir.json"), "tf",
                                                                      f"ai_core-{soc}", "py", project)  # fmt: skip
    assert "-m" not in gens[0] and all(g["-m"] == "1" for g in gens[1:])  # make the project, then add to it
    copies = [c for c in commands if c[0] == "cp"]
    assert [c[-1] for c in copies] == [f"{project}/tbe/impl/", f"{project}/tbe/op_info_cfg/ai_core/{soc_dir}/",
                                       f"{project}/op_proto/"]  # fmt: skip
    build_line = next(c for c in commands if c[0] == "cd")
    assert build_line[1:3] == [project, "&&"] and build_line[3] == "env" and build_line[-2:] == ["bash", "build.sh"]
    assert build_line[4].startswith("ASCEND_TENSOR_COMPILER_INCLUDE=/")
    install = next(c for c in commands if c[0].startswith(f"{project}/build_out/custom_opp_"))
    assert install[0].endswith(".run") and install[1:] == ["--quiet"]
    ops_dir = op_model_dir(resolve(TEST_MODEL, model_dir), soc)
    assert [sys.executable, "-m", "acc.kernels.ascend.singleop", "--soc", soc, "--model", TEST_MODEL, "--model-dir",
            str(model_dir), "-o", f"{ops_dir}/acc_ops.json"] in commands  # fmt: skip
    assert commands[-1] == ["atc", f"--singleop={ops_dir}/acc_ops.json", f"--soc_version={soc}", f"--output={ops_dir}"]
    assert not ops_dir.exists()  # printed, not run


def test_no_install_leaves_the_package_alone(model_dir: Path) -> None:
    assert not any(c[0].endswith(".run") for c in dry_run(model_dir, "Ascend310", "--no-install"))


def test_without_cann_a_real_run_says_what_is_missing(model_dir: Path) -> None:
    result = build(["--model", TEST_MODEL, "--model-dir", str(model_dir)], {})
    assert result.returncode == 2 and "msopgen not found" in result.stderr and "--emulate" in result.stderr


FAKE_MSOPGEN = """#!{python}
import pathlib, re, sys
args = dict(zip(sys.argv[2::2], sys.argv[3::2]))
out = pathlib.Path(args["-out"])
with open("{log}", "a") as log:
    print("msopgen", *sys.argv[1:], file=log)
name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", args["-op"]).lower()
soc_dir = args["-c"].split("-", 1)[1].lower().replace("ascend310p3", "ascend310p")
for path in (f"tbe/impl/{{name}}.py", f"tbe/op_info_cfg/ai_core/{{soc_dir}}/{{name}}.ini", f"op_proto/{{name}}.h",
             f"op_proto/{{name}}.cc"):
    (out / path).parent.mkdir(parents=True, exist_ok=True)
    (out / path).write_text("generated stub")
if args.get("-m", "0") == "0":  # a new project: its build.sh makes the package, which logs its install
    (out / "build.sh").write_text('''mkdir -p build_out
echo "build ASCEND_TENSOR_COMPILER_INCLUDE=$ASCEND_TENSOR_COMPILER_INCLUDE $(ls tbe/impl op_proto | tr '\\\\n' ' ')" >> {log}
printf '#!/bin/sh\\\\necho install "$@" >> {log}\\\\n' > build_out/custom_opp_test_x86_64.run
chmod +x build_out/custom_opp_test_x86_64.run
''')
"""
FAKE_ATC = """#!/bin/sh
echo atc "$@" >> {log}
"""


def test_a_run_with_stand_in_cann_tools_goes_through_every_step(model_dir: Path, tmp_path: Path) -> None:
    bin_dir, log = tmp_path / "bin", tmp_path / "log.txt"
    bin_dir.mkdir()
    for name, text in (("msopgen", FAKE_MSOPGEN), ("atc", FAKE_ATC)):
        tool = bin_dir / name
        tool.write_text(text.format(python=sys.executable, log=log))
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    home, include = tmp_path / "cann", tmp_path / "cann" / "include" / "graph"
    include.mkdir(parents=True)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "ASCEND_HOME_PATH": str(home), "ASCEND_OPP_PATH": str(home / "opp")}
    result = build(["--model", TEST_MODEL, "--model-dir", str(model_dir)], env)
    assert result.returncode == 2 and "ASCEND_TENSOR_COMPILER_INCLUDE" in result.stderr  # no CANN headers there
    (include / "operator_reg.h").write_text("")
    result = build(["--model", TEST_MODEL, "--model-dir", str(model_dir)], env)
    assert result.returncode == 0, result.stderr
    lines = log.read_text().splitlines()
    gens, (build_line, install, atc) = lines[: len(OPS)], lines[len(OPS) :]
    assert [line.split()[-1] for line in gens] == OPS
    assert build_line.split()[:2] == ["build", f"ASCEND_TENSOR_COMPILER_INCLUDE={home}/include"]
    files = {f for f in build_line.split()[2:] if not f.endswith(":")}  # `ls` of tbe/impl and op_proto
    assert files == {"acc_colour.py", "acc_colour.h", "acc_colour.cc"}  # msopgen's stubs replaced by ours
    assert install == "install --quiet"
    ops_dir = op_model_dir(resolve(TEST_MODEL, model_dir), "Ascend310")
    assert atc == f"atc --singleop={ops_dir}/acc_ops.json --soc_version=Ascend310 --output={ops_dir}"
    entries = json.loads((ops_dir / singleop.JSON_NAME).read_text())  # the JSON atc compiles, and the emulator
    assert {e["op"] for e in entries} == {*OPS, "Cast", "MatMul", "BatchMatMul", "ReduceSumD", "TransposeD"}
    acl = Emulator("Ascend310")
    assert acl.init() == 0 and acl.op.set_model_dir(str(ops_dir)) == 0


# --- bash 4.2 (CentOS 7): no empty array expanded bare under set -u ----------------------------------------
def bare_expansions_of_emptied_arrays(script: str) -> list[str]:
    """Each "${a[@]}" in the script of an array it assigns () somewhere, not inside the ${a[@]+...} guard."""
    found = []
    for name in set(re.findall(r"^\s*(\w+)=\(\)", script, re.M)):
        for m in re.finditer(re.escape(f'"${{{name}[@]}}"'), script):
            if not script[: m.start()].endswith(f"${{{name}[@]+"):
                found.append(name)
    return found


def test_no_array_that_can_be_empty_is_expanded_bare() -> None:
    """Before bash 4.4, "${a[@]}" of an array with no elements is an unbound variable under set -u (bash
    4.4's CHANGES, "Using ${a[@]} or ${a[*]} with an array without any assigned elements when the nounset
    option is enabled no longer throws an unbound variable error"); build.sh runs under set -u."""
    assert bare_expansions_of_emptied_arrays(BUILD.read_text()) == []
    assert bare_expansions_of_emptied_arrays('set -u\nm=()\nrun x "${m[@]}"\nm=(-m 1)\n') == ["m"]  # the check bites


@pytest.mark.parametrize(("setup", "words"), [("a=()", []), ("a=(-m 1)", ["-m", "1"]), ("a=('x y' z)", ["x y", "z"])])
def test_the_guarded_expansion_gives_no_word_for_an_empty_array_and_each_element_otherwise(setup: str,
                                                                                          words: list[str]) -> None:
    """The guard build.sh uses, ${a[@]+"${a[@]}"}, under set -u (this bash: the semantics the guard relies on
    are those of ${a[@]+word}, which bash 4.2 has too; no bash 4.2 could be installed here to run it)."""
    script = f'set -euo pipefail; {setup}; set -- ${{a[@]+"${{a[@]}}"}}; echo "$#"; for w; do echo "$w"; done'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [str(len(words)), *words]
