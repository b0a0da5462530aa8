"""Runs on Ray (acc/cluster.py, acc/ray.py) against a real local cluster: the same bytes, journal, reasons
and exit statuses as a local run; a second node; a worker killed mid-run, and one killed by a photo every
time; a driver killed and the run resumed; acc.ray.Colorize in a user's own dataset.

One cluster (ray.cluster_utils: a head node with 2 CPUs, no dashboard, a small object store) serves the
whole module; each test has a timeout, so that a hung Ray run fails instead of stalling CI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'acc-colorize[ray]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'acc-colorize[ray]')")

import acc  # noqa: E402
import ray_support  # noqa: E402
from acc.cli import EXIT_FAILED, EXIT_OK, main  # noqa: E402
from acc.cluster import TASK_RETRIES, TODO_NAME  # noqa: E402
from acc.outdir import JOURNAL_NAME  # noqa: E402
from acc.ray import Colorize  # noqa: E402
from conftest import TEST_MODEL, encode, gradient_photo, write_photos  # noqa: E402
from test_hardening import bad_crc_png, corrupt_jpeg  # noqa: E402
from test_pipeline import assert_whole_jpeg, final_outputs, journal  # noqa: E402

TESTS = Path(__file__).resolve().parent
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    from ray.cluster_utils import Cluster

    state = tmp_path_factory.mktemp("ray-state")
    # Ray's processes inherit these: the test backend's module, and where it keeps its state.
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", ray_support.DIR_ENV)}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), saved["PYTHONPATH"]]))
    os.environ[ray_support.DIR_ENV] = str(state)
    ray_support.register()  # in this process (the driver) too
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False,
                                                            "object_store_memory": 128 * 1024**2})  # fmt: skip
    ray.init(address=cluster.address, log_to_driver=False,
             runtime_env={"worker_process_setup_hook": "ray_support.register"})  # fmt: skip
    yield cluster
    ray.shutdown()
    cluster.shutdown()
    for key, value in saved.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def results(out: Path) -> list[dict]:
    return [e for e in journal(out) if e["status"] in ("ok", "failed")]


def comparable(out: Path) -> list[tuple]:
    """The journal's results as a set, less their times (Ray's come in the order tasks finish)."""
    return sorted((e["output"] or "", e["input"], e["status"], e.get("reason", ""), tuple(e.get("warnings", ())),
                   e.get("fingerprint", "")) for e in results(out))  # fmt: skip


def run_both(src: Path, tmp_path: Path, **settings) -> tuple[Path, Path, list, list]:
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    seen_local, seen_ray = [], []
    acc.colorize_files([src], local, on_outcome=seen_local.append, **settings)
    acc.colorize_files([src], on_ray, on_outcome=seen_ray.append, ray="auto", **settings)
    return local, on_ray, seen_local, seen_ray


# --- same results -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend,fmt", [("cpu", "jpeg"), ("opencv", "png")])
def test_same_bytes_and_journal_as_a_local_run(cluster, tmp_path: Path, model_dir: Path, backend: str, fmt: str):
    src = tmp_path / "in"
    write_photos(src / "box", 5, (60, 80))
    write_photos(src, 21, (48, 64), ext=".png")
    (src / "p003.jpg").write_bytes(encode(gradient_photo(50, 70, seed=3), ".jpg"))  # p003.png's sibling
    settings = {"backend": backend, "format": fmt, "model": TEST_MODEL, "model_dir": model_dir, "threads": 1,
                "batch_size": 3}  # fmt: skip
    local, on_ray, seen_local, seen_ray = run_both(src, tmp_path, **settings)
    names = [p.relative_to(local) for p in final_outputs(local)]
    assert len(names) == 27 and names == [p.relative_to(on_ray) for p in final_outputs(on_ray)]
    assert "p003.jpg." + ("jpg" if fmt == "jpeg" else "png") in {n.name for n in names}  # the naming rule held
    for name in names:
        assert (on_ray / name).read_bytes() == (local / name).read_bytes(), name
    assert comparable(on_ray) == comparable(local)
    # Every output was journaled "writing" before a worker could rename it into place.
    assert sorted(e["output"] for e in journal(on_ray) if e["status"] == "writing") == sorted(map(str, names))
    def outcomes(seen: list, out: Path) -> list:  # the same outcomes, in any order, outputs relative to OUT
        return sorted((o.display, o.status, o.reason, o.output.relative_to(out), o.pixels, o.warnings) for o in seen)

    assert outcomes(seen_ray, on_ray) == outcomes(seen_local, local)
    assert not (on_ray / TODO_NAME).exists()
    # Resumed: everything is done, on Ray as locally.
    again = acc.colorize_files([src], on_ray, ray="auto", **settings)
    assert (again.ok, again.skipped, again.failed) == (0, 27, 0)


def core_bad_inputs(src: Path, elsewhere: Path) -> None:
    """The bad inputs of the core tests (tests/test_pipeline.py, test_hardening.py, test_api.py)."""
    write_photos(src, 4)
    good = encode(gradient_photo(48, 64), ".jpg")
    (src / "empty.jpg").write_bytes(b"")
    (src / "text.png").write_bytes(b"hello")
    (src / "cut.jpg").write_bytes(good[: len(good) // 2])
    (src / "noise.bmp").write_bytes(b"\x00\x01\x02 not an image at all")
    (src / "anim.webp").write_bytes(b"GIF89a" + bytes(20))
    (src / "damaged.jpg").write_bytes(corrupt_jpeg(5))  # colorized, with a warning
    (src / "crc.png").write_bytes(bad_crc_png())
    (src / "big.png").write_bytes(encode(gradient_photo(200, 300), ".png"))  # over --max-pixels below
    os.mkfifo(src / "pipe.jpg")
    (src / "broken.jpg").symlink_to(elsewhere / "nowhere.jpg")
    for ext in (".png", ".bmp"):  # siblings of one stem keep their suffixes: 256 bytes, over NAME_MAX
        (src / ("c" * 248 + ext)).write_bytes(encode(gradient_photo(), ext))


@pytest.mark.parametrize("strict", [False, True])
def test_bad_inputs_fail_alike_with_the_same_reasons_and_exit_status(cluster, tmp_path: Path, acc_env: dict,
                                                                     capsys, strict: bool) -> None:  # fmt: skip
    src = tmp_path / "in"
    core_bad_inputs(src, tmp_path)
    lines, codes = {}, {}
    for where, extra in (("local", []), ("ray", ["--ray", "auto"])):
        out = tmp_path / where
        argv = ["colorize", str(src), "-o", str(out), "--model", TEST_MODEL, "--backend", "cpu", "--threads", "1",
                "--max-pixels", "50000", *(["--strict"] if strict else []), *extra]  # fmt: skip
        codes[where] = main(argv)
        stdout, stderr = capsys.readouterr()
        lines[where] = sorted(line for line in stderr.splitlines() if line.startswith(("acc: failed", "acc: warning")))
        lines[where].append(stdout.splitlines()[0].split(" in ")[0])  # the counts of the summary line
    assert codes == {"local": EXIT_FAILED, "ray": EXIT_FAILED}
    assert lines["ray"] == lines["local"]
    expected = ["empty file", "not an image", "truncated JPEG", "unsupported format: GIF", "corrupt or truncated PNG",
                "exceeds the", "not a regular file (a named pipe)", "broken symbolic link", "the file system allows"]
    text = "\n".join(lines["ray"])
    assert all(reason in text for reason in expected), text
    if strict:
        assert "failed: " + str(src / "damaged.jpg") + ": corrupt JPEG data" in text
    else:
        assert "warning: " + str(src / "damaged.jpg") + ": corrupt JPEG data" in text
    assert comparable(tmp_path / "ray") == comparable(tmp_path / "local")
    # All good: exit 0 on Ray too.
    assert main(["colorize", str(src / "p000.jpg"), "-o", str(tmp_path / "one"), "--model", TEST_MODEL,
                 "--ray", "auto"]) == EXIT_OK  # fmt: skip


def test_a_second_node_takes_work(cluster, tmp_path: Path, model_dir: Path) -> None:
    node = cluster.add_node(num_cpus=2, include_dashboard=False, object_store_memory=128 * 1024**2)
    try:
        cluster.wait_for_nodes()
        for f in Path(os.environ[ray_support.DIR_ENV]).glob("node-*"):
            f.unlink()
        src = tmp_path / "in"
        # Slow photos: 48 x 0.3 s of work, so that the second node's worker, which starts later, takes some.
        write_photos(src, 48, (60, ray_support.SLOW_WIDTH))
        summary = acc.colorize_files([src], tmp_path / "out", backend=ray_support.NAME, workers=2, model=TEST_MODEL,
                                     model_dir=model_dir, ray="auto")  # fmt: skip
        assert (summary.ok, summary.failed) == (48, 0)
        worked = {f.name: len(f.read_text().split()) for f in Path(os.environ[ray_support.DIR_ENV]).glob("node-*")}
        assert len(worked) == 2 and sum(worked.values()) == 48, worked  # a worker on each node, each photo once
    finally:
        cluster.remove_node(node)


def test_cuda_workers_run_where_the_gpus_are(cluster, tmp_path: Path, model_dir: Path) -> None:
    """A cuda worker asks Ray for a GPU: here a node declaring one (a logical GPU; the backend runs against
    its emulator), the head having none. Same bytes as the same backend locally."""
    node = cluster.add_node(num_cpus=1, num_gpus=1, include_dashboard=False, object_store_memory=128 * 1024**2)
    try:
        cluster.wait_for_nodes()
        src = tmp_path / "in"
        write_photos(src, 2, (24, 32))
        local, on_ray, _, _ = run_both(src, tmp_path, backend="cuda", emulate=True, model=TEST_MODEL,
                                       model_dir=model_dir)  # fmt: skip
        names = [p.relative_to(local) for p in final_outputs(local)]
        assert len(names) == 2
        assert all((on_ray / n).read_bytes() == (local / n).read_bytes() for n in names)
    finally:
        cluster.remove_node(node)


# --- faults -------------------------------------------------------------------------------------------------


def test_a_worker_that_cannot_start_ends_the_run_saying_why(cluster, tmp_path: Path, model_dir: Path) -> None:
    src = tmp_path / "in"
    write_photos(src, 3)
    # The driver has no say on whether a backend runs on the workers' nodes: the workers find out.
    with pytest.raises(acc.ClusterError, match="a Ray worker failed: BackendError: backend 'ascend' cannot run here"):
        acc.colorize_files([src], tmp_path / "out", backend="ascend", model=TEST_MODEL, model_dir=model_dir,
                           ray="auto")  # fmt: skip
    assert not final_outputs(tmp_path / "out")
    assert not (tmp_path / "out" / TODO_NAME).exists()


def deaths(data: bytes) -> int:
    import hashlib

    marker = Path(os.environ[ray_support.DIR_ENV]) / f"killed-{hashlib.blake2b(data, digest_size=8).hexdigest()}"
    return len(marker.read_text().split()) if marker.exists() else 0


def test_a_worker_killed_mid_run_is_replaced_and_its_photos_redone(cluster, tmp_path: Path, model_dir: Path):
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 40, (60, 80))
    victim = encode(gradient_photo(60, ray_support.KILL_ONCE_WIDTH, seed=7), ".jpg")
    (src / "p017b.jpg").write_bytes(victim)  # in the middle of a task: photos before it were written already
    notices: list[str] = []
    summary = acc.colorize_files([src], out, backend=ray_support.NAME, model=TEST_MODEL, model_dir=model_dir,
                                 batch_size=2, ray="auto", on_notice=notices.append)  # fmt: skip
    assert deaths(victim) == 1  # the worker did die
    assert (summary.ok, summary.failed) == (41, 0)
    entries = results(out)
    assert sorted(e["output"] for e in entries) == sorted(p.name for p in final_outputs(out))  # each once
    for path in final_outputs(out):
        assert_whole_jpeg(path, (60, ray_support.KILL_ONCE_WIDTH) if path.name == "p017b.jpg" else (60, 80))
    assert not [n for n in notices if "lost" in n]  # Ray's own retry did it


def test_a_photo_that_kills_every_worker_fails_alone(cluster, tmp_path: Path, model_dir: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 12, (60, 80))
    poison = encode(gradient_photo(60, ray_support.KILL_ALWAYS_WIDTH, seed=8), ".jpg")
    (src / "p005b.jpg").write_bytes(poison)
    notices: list[str] = []
    summary = acc.colorize_files([src], out, backend=ray_support.NAME, model=TEST_MODEL, model_dir=model_dir,
                                 ray="auto", on_notice=notices.append)  # fmt: skip
    assert (summary.ok, summary.failed) == (12, 1)
    # Ray's attempts at the task, then acc's at the photo alone.
    assert deaths(poison) == 2 * (TASK_RETRIES + 1)
    failed = [e for e in results(out) if e["status"] == "failed"]
    assert [(e["output"], e["reason"]) for e in failed] == [
        ("p005b.jpg", f"its worker process died on it {TASK_RETRIES + 1} times")]
    assert any("redoing them one per task" in n for n in notices)
    assert len(results(out)) == 13


def test_a_killed_driver_leaves_a_run_the_next_one_finishes(cluster, tmp_path: Path, model_dir: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 240, (90, 120))
    cmd = [sys.executable, "-m", "acc.cli", "colorize", str(src), "-o", str(out), "--model", TEST_MODEL,
           "--model-dir", str(model_dir), "--backend", "opencv", "--threads", "1",
           "--ray", cluster.address]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if (out / JOURNAL_NAME).exists() and b'"ok"' in (out / JOURNAL_NAME).read_bytes():
                break
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done_before = {e["output"] for e in results(out) if e["status"] == "ok"}
    assert 0 < len(done_before) < 240
    for path in final_outputs(out):  # whatever is under a final name is whole
        assert_whole_jpeg(path, (90, 120))
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == EXIT_OK, rerun.stderr
    assert f"{240 - len(done_before)} colorized, {len(done_before)} skipped" in rerun.stdout
    oks = [e["output"] for e in results(out) if e["status"] == "ok"]
    assert len(oks) == len(set(oks)) == 240  # each photo journaled done once, over both runs
    assert len(final_outputs(out)) == 240
    for path in final_outputs(out):
        assert_whole_jpeg(path, (90, 120))
    assert not [p for p in out.iterdir() if p.name.endswith(".acc-partial")]


# --- acc.ray.Colorize in a user's own dataset ----------------------------------------------------------------


def test_colorize_class_in_a_users_dataset(cluster, tmp_path: Path, model_dir: Path) -> None:
    src = tmp_path / "in"
    paths = write_photos(src, 6, (60, 80))
    (src / "bad.jpg").write_bytes(b"not a photo at all")
    ds = ray.data.read_binary_files(str(src), include_paths=True)
    ds = ds.map_batches(Colorize, fn_constructor_kwargs={"model": TEST_MODEL, "model_dir": str(model_dir),
                                                         "quality": 90, "threads": 1},
                        batch_size=4, compute=ray.data.ActorPoolStrategy(size=1), num_cpus=1)  # fmt: skip
    rows = {Path(row["path"]).name: row for row in ds.iter_rows()}
    assert set(rows) == {p.name for p in paths} | {"bad.jpg"}
    assert "bytes" not in rows["bad.jpg"]
    assert rows["bad.jpg"]["colorized"] is None and rows["bad.jpg"]["error"].startswith("not an image")
    with acc.Colorizer(model=TEST_MODEL, model_dir=str(model_dir), threads=1) as c:
        for path in paths:
            assert rows[path.name]["error"] is None
            assert rows[path.name]["colorized"] == c.colorize_bytes(path.read_bytes(), quality=90)


def test_the_readme_example_runs(cluster, tmp_path: Path, monkeypatch, capsys) -> None:
    import shutil

    from test_readme import ROOT, python_blocks

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    (block,) = python_blocks("Beyond one machine: Ray")
    exec(compile(block, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if line.endswith(" bytes")]) == len(list((ROOT / "examples").glob("*.jpg")))
