"""tools/device_train.sh and what it rests on: the carried set (tools/device_io.py, the recipe's --prepare),
the model returned in parts, the wall-clock schedule, the step that survives a failing torch.compile and
running out of memory, and the rehearsal of the whole GPU run on this CPU.

Every photo here is made here (a user's checkout has no training pool); torchvision is never needed.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import colorizer_net as cn  # noqa: E402
import device_io  # noqa: E402
import train_data as td  # noqa: E402
import train_loop as tl  # noqa: E402

RETURN_FILES, RETURN_BYTES = 8, 16 * 2**20  # what one device call brings back: files, bytes per file


def smooth_photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A colourful BGR photo with some texture (JPEG-compressible like a real one)."""
    coarse = rng.uniform(0, 255, (4, 4, 3)).astype(np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) + rng.normal(0, 6, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Path:
    """A training pool in the layout of the real one: the six sets, photos of their usual sizes."""
    root = tmp_path_factory.mktemp("pool")
    rng = np.random.default_rng(0)
    layout = {"imagenet_sample": (7, (300, 280)), "bsds500_trainval": (3, (320, 240)), "urban100": (2, (260, 300)),
              "tiny_imagenet_64": (30, (64, 64)), "stl10": (5, (96, 96)), "flowers": (4, (128, 128))}
    for s, (n, (h, w)) in layout.items():
        (root / s).mkdir()
        for i in range(n):
            cv2.imwrite(str(root / s / f"img_{i:03d}.jpg"), smooth_photo(rng, h, w))
    cv2.imwrite(str(root / "flowers" / "odd.jpg"), smooth_photo(rng, 120, 140))  # squashed to the set's 128
    (root / "stl10" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


@pytest.fixture(scope="module")
def carried(pool, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("carried") / "train_set"
    td.prepare_carried(str(pool), str(dest), n_holdout=3, limits={"tiny_imagenet_64": 20})
    return dest


# ------------------------------------------------------------------------------- the carried set
def test_carried_set_holds_the_recipes_photos(pool, carried):
    """The training split's large photos squashed to 256, the small sets at their square size (a seeded
    subset where limited), the held-out split byte for byte -- the same split as a CPU run from the pool."""
    manifest = device_io.read_manifest(carried)
    train_large, hold = td.split_large(str(pool), 0, n_holdout=3)
    per_set = {s: sum(Path(f).parent.name == s for f in train_large) for s in td.LARGE_SETS}
    assert manifest["recipe"]["source_sets"] == {**per_set, "tiny_imagenet_64": 20, "stl10": 5, "flowers": 5}
    cache = td.load_carried(str(carried), threads=2)
    assert cache["large"].shape == (len(train_large), 256, 256, 3) and cache["large"].dtype == np.float16
    assert cache["small:tiny_imagenet_64"].shape == (20, 64, 64, 3)
    assert cache["small:stl10"].shape == (5, 96, 96, 3)  # the broken file was left out when preparing
    assert cache["small:flowers"].shape == (5, 128, 128, 3)
    assert [Path(p).read_bytes() for p in cache["holdout"]] == [Path(p).read_bytes() for p in hold]
    # each large photo is its pool photo, squashed: Lab within what JPEG quality 85 costs
    want = np.stack([td.lab_of(cv2.resize(cv2.imread(f), (256, 256), interpolation=cv2.INTER_AREA))
                     for f in train_large])
    err = np.abs(cache["large"].astype(np.float32) - want).mean(axis=(0, 1, 2))
    assert err[0] < 1.5 and err[1:].max() < 2.5, err
    # the seeded subset of a limited set is the same at every preparation
    assert manifest["recipe"]["limits"] == {"tiny_imagenet_64": 20}


def test_damaged_or_missing_files_are_left_out_with_one_line_each(carried, tmp_path, capsys):
    bad = tmp_path / "set"
    import shutil

    shutil.copytree(carried, bad)
    packs = device_io.read_manifest(bad)["packs"]
    tiny = next(p for p in packs if p["set"] == "tiny_imagenet_64")
    flowers = next(p for p in packs if p["set"] == "flowers")
    data = bytearray((bad / tiny["file"]).read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: decodes, but is not what was prepared
    (bad / tiny["file"]).write_bytes(bytes(data))
    (bad / flowers["file"]).write_bytes((bad / flowers["file"]).read_bytes()[:500])  # truncated
    held = device_io.read_manifest(bad)["files"]
    (bad / held[0]["file"]).unlink()
    cache = td.load_carried(str(bad), threads=2)
    out = capsys.readouterr().out
    assert f"left out {tiny['file']} (20 photos of tiny_imagenet_64): damaged" in out
    assert f"left out {flowers['file']} (5 photos of flowers): damaged" in out
    assert f"left out {held[0]['file']}: missing" in out
    assert "small:tiny_imagenet_64" not in cache and "small:flowers" not in cache
    assert len(cache["small:stl10"]) == 5 and len(cache["holdout"]) == len(held) - 1


def test_a_set_over_its_budget_is_refused_and_nothing_replaced(pool, carried, tmp_path, capsys):
    before = (carried / "manifest.json").read_bytes()
    with pytest.raises(SystemExit, match="over its"):
        td.prepare_carried(str(pool), str(carried), n_holdout=3, budget=100_000)
    assert f"prepare: left out {pool / 'stl10' / 'broken.png'}: OpenCV cannot read it" in capsys.readouterr().out
    assert (carried / "manifest.json").read_bytes() == before
    assert [p.name for p in carried.parent.iterdir()] == ["train_set"]  # no half-written folder left
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("not a carried set")
    with pytest.raises(device_io.CarriedSetError, match="not a carried set"):
        td.prepare_carried(str(pool), str(other), n_holdout=3)
    assert (other / "notes.txt").read_text() == "not a carried set"


def test_mosaic_round_trip():
    tiles = np.random.default_rng(2).integers(0, 256, (11, 16, 16, 3), dtype=np.uint8)
    image = device_io.mosaic(tiles, cols=4)
    assert image.shape == (48, 64, 3)
    assert np.array_equal(device_io.unmosaic(image, 16, 4, 11), tiles)


# ------------------------------------------------------------------------------- model in parts
def test_model_parts_join_only_when_whole_and_unchanged(tmp_path, monkeypatch):
    monkeypatch.setattr(device_io, "PART_BYTES", 1000)
    data = np.random.default_rng(3).integers(0, 256, 2500, dtype=np.uint8).tobytes()
    names = device_io.write_parts(data, tmp_path, "m.onnx")
    assert names == ["m.onnx.part0", "m.onnx.part1", "m.onnx.part2"]
    assert [(tmp_path / n).stat().st_size for n in names] == [1000, 1000, 500]
    sha = hashlib.sha256(data).hexdigest()
    assert device_io.join_parts(tmp_path, names, sha) == data
    with pytest.raises(ValueError, match="missing part"):
        device_io.join_parts(tmp_path, names + ["m.onnx.part3"], sha)
    with pytest.raises(ValueError, match="not a plain file name"):
        device_io.join_parts(tmp_path, ["../m.onnx.part0"], sha)
    (tmp_path / names[1]).write_bytes(b"x" * 1000)
    with pytest.raises(ValueError, match="do not hash"):
        device_io.join_parts(tmp_path, names, sha)


# ---------------------------------------------------------------------------- schedule and plan
def test_one_cycle_schedule():
    lr0, b0 = tl.one_cycle(0.0, 2e-3)
    assert lr0 == pytest.approx(1e-4) and b0 == pytest.approx(0.95)
    assert tl.one_cycle(0.05, 2e-3) == (pytest.approx(2e-3), pytest.approx(0.85))
    assert tl.one_cycle(1.0, 2e-3) == (pytest.approx(5e-7), pytest.approx(0.95))
    lrs = [tl.one_cycle(p, 2e-3)[0] for p in np.linspace(0, 1, 201)]
    peak = int(np.argmax(lrs))
    assert np.all(np.diff(lrs[:peak + 1]) > 0) and np.all(np.diff(lrs[peak:]) < 0)
    assert tl.one_cycle(1.5, 2e-3) == tl.one_cycle(1.0, 2e-3)


def test_plan_by_steps_and_by_the_clock():
    fixed = tl.Plan(steps=10, budget_s=0, reserve_s=90, started=0.0)
    assert fixed.progress(5, 1e9) == 0.5 and not fixed.done(9, 1e9) and fixed.done(10, 0.0)
    clock = tl.Plan(steps=10, budget_s=500, reserve_s=100, started=1000.0)  # training ends at 1400
    assert clock.progress(0, 1010.0) == 0.0 and not clock.done(0, 1500.0)  # at least one step
    clock.t0 = 1100.0  # the first step (with compilation) ended here
    assert clock.progress(50, 1250.0) == pytest.approx(0.5)
    assert not clock.done(10_000, 1399.0) and clock.done(2, 1400.0)
    capped = tl.Plan(steps=10, budget_s=500, reserve_s=100, started=1000.0, max_steps=3)
    assert capped.done(3, 1001.0)


# ------------------------------------------------------------------------------------ the step
@pytest.fixture
def small_step():
    """acc-tiny 1's network on 32 x 32 crops of random photos, its optimizer and a loss."""
    torch.set_num_threads(2)
    rng = np.random.default_rng(4)
    cache = {"large": rng.uniform(-40, 60, (4, 64, 64, 3)).astype(np.float16)}
    net = cn.build_net(12, seed=0, arch="tiny1")
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    sampler = td.CropSampler(cache, crop=32, batch=16, seed=0, large_frac=1.0)

    def loss(model, lab):
        return model(lab[:, :1] - 50.0).float().pow(2).mean()

    return net, opt, sampler, loss


def test_step_halves_the_batch_on_running_out_of_memory(small_step):
    net, opt, sampler, loss = small_step
    seen = []

    def hungry(model, lab):  # as a device with room for 4 crops
        seen.append(len(lab))
        if len(lab) > 4:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return loss(model, lab)

    before = [p.detach().clone() for p in net.parameters()]
    step = tl.Stepper(net, net, opt, sampler, hungry, amp=None, min_batch=2)
    assert torch.isfinite(step(1e-3, 0.9))
    assert seen == [16, 8, 4] and sampler.batch == 4
    assert step.events == ["out of device memory: batch halved to 8", "out of device memory: batch halved to 4"]
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))  # the step did happen
    def full(model, lab):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    with pytest.raises(torch.OutOfMemoryError):  # no smaller batch to go to: the error stands
        tl.Stepper(net, net, opt, sampler, full, amp=None, min_batch=2)(1e-3, 0.9)
    assert sampler.batch == 2


def test_step_trains_eager_when_the_compiled_module_fails(small_step):
    net, opt, sampler, loss = small_step

    def broken_compile(x):
        raise RuntimeError("BackendCompilerFailed: inductor (simulated)\nlong traceback")

    step = tl.Stepper(net, broken_compile, opt, sampler, loss, amp=torch.bfloat16)
    value = step(1e-3, 0.9)
    assert torch.isfinite(value) and step.model is net
    assert step.events == ["torch.compile failed (RuntimeError: BackendCompilerFailed: inductor (simulated)); "
                           "training eager"]
    assert opt.param_groups[0]["lr"] == 1e-3 and opt.param_groups[0]["betas"][0] == 0.9
    with pytest.raises(ValueError):  # a failure of the eager network itself is not hidden
        tl.Stepper(net, net, opt, sampler, lambda m, lab: (_ for _ in ()).throw(ValueError("bug")), None)(1e-3, 0.9)


def test_saved_weights_load_from_the_exported_onnx_and_refuse_others(tmp_path):
    torch.manual_seed(0)
    centres = cn.gamut_bins()
    net = cn.build_net(len(centres), seed=3, arch="tiny1")
    path = tmp_path / "m.onnx"
    cn.export_onnx(cn.AnnealedMeanColorizer(net, centres, 1.0, 1.3, np.zeros(len(centres))), str(path))
    fresh = cn.build_net(len(centres), seed=4, arch="tiny1")
    fresh.load_state_dict(cn.saved_weights(str(path), fresh))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), fresh.state_dict().values()))
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    np.savez(tmp_path / "w.npz", **state)
    fresh.load_state_dict(cn.saved_weights(str(tmp_path / "w.npz"), fresh))
    state["head.weight"] = state["head.weight"][:, :1]
    np.savez(tmp_path / "w.npz", **state)
    with pytest.raises(Exception, match="shape"):
        cn.saved_weights(str(tmp_path / "w.npz"), fresh)


# ------------------------------------------------------------------------------- the rehearsal
def test_rehearsal_runs_the_device_script_and_returns_a_model(carried, tmp_path):
    """`tools/device_train.sh --rehearse` on this CPU, on a carried set with one damaged pack: it exits 0
    and leaves what a device call would bring back -- within its limits -- and that model runs."""
    import shutil

    bad = tmp_path / "set"
    shutil.copytree(carried, bad)
    pack = device_io.read_manifest(bad)["packs"][-1]
    (bad / pack["file"]).write_bytes(b"")
    run = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("OUT", "ACC_TRAIN_STARTED")}
    env.update(PYTHON=sys.executable, CARRIED=str(bad))
    proc = subprocess.run([str(ROOT / "tools" / "device_train.sh"), "--rehearse", str(run)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = sorted(p.name for p in run.iterdir())
    assert files == ["acc_tiny2.json", "acc_tiny2.onnx.part0", "acc_tiny2.onnx.part1", "acc_tiny2.onnx.part2",
                     "acc_tiny2_holdout.png", "train.log"]
    assert len(files) <= RETURN_FILES and all((run / f).stat().st_size <= RETURN_BYTES for f in files)
    log = (run / "train.log").read_text()
    assert f"left out {pack['file']}" in log and "step 3 loss" in log and "crops/s" in log
    summary = json.loads((run / "acc_tiny2.json").read_text())
    assert summary["steps"] == 3 and summary["amp"] == "bf16" and summary["crops_per_s"] > 0
    assert [e["step"] for e in summary["log"]] == [2, 3] and all(np.isfinite(e["loss"]) for e in summary["log"])
    assert [c["step"] for c in summary["checkpoints"]] == [2, 3]
    assert summary["model"]["final"] and summary["model"]["step"] == 3
    assert set(summary["phases_s"]) >= {"data ready", "first step (compilation included)", "decode chosen", "done"}
    model = tl.collect(str(run), str(tmp_path / "got"), "acc_tiny2")
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    ab = sess.run(["ab"], {"L": np.zeros((1, 1, 224, 224), np.float32)})[0]
    assert ab.shape == (1, 2, 56, 56) and np.isfinite(ab).all()
    part = run / "acc_tiny2.onnx.part1"
    part.write_bytes(part.read_bytes()[:-1] + b"\0")
    with pytest.raises(SystemExit, match="no intact model"):
        tl.collect(str(run), str(tmp_path / "again"), "acc_tiny2")


def test_a_run_without_its_carried_set_stops_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    env.update(PYTHON=sys.executable, CARRIED=str(tmp_path / "nothing"))
    proc = subprocess.run([str(ROOT / "tools" / "device_train.sh"), "--rehearse", str(tmp_path / "run")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stdout.strip().splitlines()[-1] == (f"train_colorizer: {tmp_path / 'nothing'}: no manifest.json "
                                                    "(not a carried set, or its write did not finish)")
    assert "Traceback" not in proc.stdout


def test_throughput_estimate_respects_its_own_ceilings():
    """tools/train_estimate.py (the card's crops/s estimate): never faster than the arithmetic alone at the
    full matrix rate, nor than the convolutions' own bytes at full bandwidth; fusing only helps."""
    import train_estimate as te
    from acc import netspec
    from acc.networks import acc_tiny2

    net = acc_tiny2(te.BINS)
    flops = 6 * netspec.macs(net, (128, 128))
    fused = te.seconds_per_crop(net, 128, 800e12, 3e12, fused=True)
    eager = te.seconds_per_crop(net, 128, 800e12, 3e12, fused=False)
    assert flops / 800e12 < fused < eager
    assert te.seconds_per_crop(net, 128, 400e12, 3e12, fused=True) > fused  # half the rate: slower
    assert te.seconds_per_crop(net, 64, 800e12, 3e12, fused=True) < fused / 3  # a quarter of the pixels


def test_a_non_finite_loss_stops_training_on_the_last_checkpoint(small_step, tmp_path):
    """The loop (train_colorizer.fit): a checkpoint at every log point here; when the loss turns NaN the
    weights of the last checkpoint are put back and training stops there, saying so."""
    import argparse

    import train_colorizer as tc

    net, _, sampler, loss = small_step
    calls, saved = [], {}

    def turns_nan(model, lab):
        calls.append(1)
        value = loss(model, lab)
        return value * float("nan") if len(calls) > 4 else value

    def model_bytes(**decode):
        saved["state"] = {k: v.clone() for k, v in net.state_dict().items()}
        return b"model"

    args = argparse.Namespace(lr=1e-3, wd=1e-4, compile="off", min_batch=2, batch=sampler.batch, crop=32,
                              log_every_s=0, ckpt_every_s=0)
    files = tl.RunFiles(str(tmp_path), "m", split=False, summary={})
    steps = tc.fit(args, net, tl.Plan(10, 0, 0, 0.0), torch.device("cpu"), None, sampler, turns_nan, lambda: 1.0,
                   model_bytes, {"alpha": 1.0, "T": 1.0, "chroma": 1.3}, files, lambda name: None)
    assert steps == 4 and len(calls) == 5
    assert [c["step"] for c in files.summary["checkpoints"]] == [2, 3, 4]
    assert files.summary["events"] == ["non-finite loss at step 5; stopped on the last checkpoint"]
    assert all(torch.equal(v, saved["state"][k]) for k, v in net.state_dict().items())
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert (tmp_path / "m-ckpt-step4.onnx").read_bytes() == b"model"
    assert json.loads((tmp_path / "m.json").read_text())["model"]["step"] == 4
