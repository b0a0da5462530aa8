#!/usr/bin/env python3
"""Train acc-tiny 2 (measured, not shipped: acc-tiny 1 stays the embedded default) and export it to ONNX.

Recipe (documented in models/acc_tiny.md):
  * data: every colour photo under DATA (a folder of colour photos in subfolders, not in this repository):
    imagenet_sample, bsds500_trainval, urban100 ("large": squashed to 256 x 256, as the product squashes a
    photo to 224 x 224) and tiny_imagenet_64, stl10, flowers ("small": each set at its own square size).
    Decoded once into a float16 Lab cache (scratch/). A seeded split holds out 64 large photos for
    choosing the decode and reporting. Or (--carried) a *carried set*: a subset of the same photos,
    re-encoded into JPEG packs small enough to travel with the repository to a lent GPU (--prepare
    makes it; tools/device_train.sh runs it there).
  * targets: Zhang et al. ECCV16 classification -- ab quantized to the in-gamut cells of a 10 x 10 grid
    (colorizer_net.gamut_bins), soft-encoded over the 5 nearest cells (Gaussian sigma 5), class
    rebalancing with lambda 0.5 against the smoothed prior of the training pixels, cross-entropy.
  * training: 128 x 128 crops (the net is fully convolutional), 3/4 of each batch from the large photos
    (random squares of 128..256 px resampled to the crop) and 1/4 from the small ones (85-100 % squares
    upscaled), mirrored at random, no colour jitter; AdamW, one-cycle LR over 4000 steps of 32, or over
    a wall-clock budget (--budget-s: as many steps as fit), seeded. Any device (--device), optionally in
    bf16 / fp16 autocast (--amp) and through torch.compile (--compile); the crops are cut on the device.
  * decode: ab = chroma * softmax((logits - alpha log w) / T) . centres (annealed mean; alpha in 0..1
    undoes part or all of the rebalancing weights w), alpha / T / chroma chosen on the held-out photos by
    one network run per photo and a numpy decode per setting, folded into the graph -> ONNX input L
    (L-50), output ab.

    python tools/train_colorizer.py --data DATA/train --out-dir scratch/acc_tiny2

writes scratch/acc_tiny2/acc_tiny2.onnx, its run summary acc_tiny2.json (steps, crops/s, losses, the
decode chosen, held-out metrics, the model's SHA-256) and a held-out contact sheet; checkpoints (ONNX with a
provisional decode) replace each other there every --ckpt-every-s seconds.

The photos, their cache and the crops are tools/train_data.py's; the schedule, the surviving step and the
run's files tools/train_loop.py's. `--arch tiny1` builds acc-tiny 1's network; acc-tiny 1 itself was trained by this tool as of commit
b536067 (other crops and batch mix), acc-tiny 2's CPU run by the tool as of 38fce5a (numpy crops).
Optional report on a held-out evaluation folder (never used for training or choices):
    python tools/train_colorizer.py --eval-only MODEL.onnx --report DEV_SET/sunhays80
"""
from __future__ import annotations

import time

STARTED = time.time()  # a --budget-s counts from here (or from ACC_TRAIN_STARTED), before torch is imported

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import device_io  # noqa: E402
from acc import metrics  # noqa: E402
from acc.evaluate import ab_of  # noqa: E402
from train_data import (EXTS, CropSampler, build_cache, lab_of, load_carried, prepare_carried,  # noqa: E402
                        read_lab, say)
from train_loop import Plan, RunFiles, Stepper, collect, compiled, one_cycle  # noqa: E402

# ---------------------------------------------------------------------------------- rebalancing
def class_prior(sampler: CropSampler, centres: np.ndarray, large_frac: float = 0.5, sigma: float = 5.0) -> np.ndarray:
    """Distribution of nearest cells over the training pixels as the batches mix them (`large_frac` of
    the pixels from the large photos, the rest from the small ones), at 1/4 resolution, smoothed with a
    Gaussian of `sigma` ab units over the cell centres. Counted where the sampler holds the photos."""
    import torch

    C = torch.from_numpy(centres).to(sampler.device)

    def hist(arrays) -> np.ndarray:
        counts = torch.zeros(len(centres), dtype=torch.float64, device=sampler.device)
        for arr in arrays:
            for i in range(0, len(arr), 64):
                ab = arr[i:i + 64, 1:, ::4, ::4].float().permute(0, 2, 3, 1).reshape(-1, 2)
                nearest = torch.cdist(ab, C, compute_mode="donot_use_mm_for_euclid_dist").argmin(1)
                counts += torch.bincount(nearest, minlength=len(centres))
        return (counts / counts.sum()).cpu().numpy()

    large, smalls = sampler.sources[:1], sampler.sources[1:]
    p = hist(large) if not smalls else large_frac * hist(large) + (1 - large_frac) * hist(smalls)
    d2 = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    k = np.exp(-d2 / (2 * sigma * sigma))
    ps = k @ p
    return ps / ps.sum()


def rebalance_weights(prior: np.ndarray, lam: float) -> np.ndarray:
    """w ~ ((1 - lam) p + lam / Q)^-1, normalised so that E_p[w] = 1 (ECCV16 eq. 4)."""
    w = 1.0 / ((1 - lam) * prior + lam / len(prior))
    return w / (prior * w).sum()


def decode_ab(logits: np.ndarray, log_bias: np.ndarray, T: float, centres: np.ndarray) -> np.ndarray:
    """N x 2 x h x w ab = softmax((logits + log_bias) / T) . centres, computed as the exported
    AnnealedMeanColorizer computes it (float64 here); logits N x Q x h x w, log_bias Q."""
    x = (logits + log_bias[None, :, None, None]) / T
    x = np.exp(x - x.max(1, keepdims=True))
    p = x / x.sum(1, keepdims=True)
    return np.einsum("nqhw,qc->nchw", p, centres.astype(np.float64))


class LogitsOnce:
    """Runs the network (in float32, on its device) once per model input and hands the logits to every
    decode of the grid, and each decode (alpha, T) once to every chroma scale; safe to share between
    threads that each work on one input at a time (the network runs one at a time)."""

    def __init__(self, net):
        self.net, self.lock, self.last = net, threading.Lock(), threading.local()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        if getattr(self.last, "x", None) is not x:
            device = next(self.net.parameters()).device
            with self.lock, torch.no_grad():
                out = self.net(torch.from_numpy(x.astype(np.float32)).to(device))
                self.last.logits = out.float().cpu().numpy().astype(np.float64)
            self.last.x, self.last.decoded = x, {}
        return self.last.logits

    def decoded(self, x: np.ndarray, alpha: float, T: float, logw: np.ndarray, centres: np.ndarray) -> np.ndarray:
        """decode_ab of the logits of x with log_bias -alpha * logw at temperature T."""
        logits = self(x)
        if (alpha, T) not in self.last.decoded:
            self.last.decoded[alpha, T] = decode_ab(logits, -alpha * logw, T, centres)
        return self.last.decoded[alpha, T]


# ------------------------------------------------------------------------------------- eval
def model_input(lab: np.ndarray) -> np.ndarray:
    """The OpenCV baseline's model input: Lab (full size) -> resize 224 bilinear -> 1 x 1 x 224 x 224 L-50."""
    small = cv2.resize(lab, (224, 224), interpolation=cv2.INTER_LINEAR)
    return small[None, None, :, :, 0] - 50.0


def render(lab: np.ndarray, ab: np.ndarray | None) -> np.ndarray:
    """The OpenCV baseline's output: model ab (2 x 56 x 56, None = no colour) bilinear to full size ->
    merge with full-res L -> Lab2BGR -> clip -> x255 round -> uint8 BGR."""
    h, w = lab.shape[:2]
    if ab is None:
        ab_full = np.zeros((h, w, 2), np.float32)
    else:
        ab_full = cv2.resize(np.ascontiguousarray(ab.transpose(1, 2, 0), dtype=np.float32), (w, h),
                             interpolation=cv2.INTER_LINEAR)
    out = np.concatenate([lab[:, :, :1], ab_full], axis=2).astype(np.float32)
    bgr = np.clip(cv2.cvtColor(out, cv2.COLOR_Lab2BGR), 0, 1)
    return np.round(bgr * 255.0).astype(np.uint8)


def evaluate(files, predicts: dict, sheet: str | None = None, sheet_n: int = 8, threads: int = 1) -> dict:
    """Metrics (mean over images) for each named predictor (None -> no colour) and the originals' CF;
    the photos on `threads` threads (OpenCV and numpy's large array operations release the GIL)."""
    def one(n: int, f) -> tuple[dict, float, list[np.ndarray]]:
        bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
        lab = lab_of(bgr)
        ab_true = ab_of(bgr)
        scores, row = {}, [bgr]
        x = model_input(lab)  # one object per photo: the grid's predictors share the network run on it
        for k, pr in predicts.items():
            out = render(lab, None if pr is None else pr(x)[0])
            scores[k] = {"psnr": metrics.psnr(out, bgr), "auc": metrics.auc_ab(ab_of(out), ab_true),
                         "cf": metrics.colourfulness(out[:, :, ::-1])}
            row.append(out)
        return scores, metrics.colourfulness(bgr[:, :, ::-1]), row if sheet and n < sheet_n else []

    with ThreadPoolExecutor(max(1, threads)) as pool:
        results = list(pool.map(one, range(len(files)), files))
    if sheet and results:
        cv2.imwrite(sheet, np.concatenate([np.concatenate([cv2.resize(x, (320, 240), interpolation=cv2.INTER_AREA)
                                                           for x in row], axis=1) for _, _, row in results[:sheet_n]]))
    summary = {k: {m: float(np.mean([r[0][k][m] for r in results])) for m in ("psnr", "auc", "cf")} for k in predicts}
    summary["original_cf"] = float(np.mean([r[1] for r in results]))
    return summary


def onnx_predictor(model: str | bytes):
    """ONNX Runtime on the CPU for a model file or its bytes: 1 x 1 x 224 x 224 L-50 -> 1 x 2 x 56 x 56 ab."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(["ab"], {"L": x.astype(np.float32)})[0]


def fmt(summary: dict) -> str:
    lines = [f"{'':>12} {'PSNR dB':>8} {'AuC %':>7} {'CF':>6}"]
    for k, v in summary.items():
        if isinstance(v, dict):
            lines.append(f"{k:>12} {v['psnr']:8.2f} {v['auc']:7.2f} {v['cf']:6.2f}")
    lines.append(f"{'originals':>12} {'':>8} {'':>7} {summary['original_cf']:6.2f}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- train
def arch_options(args) -> dict:
    if args.arch == "tiny1":
        return {}
    return {"widths": tuple(int(w) for w in args.widths.split(",")),
            "dilations": tuple(int(d) for d in args.dilations.split(",")), "head_convs": args.head_convs}


def train(args) -> None:
    import torch
    import torch.nn.functional as F
    import colorizer_net as cn

    started = float(os.environ.get("ACC_TRAIN_STARTED") or STARTED)
    plan = Plan(args.steps, args.budget_s, args.reserve_s, started, args.max_steps)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)  # the decode threads of a carried set each run their own OpenCV calls
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    amp = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.amp]
    summary = {"argv": sys.argv[1:], "torch": torch.__version__, "device": args.device,
               "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
               "amp": args.amp, "phases_s": {}}
    files = RunFiles(args.out_dir, args.name, args.split, summary)

    def phase(name: str) -> None:
        summary["phases_s"][name] = round(time.time() - started, 1)
        say(f"[{summary['phases_s'][name]:7.1f}s] {name}")

    cache = load_carried(args.carried, args.threads) if args.carried else build_cache(args.data, args.cache, args.seed)
    phase("data ready")
    sampler = CropSampler(cache, args.crop, args.batch, args.seed, args.large_frac, args.device)
    centres = cn.gamut_bins()
    Q = len(centres)
    prior = class_prior(sampler, centres, args.large_frac)
    wts = rebalance_weights(prior, args.lam)
    phase("class prior")
    say(f"bins {Q}; prior max {prior.max():.4f}; rebal weights {wts.min():.3f}..{wts.max():.3f}")

    net = cn.build_net(Q, seed=args.seed, arch=args.arch, **arch_options(args))
    summary["params"] = int(sum(p.numel() for p in net.parameters()))
    summary["gflops224"] = 2 * cn.count_macs(cn.AnnealedMeanColorizer(net, centres, 1.0)) / 1e9
    say(f"params {summary['params']}; GFLOPs@224 {summary['gflops224']:.3f}")
    net = net.to(dev, memory_format=torch.channels_last)
    C = torch.from_numpy(centres).to(dev)
    W = torch.from_numpy(wts.astype(np.float32)).to(dev)
    sig2 = 2 * args.sigma ** 2
    logw = np.log(wts)
    hold = [str(f) for f in cache["holdout"]]
    hold_lab = torch.from_numpy(np.stack([cv2.resize(read_lab(f), (224, 224), interpolation=cv2.INTER_AREA)
                                          for f in hold]).transpose(0, 3, 1, 2).copy()).to(dev)

    def loss_fn(model, lab, rebalance: bool = True):
        """Weighted cross-entropy against the soft-encoded targets; the targets and the softmax in float32."""
        logits = model(lab[:, :1] - 50.0).float()
        with torch.no_grad():
            pab = F.avg_pool2d(lab[:, 1:].float(), 4).permute(0, 2, 3, 1).reshape(-1, 2)  # area to 1/4
            dk, ik = torch.topk(torch.cdist(pab, C).pow(2), 5, dim=1, largest=False)     # 5 nearest cells
            g = torch.exp(-dk / sig2)
            g = g / g.sum(1, keepdim=True)
        logp = F.log_softmax(logits, dim=1).permute(0, 2, 3, 1).reshape(-1, Q)
        ce = -(g * torch.gather(logp, 1, ik)).sum(1)
        return (W[ik[:, 0]] * ce).mean() if rebalance else ce.mean()

    def held_out_loss() -> float:
        """Cross-entropy without rebalancing (comparable across priors) on the held-out photos squashed to 224."""
        was = net.training
        net.eval()
        with torch.no_grad():
            value = float(sum(loss_fn(net, hold_lab[i:i + 16], rebalance=False) * len(hold_lab[i:i + 16])
                              for i in range(0, len(hold_lab), 16)) / len(hold_lab))
        net.train(was)
        return value

    def model_bytes(alpha: float, T: float, chroma: float) -> bytes:
        return cn.onnx_bytes(cn.AnnealedMeanColorizer(net, centres, T, chroma, None if alpha == 0 else -alpha * logw))

    provisional = dict(zip(("alpha", "T", "chroma"), (float(v) for v in args.ckpt_decode.split(","))))
    if args.from_ckpt:  # re-export / re-choose the decode from a saved model, no training
        net.load_state_dict(cn.saved_weights(args.from_ckpt, net))
        step = 0
    else:
        step = fit(args, net, plan, dev, amp, sampler, loss_fn, held_out_loss, model_bytes, provisional, files, phase)
    net.eval()
    held_loss = held_out_loss()
    summary["heldout_loss"] = held_loss
    say(f"held-out cross-entropy (photos squashed to 224, no rebalancing) {held_loss:.4f}")
    # choose the decode -- alpha (prior correction), T, chroma -- on the held-out train photos only
    temps = [float(t) for t in args.temps.split(",")]
    chromas = [float(c) for c in args.chromas.split(",")]
    alphas = [float(a) for a in args.alphas.split(",")]
    cands = [(al, T, ch) for al in alphas for T in temps for ch in chromas]
    name = {c: f"a={c[0]:g} T={c[1]:g} c={c[2]:g}" for c in cands}
    logits = LogitsOnce(net)
    preds = {"no colour": None}
    for al, T, ch in cands:
        preds[name[al, T, ch]] = lambda x, al=al, T=T, ch=ch: ch * logits.decoded(x, al, T, logw, centres)
    summ = evaluate(hold, preds, threads=args.threads)
    say("held-out train photos (%d):\n%s" % (len(hold), fmt(summ)))
    base = summ["no colour"]
    # the most colourful setting that is not more wrong than gray on the held-out photos
    # (AuC >= gray's + margin, PSNR >= gray's - 0.3 dB); if none is, the one with the best AuC
    key = {c: summ[name[c]] for c in cands}
    ok = [c for c in cands if key[c]["auc"] >= base["auc"] + args.auc_margin
          and key[c]["psnr"] >= base["psnr"] - 0.3]
    al, T, ch = max(ok, key=lambda c: key[c]["cf"]) if ok else max(cands, key=lambda c: key[c]["auc"])
    if args.temperature:
        al, T, ch = args.alpha, args.temperature, args.chroma
    say(f"chosen alpha = {al:g}, T = {T:g}, chroma = {ch:g}")
    phase("decode chosen")
    data = model_bytes(al, T, ch)
    files.model(data, {"step": step, "alpha": al, "T": T, "chroma": ch}, final=True)
    held = evaluate(hold, {"no colour": None, "acc-tiny": onnx_predictor(data)},
                    sheet=str(files.dir / f"{args.name}_holdout.png"), threads=args.threads)
    say("exported %s; held-out metrics of the ONNX:\n%s" % (", ".join(summary["model"]["files"]), fmt(held)))
    summary.update({"heldout_grid": summ, "heldout": held})
    phase("done")
    files.save_summary()
    say(json.dumps({k: v for k, v in summary.items() if "heldout_grid" not in k and k != "log"}, default=float))
    if args.report:
        report(data, args.report, str(files.dir / f"{args.name}_report.png"))


def fit(args, net, plan: Plan, dev, amp, sampler: CropSampler, loss_fn, held_out_loss, model_bytes, provisional: dict,
        files: RunFiles, phase) -> int:
    """The training loop: steps until the plan is done, a log line every --log-every-s seconds (loss over
    the interval, steps, crops/s), a checkpoint (an ONNX with the provisional decode, and its held-out loss)
    every --ckpt-every-s seconds and at the end. A non-finite loss stops the run on the last checkpoint's weights.
    Returns the number of steps of the weights left in `net`."""
    import torch

    summary = files.summary
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=args.wd,
                            fused=dev.type == "cuda")
    stepper = Stepper(net, compiled(net, args.compile, dev), opt, sampler, loss_fn, amp, args.min_batch)
    summary.update({"batch": args.batch, "crop": args.crop, "log": [], "checkpoints": [], "events": stepper.events})
    net.train()
    step, crops, crops_timed, good = 0, 0, 0, None
    run_loss, run_steps, run_crops = torch.zeros((), device=dev), 0, 0
    t_log = t_ckpt = time.time()

    def checkpoint(now: float) -> None:
        nonlocal good
        loss = held_out_loss()
        files.model(model_bytes(**provisional), {"step": step, **provisional}, final=False)
        good = ({k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}, step)
        summary["checkpoints"].append({"step": step, "s": round(now - (plan.t0 or now), 1), "heldout_loss": loss})
        files.save_summary()
        say(f"checkpoint at step {step}: held-out cross-entropy {loss:.4f}")

    while not plan.done(step, time.time()):
        lr, beta1 = one_cycle(plan.progress(step, time.time()), args.lr)
        loss = stepper(lr, beta1)
        step += 1
        crops += sampler.batch
        run_loss += loss
        run_steps += 1
        run_crops += sampler.batch
        if step == 1:
            float(loss)  # wait for the first step: its time is the compilation's
            plan.t0 = time.time()
            phase("first step (compilation included)")
            t_log = t_ckpt = plan.t0
            run_loss.zero_()
            run_steps = run_crops = 0
            crops_timed = 0
            continue
        crops_timed += sampler.batch
        now = time.time()
        if now - t_log < args.log_every_s and not plan.done(step, now):
            continue
        mean = float(run_loss) / run_steps  # waits for the device: the rate below is of finished work
        now = time.time()
        rate = run_crops / (now - t_log)
        entry = {"step": step, "s": round(now - plan.t0, 1), "loss": mean, "lr": lr, "crops_per_s": rate,
                 "batch": sampler.batch}
        summary["log"].append(entry)
        say(f"step {step} loss {mean:.4f} lr {lr:.2e} {entry['s']:.0f}s of training, {rate:.0f} crops/s "
            f"(batch {sampler.batch})")
        run_loss.zero_()
        run_steps = run_crops = 0
        t_log = now
        if not math.isfinite(mean):
            summary["events"].append(f"non-finite loss at step {step}; stopped on the last checkpoint")
            say(summary["events"][-1])
            if good is None:
                raise SystemExit("train_colorizer: the loss was not finite before the first checkpoint")
            net.load_state_dict(good[0])
            step = good[1]
            break
        if now - t_ckpt >= args.ckpt_every_s:
            checkpoint(now)
            t_ckpt = time.time()
    train_s = time.time() - plan.t0 if plan.t0 else 0.0
    if not summary["checkpoints"] or summary["checkpoints"][-1]["step"] != step:
        checkpoint(time.time())  # the trained weights are safe before the decode is chosen
    summary.update({"steps": step, "crops": crops, "train_s": train_s,
                    "crops_per_s": crops_timed / train_s if step > 1 and train_s > 0 else float("nan"),
                    "final_batch": sampler.batch, "compiled": stepper.model is not net})
    phase("training done")
    say(f"trained {step} steps, {crops} crops in {train_s:.0f}s after the first step "
        f"({summary['crops_per_s']:.0f} crops/s), {'compiled' if summary['compiled'] else 'eager'}")
    return step


def report(model: str | bytes, folder: str, sheet: str | None) -> None:
    """Metrics of `model` (an ONNX file or its bytes; '' = no colour only) on the colour photos of `folder`."""
    files = sorted(f for f in glob.glob(os.path.join(folder, "*")) if f.lower().endswith(EXTS))
    preds = {"no colour": None}
    if model:
        preds["acc-tiny"] = onnx_predictor(model)
    s = evaluate(files, preds, sheet=sheet)
    say("report on %s (%d photos):\n%s" % (folder, len(files), fmt(s)))
    say(json.dumps(s))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="folder of colour photos in the subfolders named above (needed unless cached)")
    ap.add_argument("--carried", default="", help="train on this carried set (see --prepare) instead of --data")
    ap.add_argument("--prepare", default="", metavar="DEST",
                    help="write the carried set of --data to DEST and stop (replaces an earlier carried set there)")
    ap.add_argument("--collect", default="", metavar="RUN_DIR",
                    help="join and check the model of a run folder (e.g. a device run's $OUT) into --out-dir, and stop")
    ap.add_argument("--cache", default=os.path.join(ROOT, "scratch", "train_cache_v2.npz"))
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "scratch", "acc_tiny2"),
                    help="the model (NAME.onnx), the run summary (NAME.json), checkpoints and contact sheets")
    ap.add_argument("--name", default="acc_tiny2")
    ap.add_argument("--split", action="store_true",
                    help=f"write the model in parts of at most {device_io.PART_BYTES} bytes (a device run's limit)")
    ap.add_argument("--steps", type=int, default=4000, help="schedule length in steps (without --budget-s)")
    ap.add_argument("--budget-s", type=float, default=0.0,
                    help="wall-clock seconds for the whole command: as many steps as fit, the schedule on the clock")
    ap.add_argument("--reserve-s", type=float, default=90.0,
                    help="of --budget-s, the seconds kept for choosing the decode and the export after training")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps whatever the schedule")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--min-batch", type=int, default=8, help="out of memory halves the batch, down to this")
    ap.add_argument("--crop", type=int, default=128, help="training crop side (tiny2: a multiple of 32)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--lam", type=float, default=0.5, help="rebalancing lambda")
    ap.add_argument("--sigma", type=float, default=5.0, help="soft-encoding Gaussian sigma")
    ap.add_argument("--arch", default="tiny2", choices=["tiny1", "tiny2"])
    ap.add_argument("--widths", default="32,64,128,256,384", help="tiny2: widths at 1/2, 1/4 ... 1/32")
    ap.add_argument("--dilations", default="1,2", help="tiny2: one residual block at 1/32 per dilation")
    ap.add_argument("--head-convs", type=int, default=2, help="tiny2: 3x3 convs at 1/4 before the logits")
    ap.add_argument("--large-frac", type=float, default=0.75, help="share of each batch from the large photos")
    ap.add_argument("--temps", default="0.38,0.7,0.85,1", help="annealed-mean temperatures tried")
    ap.add_argument("--chromas", default="1,1.1,1.2,1.3,1.4,1.5,1.6,1.7,1.8",
                    help="chroma scales tried (folded into the ONNX)")
    ap.add_argument("--alphas", default="0,0.5,0.75,1",
                    help="decode-time prior corrections tried: logits - alpha * log(rebalancing weight)")
    ap.add_argument("--auc-margin", type=float, default=0.0)
    ap.add_argument("--chroma", type=float, default=1.0, help="chroma scale used with --temperature")
    ap.add_argument("--alpha", type=float, default=0.0, help="prior correction used with --temperature")
    ap.add_argument("--temperature", type=float, default=0.0, help="force T (skip the choice)")
    ap.add_argument("--ckpt-decode", default="1,1,1.3",
                    help="alpha,T,chroma of the checkpoints' ONNX (acc-tiny 2's CPU choice); the final one is chosen")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads and carried-set decode threads; 1 by default: on a shared 2-core machine, "
                         "2 OpenMP threads ran up to 4x slower than 1 whenever another process was busy")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", default="off", choices=["off", "bf16", "fp16"], help="autocast of the network's forward")
    ap.add_argument("--compile", default="auto", choices=["auto", "on", "off"],
                    help="torch.compile the network (auto: on a GPU); on any failure it trains eager")
    ap.add_argument("--log-every-s", type=float, default=30.0)
    ap.add_argument("--ckpt-every-s", type=float, default=300.0)
    ap.add_argument("--from-ckpt", default="",
                    help="skip training: load this model (.onnx or .npz), choose the decode, export")
    ap.add_argument("--report", default="", help="folder of colour photos to report metrics on (after training)")
    ap.add_argument("--eval-only", default=None, metavar="ONNX",
                    help="skip training; report --report for this ONNX ('' = no-colour only)")
    args = ap.parse_args(argv)
    try:
        run(args)
    except device_io.CarriedSetError as e:  # a carried set missing or unusable: one line, no traceback
        raise SystemExit(f"train_colorizer: {e}") from e


def run(args) -> None:
    if args.prepare:
        prepare_carried(args.data, args.prepare, args.seed)
    elif args.collect:
        collect(args.collect, args.out_dir, args.name)
    elif args.eval_only is not None:
        report(args.eval_only, args.report, os.path.join(args.out_dir, f"{args.name}_report.png"))
    else:
        train(args)


if __name__ == "__main__":
    main()
