#!/usr/bin/env python3
"""Train acc-tiny 2 (measured, not shipped: acc-tiny 1 stays the embedded default) and export it to ONNX.

Recipe (documented in models/acc_tiny.md):
  * data: every colour photo under DATA (a folder of colour photos in subfolders, not in this repository):
    imagenet_sample, bsds500_trainval, urban100 ("large": squashed to 256 x 256, as the product squashes a
    photo to 224 x 224) and tiny_imagenet_64, stl10, flowers ("small": each set at its own square size).
    Decoded once into a float16 Lab cache (scratch/). A seeded split holds out 64 large photos for
    choosing the decode and reporting.
  * targets: Zhang et al. ECCV16 classification -- ab quantized to the in-gamut cells of a 10 x 10 grid
    (colorizer_net.gamut_bins), soft-encoded over the 5 nearest cells (Gaussian sigma 5), class
    rebalancing with lambda 0.5 against the smoothed prior of the training pixels, cross-entropy.
  * training: 128 x 128 crops (the net is fully convolutional), 3/4 of each batch from the large photos
    (random squares of 128..256 px resized to the crop) and 1/4 from the small ones (85-100 % squares
    upscaled), mirrored at random, no colour jitter; AdamW, one-cycle LR, 4000 steps of 32, seeded.
  * decode: ab = chroma * softmax((logits - alpha log w) / T) . centres (annealed mean; alpha in 0..1
    undoes part or all of the rebalancing weights w), alpha / T / chroma chosen on the held-out photos by
    one network run per photo and a numpy decode per setting, folded into the graph -> ONNX input L
    (L-50), output ab.

    python tools/train_colorizer.py --data DATA/train --out models/acc_tiny2.onnx

`--arch tiny1` builds acc-tiny 1's network; acc-tiny 1 itself was trained by this tool as of commit
b536067 (other crops and batch mix). Optional report on a held-out evaluation folder (never used for
training or choices):
    python tools/train_colorizer.py --eval-only models/acc_tiny2.onnx --report DEV_SET/sunhays80
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from acc import metrics  # noqa: E402
from acc.evaluate import ab_of  # noqa: E402

LARGE_SETS = ("imagenet_sample", "bsds500_trainval", "urban100")
SMALL_SETS = ("tiny_imagenet_64", "stl10", "flowers")
EXTS = (".jpg", ".jpeg", ".png", ".bmp")
LARGE_SIZE = 256  # large photos are squashed to a square, as the product squashes any photo to 224 x 224
N_HOLDOUT = 64


# ----------------------------------------------------------------------------------------- data
def list_images(data: str, sets) -> list[str]:
    files = []
    for s in sets:
        fs = [f for f in glob.glob(os.path.join(data, s, "*")) if f.lower().endswith(EXTS)]
        files += sorted(fs)
    return files


def read_lab(path: str) -> np.ndarray | None:
    """H x W x 3 float32 Lab of a photo, exactly as the OpenCV baseline computes it."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return cv2.cvtColor(bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)


def build_cache(data: str, cache: str, seed: int) -> dict:
    """float16 Lab of every training photo: `large` (N x 256 x 256 x 3, squashed) and one array per
    small set at its own square size (`small:<set>`, photos of another size are area-resized to the
    set's most common size); `holdout` = the paths of the held-out large photos (seeded split)."""
    if os.path.exists(cache):
        z = np.load(cache, allow_pickle=False)
        return {k: z[k] for k in z.files}
    if not data or not os.path.isdir(data):
        raise SystemExit(f"train_colorizer: no cache at {cache}; --data must name the folder of training photos")
    t0 = time.time()
    large = list_images(data, LARGE_SETS)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(large))
    hold = np.sort(perm[:N_HOLDOUT])
    train_large = np.sort(perm[N_HOLDOUT:])
    out = {"large": np.zeros((len(train_large), LARGE_SIZE, LARGE_SIZE, 3), np.float16)}
    for i, j in enumerate(train_large):
        lab = read_lab(large[j])
        out["large"][i] = cv2.resize(lab, (LARGE_SIZE, LARGE_SIZE), interpolation=cv2.INTER_AREA)
    for s in SMALL_SETS:
        labs = [lab for lab in map(read_lab, list_images(data, [s])) if lab is not None]
        sizes, counts = np.unique([min(x.shape[:2]) for x in labs], return_counts=True)
        n = int(sizes[counts.argmax()])
        out["small:" + s] = np.stack([x if x.shape[:2] == (n, n) else
                                      cv2.resize(x, (n, n), interpolation=cv2.INTER_AREA) for x in labs]
                                     ).astype(np.float16)
    out["holdout"] = np.array([large[j] for j in hold])
    out["train_large_files"] = np.array([large[j] for j in train_large])
    os.makedirs(os.path.dirname(os.path.abspath(cache)), exist_ok=True)
    np.savez(cache, **out)
    print(f"cache: {len(train_large)} large + {sum(len(v) for k, v in out.items() if k.startswith('small:'))} "
          f"small train photos, {len(hold)} held out, {time.time() - t0:.0f}s", flush=True)
    return out


def small_sets(cache: dict) -> list[np.ndarray]:
    return [v for k, v in sorted(cache.items()) if k.startswith("small:")]


class Batcher:
    """Deterministic batches (given the seed) of crop x crop Lab patches, a `large_frac` share from the
    large photos, the rest from the small ones (each small photo equally likely), all mirrored at random.

    Large photo (256 x 256 squashed): a random square of side s ~ U[crop, 256] area-resized to the crop,
    i.e. the photo seen at 0.5x..1x its 256 size (with crop 128; the product sees it at 224: 0.875x).
    Small photo (64..128 px): a random square of 85-100 % of its side resized to the crop (upscaled),
    so its whole content teaches.
    """

    def __init__(self, cache: dict, crop: int, batch: int, seed: int, large_frac: float = 0.5):
        self.large = cache["large"]
        self.small = small_sets(cache)
        self.offsets = np.cumsum([0] + [len(a) for a in self.small])
        self.crop, self.batch = crop, batch
        self.n_large = int(round(batch * large_frac))
        self.rng = np.random.default_rng(seed + 1)

    def _one(self, img: np.ndarray, smin: int) -> np.ndarray:
        h = img.shape[0]
        r = self.rng
        s = int(r.integers(min(smin, h), h + 1))
        y, x = r.integers(0, h - s + 1), r.integers(0, h - s + 1)
        patch = img[y:y + s, x:x + s].astype(np.float32)
        if s != self.crop:
            interp = cv2.INTER_AREA if s > self.crop else cv2.INTER_LINEAR
            patch = cv2.resize(patch, (self.crop, self.crop), interpolation=interp)
        if r.random() < 0.5:
            patch = patch[:, ::-1]
        return patch

    def _small(self, k: int) -> np.ndarray:
        i = int(np.searchsorted(self.offsets, k, side="right")) - 1
        return self.small[i][k - self.offsets[i]]

    def next(self) -> np.ndarray:
        il = self.rng.integers(0, len(self.large), self.n_large)
        is_ = self.rng.integers(0, self.offsets[-1], self.batch - self.n_large)
        out = [self._one(self.large[i], self.crop) for i in il]
        out += [self._one(s, int(np.ceil(0.85 * s.shape[0]))) for s in map(self._small, is_)]
        return np.ascontiguousarray(np.stack(out).transpose(0, 3, 1, 2))  # B x 3 x h x w Lab


# ---------------------------------------------------------------------------------- rebalancing
def class_prior(cache: dict, centres: np.ndarray, large_frac: float = 0.5, sigma: float = 5.0) -> np.ndarray:
    """Distribution of nearest cells over the training pixels as the batches mix them (`large_frac` of
    the pixels from the large photos, the rest from the small ones), at 1/4 resolution, smoothed with a
    Gaussian of `sigma` ab units over the cell centres."""
    def hist(arrays) -> np.ndarray:
        counts = np.zeros(len(centres), np.float64)
        for arr in arrays:
            for i in range(0, len(arr), 512):
                ab = arr[i:i + 512, ::4, ::4, 1:].astype(np.float32).reshape(-1, 2)
                counts += np.bincount(nearest_cells(ab, centres), minlength=len(centres))
        return counts / counts.sum()

    p = large_frac * hist([cache["large"]]) + (1 - large_frac) * hist(small_sets(cache))
    d2 = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    k = np.exp(-d2 / (2 * sigma * sigma))
    ps = k @ p
    return ps / ps.sum()


def nearest_cells(ab: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d2 = (ab[:, None, 0] - centres[None, :, 0]) ** 2 + (ab[:, None, 1] - centres[None, :, 1]) ** 2
    return d2.argmin(1)


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
    """Runs the network once per model input and hands the logits to every decode of the grid."""

    def __init__(self, net):
        self.net, self.x, self.logits = net, None, None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        if x is not self.x:
            with torch.no_grad():
                self.logits = self.net(torch.from_numpy(x.astype(np.float32))).numpy().astype(np.float64)
            self.x = x
        return self.logits


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


def evaluate(files, predicts: dict, sheet: str | None = None, sheet_n: int = 8) -> dict:
    """Metrics (mean over images) for each named predictor (None -> no colour) and the originals' CF."""
    res = {k: {"psnr": [], "auc": [], "cf": []} for k in predicts}
    cf_orig = []
    rows = []
    for n, f in enumerate(files):
        bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
        lab = cv2.cvtColor(bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
        ab_true = ab_of(bgr)
        cf_orig.append(metrics.colourfulness(bgr[:, :, ::-1]))
        row = [bgr]
        x = model_input(lab)  # one object per photo: the grid's predictors share the network run on it
        for k, pr in predicts.items():
            out = render(lab, None if pr is None else pr(x)[0])
            res[k]["psnr"].append(metrics.psnr(out, bgr))
            res[k]["auc"].append(metrics.auc_ab(ab_of(out), ab_true))
            res[k]["cf"].append(metrics.colourfulness(out[:, :, ::-1]))
            row.append(out)
        if sheet and n < sheet_n:
            rows.append(np.concatenate([cv2.resize(x, (320, 240), interpolation=cv2.INTER_AREA)
                                        for x in row], axis=1))
    if sheet and rows:
        cv2.imwrite(sheet, np.concatenate(rows, axis=0))
    summary = {k: {m: float(np.mean(v)) for m, v in d.items()} for k, d in res.items()}
    summary["original_cf"] = float(np.mean(cf_orig))
    return summary


def onnx_predictor(path: str):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
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

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)  # the crops are small; the batcher runs between steps, not beside them
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    dev = torch.device(args.device)
    t_start = time.time()

    cache = build_cache(args.data, args.cache, args.seed)
    centres = cn.gamut_bins()
    Q = len(centres)
    prior = class_prior(cache, centres, args.large_frac)
    wts = rebalance_weights(prior, args.lam)
    print(f"bins {Q}; prior max {prior.max():.4f}; rebal weights {wts.min():.3f}..{wts.max():.3f}",
          flush=True)

    net = cn.build_net(Q, seed=args.seed, arch=args.arch, **arch_options(args)).to(dev)
    print(f"params {sum(p.numel() for p in net.parameters())}; "
          f"GFLOPs@224 {2 * cn.count_macs(cn.AnnealedMeanColorizer(net.cpu(), centres, 0.38)) / 1e9:.3f}",
          flush=True)
    net = net.to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=args.wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps,
                                                pct_start=0.05, div_factor=20, final_div_factor=200)
    C = torch.from_numpy(centres).to(dev)
    W = torch.from_numpy(wts.astype(np.float32)).to(dev)
    sig2 = 2 * args.sigma ** 2
    batcher = Batcher(cache, args.crop, args.batch, args.seed, args.large_frac)

    def loss_fn(lab: torch.Tensor, rebalance: bool = True) -> torch.Tensor:
        L = lab[:, :1] - 50.0
        ab = F.avg_pool2d(lab[:, 1:], 4)                                  # area to 1/4 resolution
        logits = net(L)
        pab = ab.permute(0, 2, 3, 1).reshape(-1, 2)
        d2 = torch.cdist(pab, C).pow(2)                                   # P x Q
        dk, ik = torch.topk(d2, 5, dim=1, largest=False)
        g = torch.exp(-dk / sig2)
        g = g / g.sum(1, keepdim=True)
        logp = F.log_softmax(logits, dim=1).permute(0, 2, 3, 1).reshape(-1, Q)
        ce = -(g * torch.gather(logp, 1, ik)).sum(1)
        return (W[ik[:, 0]] * ce).mean() if rebalance else ce.mean()

    if args.from_ckpt:  # re-export / re-choose T from a saved checkpoint, no training
        net.load_state_dict(torch.load(args.from_ckpt, map_location="cpu", weights_only=False)["state_dict"])
        train_min = float("nan")
    else:
        net.train()
        t0 = time.time()
        run = 0.0
        for step in range(1, args.steps + 1):
            lab = torch.from_numpy(batcher.next()).to(dev)
            loss = loss_fn(lab)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run = 0.98 * run + 0.02 * loss.item() if step > 1 else loss.item()
            if step % args.log_every == 0 or step == args.steps:
                el = time.time() - t0
                print(f"step {step}/{args.steps} loss {run:.4f} lr {sched.get_last_lr()[0]:.2e} "
                      f"{el / 60:.1f} min ({step * args.batch / el:.0f} img/s)", flush=True)
            if args.save_every and step % args.save_every == 0 and step < args.steps:
                torch.save({"state_dict": net.state_dict(), "centres": centres, "step": step},
                           os.path.splitext(args.ckpt)[0] + "_last.pt")  # fallback only
        train_min = (time.time() - t0) / 60
        net = net.cpu().eval()
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        torch.save({"state_dict": net.state_dict(), "centres": centres, "args": vars(args)},
                   os.path.splitext(args.ckpt)[0] + ".pt")
    net = net.cpu().eval()
    # choose the decode -- alpha (prior correction), T, chroma -- on the held-out train photos only
    hold = [str(f) for f in cache["holdout"]]
    with torch.no_grad():  # cross-entropy without rebalancing (comparable across priors) on the held-out
        labs = np.stack([cv2.resize(read_lab(f), (224, 224), interpolation=cv2.INTER_AREA) for f in hold])
        held_loss = float(loss_fn(torch.from_numpy(labs.transpose(0, 3, 1, 2).copy()), rebalance=False))
    print(f"held-out cross-entropy (photos squashed to 224, no rebalancing) {held_loss:.4f}", flush=True)
    temps = [float(t) for t in args.temps.split(",")]
    chromas = [float(c) for c in args.chromas.split(",")]
    alphas = [float(a) for a in args.alphas.split(",")]
    logw = np.log(wts)

    def wrapper(alpha, T, ch):
        return cn.AnnealedMeanColorizer(net, centres, T, ch, None if alpha == 0 else -alpha * logw).eval()

    cands = [(al, T, ch) for al in alphas for T in temps for ch in chromas]
    name = {c: f"a={c[0]:g} T={c[1]:g} c={c[2]:g}" for c in cands}
    logits = LogitsOnce(net)
    preds = {"no colour": None}
    for al, T, ch in cands:
        preds[name[al, T, ch]] = lambda x, al=al, T=T, ch=ch: ch * decode_ab(logits(x), -al * logw, T, centres)
    summ = evaluate(hold, preds)
    print("held-out train photos (%d):\n%s" % (len(hold), fmt(summ)), flush=True)
    base = summ["no colour"]
    # the most colourful setting that is not more wrong than gray on the held-out photos
    # (AuC >= gray's + margin, PSNR >= gray's - 0.3 dB); if none is, the one with the best AuC
    key = {c: summ[name[c]] for c in cands}
    ok = [c for c in cands if key[c]["auc"] >= base["auc"] + args.auc_margin
          and key[c]["psnr"] >= base["psnr"] - 0.3]
    al, T, ch = max(ok, key=lambda c: key[c]["cf"]) if ok else max(cands, key=lambda c: key[c]["auc"])
    if args.temperature:
        al, T, ch = args.alpha, args.temperature, args.chroma
    print(f"chosen alpha = {al:g}, T = {T:g}, chroma = {ch:g}", flush=True)
    wrap = wrapper(al, T, ch)
    cn.export_onnx(wrap, args.out)
    held = evaluate(hold, {"no colour": None, "acc-tiny": onnx_predictor(args.out)},
                    sheet=os.path.splitext(args.ckpt)[0] + "_holdout.png")
    print("exported %s; held-out metrics of the ONNX:\n%s" % (args.out, fmt(held)), flush=True)
    info = {"alpha": al, "T": T, "chroma": ch, "train_minutes": train_min, "total_minutes": (time.time() - t_start) / 60,
            "heldout_grid": summ, "heldout": held, "heldout_loss": held_loss, "bins": Q,
            "params": int(sum(p.numel() for p in net.parameters())),
            "gflops224": 2 * cn.count_macs(wrap) / 1e9}
    with open(os.path.splitext(args.ckpt)[0] + ".json", "w") as fh:
        json.dump(info, fh, indent=1)
    print(json.dumps({k: v for k, v in info.items() if "heldout" not in k}), flush=True)
    if args.report:
        report(args.out, args.report, os.path.splitext(args.ckpt)[0] + "_report.png")


def report(onnx_path: str, folder: str, sheet: str | None) -> None:
    files = sorted(f for f in glob.glob(os.path.join(folder, "*")) if f.lower().endswith(EXTS))
    preds = {"no colour": None}
    if onnx_path:
        preds["acc-tiny"] = onnx_predictor(onnx_path)
    s = evaluate(files, preds, sheet=sheet)
    print("report on %s (%d photos):\n%s" % (folder, len(files), fmt(s)), flush=True)
    print(json.dumps(s), flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="folder of colour photos in the subfolders named above (needed unless cached)")
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "acc_tiny2.onnx"))
    ap.add_argument("--cache", default=os.path.join(ROOT, "scratch", "train_cache_v2.npz"))
    ap.add_argument("--ckpt", default=os.path.join(ROOT, "scratch", "acc_tiny2"),
                    help="prefix for the checkpoint (.pt), the run summary (.json) and contact sheets")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=32)
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
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads; 1 by default: on a shared 2-core machine, 2 OpenMP threads ran up "
                         "to 4x slower than 1 whenever another process was busy")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--save-every", type=int, default=500)
    ap.add_argument("--from-ckpt", default="", help="skip training: load this .pt, choose T, export")
    ap.add_argument("--report", default="", help="folder of colour photos to report metrics on (after training)")
    ap.add_argument("--eval-only", default=None, metavar="ONNX",
                    help="skip training; report --report for this ONNX ('' = no-colour only)")
    args = ap.parse_args(argv)
    if args.eval_only is not None:
        report(args.eval_only, args.report, os.path.splitext(args.ckpt)[0] + "_report.png")
    else:
        train(args)


if __name__ == "__main__":
    main()
