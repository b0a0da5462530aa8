"""The parts of a training run that know nothing of the recipe: the one-cycle schedule by steps or on the
clock, the optimizer step that survives a failing torch.compile and running out of device memory, and the
files a run leaves (a model whole or in parts, its summary), with `collect` to check and join them.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import device_io
from train_data import say


def one_cycle(p: float, peak: float, pct: float = 0.05, div: float = 20.0, final_div: float = 200.0,
              beta_hi: float = 0.95, beta_lo: float = 0.85) -> tuple[float, float]:
    """(learning rate, Adam beta1) at progress p (0..1) of a one-cycle schedule (Smith 2018; PyTorch's
    OneCycleLR with cosine annealing): the rate rises from peak / div to peak over the first `pct` and
    falls to peak / (div * final_div) by the end; beta1 moves the other way, beta_hi -> beta_lo -> beta_hi."""
    def cos(a: float, b: float, t: float) -> float:
        return b + (a - b) * (1 + math.cos(math.pi * t)) / 2

    p = min(max(p, 0.0), 1.0)
    if p < pct:
        return cos(peak / div, peak, p / pct), cos(beta_hi, beta_lo, p / pct)
    t = (p - pct) / (1 - pct)
    return cos(peak, peak / (div * final_div), t), cos(beta_lo, beta_hi, t)


class Plan:
    """When training stops and how far along its schedule a step is: `steps` steps, or (budget_s > 0)
    as many as fit before `started + budget_s - reserve_s`, the schedule then running on the clock from
    the end of the first step (which includes any compilation). `max_steps` caps either."""

    def __init__(self, steps: int, budget_s: float, reserve_s: float, started: float, max_steps: int = 0):
        self.steps, self.max_steps = steps, max_steps
        self.end = started + budget_s - reserve_s if budget_s > 0 else None
        self.t0: float | None = None

    def progress(self, step: int, now: float) -> float:
        if self.end is None:
            return step / self.steps
        if self.t0 is None:
            return 0.0
        return (now - self.t0) / max(self.end - self.t0, 1e-9)

    def done(self, step: int, now: float) -> bool:
        if self.max_steps and step >= self.max_steps:
            return True
        if self.end is None:
            return step >= self.steps
        return step >= 1 and now >= self.end


class Stepper:
    """One optimizer step on a fresh batch, surviving what a first run on an unseen machine may meet:

    * `model` (torch.compile's module, or `net` itself) failing in any way: logged once, the step is
      retried, and the run goes on with the eager `net` (same parameters);
    * the device running out of memory: the batch is halved (not below `min_batch`) and the step retried.

    `loss(model, lab)` returns the scalar loss; `amp` is None, torch.bfloat16 or torch.float16 (then with
    a gradient scaler). Returns the loss as a detached device tensor: nothing here waits for the device.
    """

    def __init__(self, net, model, opt, sampler, loss, amp, min_batch: int = 8) -> None:
        import torch

        self.net, self.model, self.opt, self.sampler, self.loss = net, model, opt, sampler, loss
        self.amp, self.min_batch = amp, min_batch
        self.scaler = torch.amp.GradScaler(sampler.device.type, enabled=amp is torch.float16)
        self.events: list[str] = []  # what it survived, for the run summary

    def _note(self, msg: str) -> None:
        self.events.append(msg)
        say(msg)

    def __call__(self, lr: float, beta1: float):
        import torch

        for group in self.opt.param_groups:
            group["lr"], group["betas"] = lr, (beta1, group["betas"][1])
        while True:
            lab = self.sampler.next()
            try:
                with torch.autocast(self.sampler.device.type, dtype=self.amp or torch.float32,
                                    enabled=self.amp is not None):
                    loss = self.loss(self.model, lab)
                self.opt.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.opt)
                self.scaler.update()
                return loss.detach()
            except torch.OutOfMemoryError:
                self.opt.zero_grad(set_to_none=True)
                del lab
                if self.sampler.device.type == "cuda":
                    torch.cuda.empty_cache()
                if self.sampler.batch <= self.min_batch:
                    raise
                self.sampler.batch = max(self.min_batch, self.sampler.batch // 2)
                self._note(f"out of device memory: batch halved to {self.sampler.batch}")
            except Exception as e:  # noqa: BLE001 -- any failure of the compiled module: train eager instead
                if self.model is self.net:
                    raise
                self.opt.zero_grad(set_to_none=True)
                first = (str(e).strip().splitlines() or [""])[0][:200]
                self._note(f"torch.compile failed ({type(e).__name__}: {first}); training eager")
                self.model = self.net
                torch._dynamo.reset()


def compiled(net, mode: str, device) -> object:
    """torch.compile(net) where asked ('on', or 'auto' on a GPU), else `net`; a failure to even set it up
    leaves `net` (failures at the first step are the Stepper's)."""
    import torch

    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return net
    try:
        return torch.compile(net)
    except Exception as e:  # noqa: BLE001
        say(f"torch.compile unavailable ({type(e).__name__}: {e}); training eager")
        return net


class RunFiles:
    """What a run writes into `out_dir`: the model (NAME.onnx, or NAME.onnx.part0.. with --split, each at
    most device_io.PART_BYTES), the summary NAME.json (rewritten whole after every change, naming the
    model's files and SHA-256) and contact sheets. A checkpoint is written under its own name before the
    previous one is removed, so the folder always holds one complete model that the summary names."""

    def __init__(self, out_dir: str, name: str, split: bool, summary: dict) -> None:
        self.dir, self.name, self.split, self.summary = Path(out_dir), name, split, summary
        self.dir.mkdir(parents=True, exist_ok=True)

    def save_summary(self) -> None:
        tmp = self.dir / f".{self.name}.json.tmp"
        tmp.write_text(json.dumps(self.summary, indent=1, default=float))
        os.replace(tmp, self.dir / f"{self.name}.json")

    def model(self, data: bytes, info: dict, final: bool) -> None:
        stem = f"{self.name}.onnx" if final else f"{self.name}-ckpt-step{info['step']}.onnx"
        if self.split:
            files = device_io.write_parts(data, self.dir, stem)
        else:
            tmp = self.dir / f".{stem}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, self.dir / stem)
            files = [stem]
        old = self.summary.get("model", {}).get("files", [])
        self.summary["model"] = {"files": files, "sha256": device_io.sha256(data), "bytes": len(data),
                                 "final": final, **info}
        self.save_summary()
        for f in old:
            if f not in files:
                (self.dir / f).unlink(missing_ok=True)


def collect(run_dir: str, dest: str, name: str) -> str:
    """The model of a finished (or cut-off) run folder, joined from its parts and checked against the
    SHA-256 its summary records, written to dest/<its file name>; returns that path."""
    try:
        model = json.loads((Path(run_dir) / f"{name}.json").read_text())["model"]
        data = device_io.join_parts(Path(run_dir), model["files"], model["sha256"])
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"collect: no intact model in {run_dir}: {e}") from e
    target = Path(dest) / model["files"][0].split(".part")[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    say(f"collect: {target} ({len(data)} bytes, SHA-256 {model['sha256'][:16]}..., step {model['step']}, "
        f"{'final' if model['final'] else 'checkpoint, provisional decode'})")
    return str(target)
