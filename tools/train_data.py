"""The training photos of acc-tiny's recipe: the pool's sets and split, the float16 Lab cache, the carried set
that travels to a lent GPU, and the crops the training draws from them.

Two sources give the same cache (a dict: `large` N x 256 x 256 x 3 float16 Lab, `small:<set>` per small set
at its own square size, `holdout` the paths of the held-out photos):

* `build_cache(DATA)`: every photo of the training pool, decoded once (the CPU recipe);
* `load_carried(FOLDER)`: a *carried set* that `prepare_carried(DATA, FOLDER)` wrote (tools/device_io.py's
  format): the training split re-encoded into JPEG packs small enough to travel with the repository to a
  lent GPU, and the held-out photos byte for byte.

`CropSampler` cuts the training crops from a cache on any torch device. Imports torch only there.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np

import device_io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LARGE_SETS = ("imagenet_sample", "bsds500_trainval", "urban100")
SMALL_SETS = ("tiny_imagenet_64", "stl10", "flowers")
EXTS = (".jpg", ".jpeg", ".png", ".bmp")
LARGE_SIZE = 256  # large photos are squashed to a square, as the product squashes any photo to 224 x 224
N_HOLDOUT = 64
CARRY_LIMIT = 64 * 2**20  # what one device call may carry: the repository's tree plus the carried set
# The carried set's recipe (--prepare): what fits beside the repository in CARRY_LIMIT, with room for it to grow.
CARRIED_QUALITY = 85
CARRIED_SUBSAMPLING = "420"  # chroma at 1/2: the targets are ab at 1/4 of the crop
CARRIED_LIMITS = {"tiny_imagenet_64": 12_000}  # photos carried of a set (seeded choice); the others: all
CARRIED_BUDGET = 48 * 2**20


def say(msg: str) -> None:
    print(msg, flush=True)


def list_images(data: str, sets) -> list[str]:
    files = []
    for s in sets:
        fs = [f for f in glob.glob(os.path.join(data, s, "*")) if f.lower().endswith(EXTS)]
        files += sorted(fs)
    return files


def lab_of(bgr: np.ndarray) -> np.ndarray:
    """... x 3 float32 Lab of 8-bit BGR (any leading shape), exactly as the OpenCV baseline computes it."""
    flat = bgr.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(flat, cv2.COLOR_BGR2Lab).reshape(bgr.shape)


def read_lab(path: str) -> np.ndarray | None:
    """H x W x 3 float32 Lab of a photo (None if OpenCV cannot read it)."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    return None if bgr is None else lab_of(bgr)


def split_large(data: str, seed: int, n_holdout: int = N_HOLDOUT) -> tuple[list[str], list[str]]:
    """(training, held-out) large photos: a seeded permutation holds out `n_holdout`, each list in file order."""
    large = list_images(data, LARGE_SETS)
    perm = np.random.default_rng(seed).permutation(len(large))
    return [large[j] for j in np.sort(perm[n_holdout:])], [large[j] for j in np.sort(perm[:n_holdout])]


def squares(images: list[np.ndarray]) -> np.ndarray:
    """One small set as N x n x n x C, n its most common shorter side; other photos area-resized (squashed) to it."""
    sides, counts = np.unique([min(x.shape[:2]) for x in images], return_counts=True)
    n = int(sides[counts.argmax()])
    return np.stack([x if x.shape[:2] == (n, n) else cv2.resize(x, (n, n), interpolation=cv2.INTER_AREA)
                     for x in images])


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
    train_large, hold = split_large(data, seed)
    out = {"large": np.zeros((len(train_large), LARGE_SIZE, LARGE_SIZE, 3), np.float16)}
    for i, f in enumerate(train_large):
        out["large"][i] = cv2.resize(read_lab(f), (LARGE_SIZE, LARGE_SIZE), interpolation=cv2.INTER_AREA)
    for s in SMALL_SETS:
        out["small:" + s] = squares([x for x in map(read_lab, list_images(data, [s])) if x is not None]
                                    ).astype(np.float16)
    out["holdout"] = np.array(hold)
    out["train_large_files"] = np.array(train_large)
    os.makedirs(os.path.dirname(os.path.abspath(cache)), exist_ok=True)
    np.savez(cache, **out)
    say(f"cache: {len(train_large)} large + {sum(len(v) for k, v in out.items() if k.startswith('small:'))} "
        f"small train photos, {len(hold)} held out, {time.time() - t0:.0f}s")
    return out


def small_sets(cache: dict) -> list[np.ndarray]:
    return [v for k, v in sorted(cache.items()) if k.startswith("small:")]


def tree_bytes(root: str) -> int | None:
    """Bytes of what a device call sends besides the carried paths: tracked and untracked-not-ignored files
    (None outside a git checkout)."""
    try:
        names = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                               check=True, capture_output=True).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        return None
    paths = [os.path.join(root, os.fsdecode(n)) for n in names if n]
    return sum(os.path.getsize(p) for p in paths if os.path.isfile(p))


def prepare_carried(data: str, dest: str, seed: int = 0, n_holdout: int = N_HOLDOUT,
                    limits: dict[str, int] | None = None, quality: int = CARRIED_QUALITY,
                    subsampling: str = CARRIED_SUBSAMPLING, budget: int = CARRIED_BUDGET) -> dict:
    """Write the carried set of the training pool `data` to `dest` (replacing an earlier carried set there):
    the training split's large photos squashed to 256 x 256 and each small set at its square size (a
    seeded choice of `limits[set]` photos where given), all in JPEG packs at `quality` / `subsampling`;
    the held-out photos byte for byte, so the decode is chosen on the same files as in a CPU run.
    SystemExit if the set exceeds `budget` bytes. Returns the manifest's recipe entry."""
    limits = CARRIED_LIMITS if limits is None else limits
    t0 = time.time()
    train_large, hold = split_large(data, seed, n_holdout)
    if not train_large:
        raise SystemExit(f"prepare: no photos of {', '.join(LARGE_SETS)} under {data!r}")
    tmp = Path(dest).parent / f".{Path(dest).name}.new-{os.getpid()}"
    writer = device_io.SetWriter(tmp, quality, subsampling)
    counts = {}

    def read(files: list[str]) -> list[np.ndarray]:
        images = []
        for f in files:
            bgr = cv2.imread(f, cv2.IMREAD_COLOR)
            if bgr is None:
                say(f"prepare: left out {f}: OpenCV cannot read it")
            else:
                images.append(bgr)
        return images

    try:
        for s in LARGE_SETS:
            files = [f for f in train_large if os.path.basename(os.path.dirname(f)) == s]
            tiles = [cv2.resize(x, (LARGE_SIZE, LARGE_SIZE), interpolation=cv2.INTER_AREA) for x in read(files)]
            if tiles:
                writer.pack(s, np.stack(tiles))
            counts[s] = len(tiles)
        for s in SMALL_SETS:
            files = list_images(data, [s])
            if s in limits and limits[s] < len(files):
                files = [files[i] for i in np.sort(np.random.default_rng(seed + 2).choice(len(files), limits[s],
                                                                                          replace=False))]
            images = read(files)
            if images:
                writer.pack(s, squares(images))
            counts[s] = len(images)
        for f in hold:
            writer.copy(os.path.basename(os.path.dirname(f)), f)
        recipe = {"source_sets": counts, "holdout": len(hold), "seed": seed, "large_side": LARGE_SIZE,
                  "quality": quality, "subsampling": subsampling, "limits": limits}
        size = writer.close(recipe)
        if size > budget:
            raise SystemExit(f"prepare: the carried set is {size / 2**20:.1f} MiB, over its {budget / 2**20:.0f} MiB; "
                             "carry fewer photos or a lower quality")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    device_io.replace_folder(tmp, Path(dest))
    tree = tree_bytes(ROOT)
    say(f"prepare: {dest}: {sum(counts.values())} training photos {counts} in {len(writer.packs)} packs + "
        f"{len(hold)} held-out photos, {size / 2**20:.1f} MiB, {time.time() - t0:.0f}s")
    if tree is None:
        say("prepare: not a git checkout: the size of the tree that travels with it is not known")
    else:
        say(f"prepare: with the tree ({tree / 2**20:.1f} MiB) {(size + tree) / 2**20:.1f} of the "
            f"{CARRY_LIMIT / 2**20:.0f} MiB a device call carries")
        if size + tree > CARRY_LIMIT:
            raise SystemExit("prepare: the tree and the carried set do not fit in one device call")
    return recipe


def load_carried(folder: str, threads: int) -> dict:
    """The cache (as build_cache's) of a carried set: each pack checked and decoded on `threads` threads,
    to float16 Lab; damaged packs and files are left out, one line each."""
    def warn(msg: str) -> None:
        say(f"carried set: warning: {msg}")

    packs = device_io.read_packs(Path(folder), lambda bgr: lab_of(bgr).astype(np.float16), threads, warn)
    large = [t for s in LARGE_SETS for t in packs.get(s, [])]
    if not large:
        raise device_io.CarriedSetError(f"{folder}: no large photos left to train on")
    cache = {"large": np.concatenate(large), "holdout": np.array([str(p) for p in device_io.loose_files(folder, warn)])}
    for s in SMALL_SETS:
        if s in packs:
            cache["small:" + s] = np.concatenate(packs[s])
    say(f"carried set: {len(cache['large'])} large + {sum(len(v) for v in small_sets(cache))} small photos, "
        f"{len(cache['holdout'])} held out")
    return cache


class CropSampler:
    """Batches of crop x crop Lab patches, B x 3 x crop x crop float32 on `device`, deterministic given the
    seed: a `large_frac` share from the large photos, the rest from the small ones (each small photo
    equally likely), all mirrored at random.

    Large photo (256 x 256 squashed): a random square of side s ~ U{crop..256}, i.e. the photo seen at
    0.5x..1x its 256 size (with crop 128; the product sees it at 224: 0.875x). Small photo (64..128 px):
    a random square of 85-100 % of its side, so its whole content teaches. Each square is resampled to
    the crop by bilinear sampling at twice the crop's resolution and 2 x 2 averaging: close to area
    resampling for the downscales, a little softer than bilinear for the upscales. The photos live on
    the device (float16); every random choice comes from a numpy generator on the host and travels
    as one small copy per source, so drawing a batch never waits for the device.
    """

    def __init__(self, cache: dict, crop: int, batch: int, seed: int, large_frac: float = 0.5,
                 device: str = "cpu") -> None:
        import torch

        self.device = torch.device(device)

        def there(a: np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).to(self.device)

        small = small_sets(cache)
        self.sources = [there(cache["large"])] + [there(a) for a in small]
        self.smin = [crop] + [int(np.ceil(0.85 * a.shape[1])) for a in small]
        self.offsets = np.cumsum([0] + [len(a) for a in small])
        self.crop, self.batch, self.large_frac = crop, batch, large_frac
        self.rng = np.random.default_rng(seed + 1)

    def next(self):
        import torch

        r, n_large = self.rng, int(round(self.batch * self.large_frac))
        picks = [r.integers(0, len(self.sources[0]), n_large)]
        if len(self.sources) > 1:
            k = r.integers(0, self.offsets[-1], self.batch - n_large)
            which = np.searchsorted(self.offsets, k, side="right") - 1
            picks += [k[which == i] - self.offsets[i] for i in range(len(self.sources) - 1)]
        return torch.cat([self._resampled(j, idx) for j, idx in enumerate(picks) if len(idx)])

    def _resampled(self, j: int, idx: np.ndarray):
        import torch
        import torch.nn.functional as F

        src, n, h, c, r = self.sources[j], len(idx), self.sources[j].shape[-1], self.crop, self.rng
        s = r.integers(min(self.smin[j], h), h + 1, n)
        y, x = (np.floor(r.random((2, n)) * (h - s + 1))).astype(np.int64)
        flip = r.random(n) < 0.5
        # affine_grid maps the output's normalized coordinates (-1..1) onto the square [x, x + s) of the
        # source (align_corners=False: -1 and 1 are the outer edges of the border pixels)
        theta = np.zeros((n, 2, 3), np.float32)
        theta[:, 0, 0] = np.where(flip, -s / h, s / h)
        theta[:, 0, 2] = (2 * x + s) / h - 1
        theta[:, 1, 1] = s / h
        theta[:, 1, 2] = (2 * y + s) / h - 1
        theta_t, idx_t = torch.from_numpy(theta), torch.from_numpy(idx)
        if self.device.type == "cuda":  # pinned, so the copy does not wait for the work queued before it
            theta_t, idx_t = theta_t.pin_memory(), idx_t.pin_memory()
        theta_t = theta_t.to(self.device, non_blocking=True)
        idx_t = idx_t.to(self.device, non_blocking=True)
        grid = F.affine_grid(theta_t, [n, 3, 2 * c, 2 * c], align_corners=False)
        fine = F.grid_sample(src[idx_t].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
        return F.avg_pool2d(fine, 2)
