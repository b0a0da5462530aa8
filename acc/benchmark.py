"""`acc bench`: throughput and per-stage time of backends, side by side, on the same photos and model.

Every measurement runs once per round. Rounds repeat, after warm-up rounds that are not recorded, and
the order of the contenders rotates from one measurement to the next, so that a noisy, shared machine
slows them all alike:

    stages      each backend's decode, model_input and render (encode included), one photo at a
                time; 'outside the model' is their sum. Backends and the floor alternate photo by photo.
                A batched backend (cuda) runs each stage's batch form on up to batch_size photos of one
                size group at once, and each photo of the batch is charged the batch's time / n.
    floor       what any pipeline pays for the same photo: a libjpeg-turbo luma decode plus the encode
                of an output of the photo's size (the photo itself, as 4:2:0 JPEG or PNG, like `render`).
    model       model-only: each backend's infer on batches of batch_size inputs.
    end to end  the batch runner over the photos, stages overlapped, files written: repeated (links
                to the photos in copies of the folder) until a run holds at least steady_seconds of
                work at the bound below, so that it measures a steady state, not the start.

Stage times are reported per size group (photos of like megapixels) as p50 and p95 over photos x
rounds. Ratios use the mean over a group's photos of each photo's median over rounds; the JSON report
also has each photo's median time outside the model, per backend and for the floor.

The bound: what the runner could reach if every core did nothing but the stages, in core-seconds (the
process's CPU time, so threads a stage starts count too): per photo the median of decode + model_input
+ render, plus the model's core-seconds per image (model only); cores = min(workers, this process's
cores). bound = cores x photos / the sum of their costs. The end-to-end rate over the bound says how
much of the machine the runner turns into photos. Two more figures tell a runner that idles or wastes from a
machine that other work keeps busy: how busy the run kept the cores (its CPU time / (seconds x cores)), and
the share of that CPU time its photos' stages account for (the rest is the runner's own work).
"""

from __future__ import annotations

import bisect
import datetime
import math
import os
import platform
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import simplejpeg

from acc.backends import Backend
from acc.backends.hostimage import decode_unchanged, encode_bgr
from acc.inputs import InputError, InputSet
from acc.machine import cpu_model, has_vnni, usable_cores
from acc.outdir import OutputDir
from acc.pipeline import RunOptions, Runner
from acc.probe import BadImage, ImageInfo, probe

STAGES = ("decode", "model_input", "render")
BASELINE = "opencv"
FLOOR = "floor"
GROUP_EDGES = (1.0, 5.0, 25.0)  # megapixels between size groups: 0.3, 2.5 and 12 MP photos land apart
PACKAGES = ("numpy", "opencv-python-headless", "onnxruntime", "simplejpeg", "numba")


@dataclass(frozen=True)
class Photo:
    display: str
    data: bytes
    info: ImageInfo
    path: Path | None = None  # where it was read from: the end-to-end runs read it again there

    @property
    def megapixels(self) -> float:
        return self.info.pixels / 1e6


def load_photos(inputs: Sequence[str], max_pixels: int) -> tuple[list[Photo], list[str]]:
    """The readable photos among the inputs (files, folders, globs), and a line for each one left out."""
    photos, left_out = [], []
    for item in InputSet(list(inputs)):
        if isinstance(item, InputError):
            left_out.append(f"{item.display}: {item.reason}")
            continue
        try:
            data = item.path.read_bytes()
            photos.append(Photo(item.display, data, probe(data, max_pixels), item.path))
        except (OSError, BadImage) as exc:
            left_out.append(f"{item.display}: {exc}")
    return photos, left_out


def size_groups(photos: Sequence[Photo]) -> list[tuple[str, list[int]]]:
    """(label, photo indices) per size band, smallest first; a label is the band's median size."""
    bands: dict[int, list[int]] = defaultdict(list)
    for i, photo in enumerate(photos):
        bands[bisect.bisect(GROUP_EDGES, photo.megapixels)].append(i)
    groups = []
    for band in sorted(bands):
        members = bands[band]
        groups.append((f"{np.median([photos[i].megapixels for i in members]):.2g} MP", members))
    return groups


def _rotate(items: list, by: int) -> list:
    by %= max(1, len(items))
    return items[by:] + items[:by]


def _luma_decode(photo: Photo) -> None:
    """The cheapest decode any backend could do: libjpeg-turbo straight to luma (OpenCV for non-JPEGs)."""
    if photo.info.format == "jpeg":
        try:
            simplejpeg.decode_jpeg(photo.data, colorspace="GRAY")
            return
        except ValueError:
            pass
    decode_unchanged(photo.data, photo.info)


class Bench:
    """Runs the measurements (run()) and keeps the raw samples, in seconds."""

    def __init__(
        self,
        photos: list[Photo],
        backends: dict[str, Backend],
        options: RunOptions,
        inputs: Sequence[str],
        scratch: Path,
        end_to_end: bool = True,
        steady_seconds: float = 10.0,
    ) -> None:
        self.photos = photos
        self.backends = backends
        self.options = options
        self.inputs = list(inputs)
        self.scratch = scratch
        self.end_to_end = end_to_end
        self.steady_seconds = steady_seconds
        self.cores = min(options.workers, usable_cores())
        # (who, stage) -> photo index -> samples;  who: a backend name or FLOOR
        self.stages: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        # backend -> photo index -> core-seconds of decode + model_input + render, one per round
        self.core: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.model: dict[str, list[float]] = defaultdict(list)  # seconds per image, one per batch
        self.model_core: dict[str, list[float]] = defaultdict(list)  # core-seconds per image, one per batch
        self.runs: dict[str, list[dict[str, float]]] = defaultdict(list)  # end to end: one per round
        self._copies: dict[str, int] = {}  # backend -> how many times the end-to-end runs repeat the photos
        self.load_at_start: list[float] | None = None
        self._predictions: dict[str, list[Any]] = {}
        self._batches: dict[str, list[Any]] = {}
        # batched backends: first photo index of a chunk -> the chunk (photos of one size group)
        size = options.batch_size
        self._chunks = {members[k]: members[k : k + size] for _, members in size_groups(photos)
                        for k in range(0, len(members), size)}  # fmt: skip

    def run(self, rounds: int, warmup: int, log: Callable[[str], None] = lambda line: None) -> None:
        self.load_at_start = _load_average()
        self._prepare(log)
        for r in range(warmup + rounds):
            record = r >= warmup
            for i, photo in enumerate(self.photos):
                for who in _rotate([*self.backends, FLOOR], r + i):
                    self._time_stages(who, i, photo, record)
            tasks = [("model", name) for name in self.backends]
            tasks += [("end to end", name) for name in self.backends] if self.end_to_end else []
            for kind, name in _rotate(tasks, r):
                if kind == "model":
                    self._time_model(name, record)
                else:
                    self._time_end_to_end(name, record)
            log(f"round {r + 1} of {warmup + rounds} done{'' if record else ' (warm-up, not recorded)'}")

    def _prepare(self, log: Callable[[str], None]) -> None:
        """Each backend's prediction for each photo (render needs one), and its model-only batch; each
        photo once through the four stages (not timed, but costed: how often end to end repeats them)."""
        for name, backend in self.backends.items():
            predictions, inputs = [], []
            start = time.process_time()
            for photo in self.photos:
                frame = backend.decode(photo.data, photo.info)
                inputs.append(backend.model_input(frame))
                predictions.append(backend.infer([inputs[-1]])[0])
                backend.render(frame, predictions[-1], self.options.fmt)
                backend.release(frame)
            pass_seconds = (time.process_time() - start) / self.cores  # one pass at the bound, roughly
            self._copies[name] = max(1, math.ceil(self.steady_seconds / max(pass_seconds, 1e-6)))
            self._predictions[name] = predictions
            self._batches[name] = [inputs[i % len(inputs)] for i in range(self.options.batch_size)]
            log(f"{name}: {len(self.photos)} photos through the four stages once (not timed); end to end runs "
                f"{self._copies[name]} x {len(self.photos)} photos")  # fmt: skip

    def _time_stages(self, who: str, i: int, photo: Photo, record: bool) -> None:
        clock = time.perf_counter
        if who == FLOOR:
            bgr = cv2.imdecode(np.frombuffer(photo.data, np.uint8), cv2.IMREAD_COLOR)  # what is encoded: not timed
            t0 = clock()
            _luma_decode(photo)
            t1 = clock()
            encode_bgr(bgr, None, self.options.fmt)
            times = {"decode": t1 - t0, "encode": clock() - t1}
        elif self.backends[who].batched:
            if i not in self._chunks:
                return  # timed with the first photo of its chunk
            c0 = time.process_time()
            times = self._time_batch(who, self._chunks[i])
            core = (time.process_time() - c0) / len(self._chunks[i])
        else:
            backend = self.backends[who]
            c0 = time.process_time()
            t0 = clock()
            frame = backend.decode(photo.data, photo.info)
            t1 = clock()
            backend.model_input(frame)
            t2 = clock()
            backend.render(frame, self._predictions[who][i], self.options.fmt)
            t3 = clock()
            core = time.process_time() - c0
            backend.release(frame)
            times = {"decode": t1 - t0, "model_input": t2 - t1, "render": t3 - t2}
        if record:
            for j in self._chunks[i] if who != FLOOR and self.backends[who].batched else [i]:
                for stage, seconds in times.items():
                    self.stages[who, stage][j].append(seconds)
                if who != FLOOR:
                    self.core[who][j].append(core)

    def _time_batch(self, who: str, chunk: list[int]) -> dict[str, float]:
        """The batch forms on the chunk's photos; per photo, each stage's time / n."""
        backend, clock = self.backends[who], time.perf_counter
        t0 = clock()
        frames = _raise_any(backend.decode_batch([(self.photos[j].data, self.photos[j].info) for j in chunk]))
        t1 = clock()
        _raise_any(backend.model_input_batch(frames))
        t2 = clock()
        _raise_any(backend.render_batch(frames, [self._predictions[who][j] for j in chunk], self.options.fmt))
        t3 = clock()
        for frame in frames:
            backend.release(frame)
        n = len(chunk)
        return {"decode": (t1 - t0) / n, "model_input": (t2 - t1) / n, "render": (t3 - t2) / n}

    def _time_model(self, name: str, record: bool) -> None:
        batch = self._batches[name]
        c0, start = time.process_time(), time.perf_counter()
        self.backends[name].infer(batch)
        if record:
            self.model[name].append((time.perf_counter() - start) / len(batch))
            self.model_core[name].append((time.process_time() - c0) / len(batch))

    def _time_end_to_end(self, name: str, record: bool) -> None:
        """The runner over the inputs; a recorded run over as many copies of the photos as a steady state
        needs (links in scratch/, each photo once per copy folder), a warm-up run over the inputs once."""
        out = self.scratch / f"end-to-end-{name}"
        shutil.rmtree(out, ignore_errors=True)
        inputs = [str(self._copied(self._copies[name]))] if record else self.inputs
        outdir = OutputDir(out).open()
        try:
            c0 = time.process_time()
            summary = Runner(self.backends[name], outdir, self.options).run(InputSet(inputs, outdir=out))
            cpu = time.process_time() - c0
        finally:
            outdir.close()
            shutil.rmtree(out, ignore_errors=True)
        if record:
            self.runs[name].append({"seconds": summary.seconds, "ok": summary.ok, "failed": summary.failed,
                                    "pixels": summary.pixels, "cpu_seconds": cpu})  # fmt: skip

    def _copied(self, copies: int) -> Path:
        """A folder of `copies` subfolders, each with a link to every photo (made once per count)."""
        folder = self.scratch / f"photos-x{copies}"
        if not folder.exists():
            for c in range(copies):
                (folder / str(c)).mkdir(parents=True)
                for i, photo in enumerate(self.photos):
                    (folder / str(c) / f"{i:04d}-{photo.path.name}").symlink_to(photo.path.absolute())
        return folder


def _raise_any(results: list[Any]) -> list[Any]:
    """A batch form's results, or the first photo's exception (a failed photo fails the measurement)."""
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


# --- the report ---------------------------------------------------------------------------------------------


def _ms(samples: Sequence[float]) -> dict[str, float]:
    return {"p50_ms": 1e3 * float(np.percentile(samples, 50)), "p95_ms": 1e3 * float(np.percentile(samples, 95))}


def _load_average() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _machine(load_at_start: list[float] | None) -> dict[str, Any]:
    def _version(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"

    return {
        "cpu": cpu_model(),
        "int8_dot_product": has_vnni(),  # AVX-512 VNNI or AVX-VNNI: where the cpu backend runs int8 models
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "load_average_at_start": load_at_start,  # 1, 5 and 15 minutes, before the first measurement
        "load_average": _load_average(),  # ... and after the last
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": {p: _version(p) for p in PACKAGES},
    }


def report(bench: Bench, rounds: int, warmup: int, model: str) -> dict[str, Any]:
    """Everything measured, summarized: what the table, the JSON file and the chart show."""
    photos, names = bench.photos, list(bench.backends)
    groups = size_groups(photos)

    def per_photo(who: str, stages: Sequence[str], members: list[int]) -> list[list[float]]:
        """For each photo, its samples summed over `stages`, round by round."""
        return [list(np.sum([bench.stages[who, s][i] for s in stages], axis=0)) for i in members]

    def summary(who: str, stages: Sequence[str], members: list[int]) -> dict[str, Any]:
        rows = per_photo(who, stages, members)
        out = _ms([x for row in rows for x in row])
        out["mean_of_medians_ms"] = 1e3 * float(np.mean([np.median(row) for row in rows]))
        return out

    by_group: dict[str, Any] = {}
    for label, members in groups:
        entry: dict[str, Any] = {"photos": len(members)}
        for who in names:
            entry[who] = {s: summary(who, [s], members) for s in STAGES}
            entry[who]["outside_model"] = summary(who, STAGES, members)
        entry[FLOOR] = {s: summary(FLOOR, [s], members) for s in ("decode", "encode")}
        entry[FLOOR]["total"] = summary(FLOOR, ("decode", "encode"), members)
        floor = entry[FLOOR]["total"]["mean_of_medians_ms"]
        for who in names:
            outside = entry[who]["outside_model"]["mean_of_medians_ms"]
            entry[who]["x_floor"] = outside / floor
            if BASELINE in names:
                entry[who]["speedup_vs_opencv"] = entry[BASELINE]["outside_model"]["mean_of_medians_ms"] / outside
        by_group[label] = entry

    batch = bench.options.batch_size
    model_only = {name: {"images_per_s": 1.0 / float(np.median(bench.model[name])), **_ms(bench.model[name]),
                         "core_ms_per_image": 1e3 * float(np.median(bench.model_core[name]))}
                  for name in names}  # fmt: skip
    end_to_end = {}
    for name, runs in ((name, bench.runs[name]) for name in names if bench.runs[name]):
        rate = float(np.median([r["ok"] / r["seconds"] for r in runs]))
        # the bound: cores x photos / their core-seconds (stages, median per photo, plus the model's share)
        costs = [float(np.median(bench.core[name][i])) + float(np.median(bench.model_core[name]))
                 for i in range(len(photos))]  # fmt: skip
        bound = bench.cores * len(photos) / sum(costs)
        end_to_end[name] = {
            "images_per_s": rate,
            "megapixels_per_s": float(np.median([r["pixels"] / 1e6 / r["seconds"] for r in runs])),
            "seconds_p50": float(np.median([r["seconds"] for r in runs])),
            "photos_per_run": runs[0]["ok"] + runs[0]["failed"],
            "failed": max(r["failed"] for r in runs),
            "x_model_only": rate / model_only[name]["images_per_s"],
            "bound_images_per_s": bound,
            "cores": bench.cores,
            "x_bound": rate / bound,
            "cores_busy": float(np.median([r["cpu_seconds"] / (r["seconds"] * bench.cores) for r in runs])),
            # of the CPU time the run got, the share its photos' stages account for (1: no runner overhead)
            "stage_share_of_cpu": float(np.median([r["ok"] / len(photos) * sum(costs) / r["cpu_seconds"]
                                                   for r in runs])),
        }
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": _machine(bench.load_at_start),
        "settings": {"backends": names, "model": model, "models": {n: bench.backends[n].model.name for n in names},
                     "rounds": rounds, "warmup": warmup, "batch_size": batch, "workers": bench.options.workers,
                     "threads": bench.backends[names[0]].threads, "steady_seconds": bench.steady_seconds,
                     "format": asdict(bench.options.fmt)},  # fmt: skip
        "photos": [
            {"input": photos[i].display, "format": photos[i].info.format, "width": photos[i].info.width,
             "height": photos[i].info.height, "progressive": photos[i].info.progressive, "group": label,
             "median_ms": {**{who: 1e3 * float(np.median(per_photo(who, STAGES, [i])[0])) for who in names},
                           FLOOR: 1e3 * float(np.median(per_photo(FLOOR, ("decode", "encode"), [i])[0]))}}
            for label, members in groups for i in members
        ],  # fmt: skip
        "groups": by_group,
        "model_only": model_only,
        "end_to_end": end_to_end,
    }


def format_table(rep: dict[str, Any]) -> str:
    """The report as readable text: per-stage times per size group, then model-only and end to end."""
    s, m = rep["settings"], rep["machine"]
    models = ", ".join(f"{n}: {s['models'][n]}" for n in s["backends"])
    lines = [
        f"acc bench  {rep['date']}  models {models}  {len(rep['photos'])} photos  {s['rounds']} rounds "
        f"(+{s['warmup']} warm-up)  output {s['format']['kind']} q{s['format']['quality']}",
        f"machine: {m['cpu']}, {m['logical_cores']} logical cores ({m['usable_cores']} usable), load average "
        f"{m['load_average_at_start']} at the start, {m['load_average']} at the end",
        "",
        "Per photo, outside the model (ms, p50 / p95 over photos x rounds; ratios of means of per-photo medians)",
        f"{'size':>8}  {'backend':8} {'decode':>15} {'model_input':>15} {'render+encode':>15} {'outside model':>15}"
        f" {'x faster':>9} {'x floor':>8}",
    ]

    def cell(stats: dict[str, float]) -> str:
        return f"{stats['p50_ms']:7.1f} /{stats['p95_ms']:6.1f}"

    for label, g in rep["groups"].items():
        for who in s["backends"]:
            row = g[who]
            speedup = f"{row['speedup_vs_opencv']:8.2f}x" if "speedup_vs_opencv" in row else f"{'':9}"
            lines.append(f"{label:>8}  {who:8} {cell(row['decode'])} {cell(row['model_input'])} {cell(row['render'])}"
                         f" {cell(row['outside_model'])} {speedup} {row['x_floor']:7.2f}x")  # fmt: skip
        f = g[FLOOR]
        lines.append(f"{label:>8}  {'floor':8} {cell(f['decode'])} {'':>15} {cell(f['encode'])} {cell(f['total'])}"
                     f"  (luma decode + encode; {g['photos']} photos)")  # fmt: skip
    lines += ["", f"Model only (batches of {s['batch_size']}):"]
    for name, stats in rep["model_only"].items():
        lines.append(f"  {name:8} {stats['images_per_s']:8.2f} images/s  ({cell(stats)} ms per image)")
    if rep["end_to_end"]:
        lines += ["", f"End to end (the batch runner, {s['workers']} workers, files written; median of rounds), "
                      "against the bound: cores x photos / their core-seconds (stages + model):"]  # fmt: skip
        for name, stats in rep["end_to_end"].items():
            failed = f", {stats['failed']} failed" if stats["failed"] else ""
            lines.append(f"  {name:8} {stats['images_per_s']:8.2f} images/s {stats['megapixels_per_s']:8.1f} MP/s"
                         f"   {stats['x_model_only']:.2f}x model-only   bound {stats['bound_images_per_s']:.2f} "
                         f"images/s ({stats['cores']} cores): {stats['x_bound']:.2f} of it; cores busy "
                         f"{stats['cores_busy']:.2f}, stages {stats['stage_share_of_cpu']:.2f} of its CPU; "
                         f"{stats['photos_per_run']} photos, {stats['seconds_p50']:.1f} s a run{failed}")  # fmt: skip
    return "\n".join(lines)


# --- the chart (drawn with OpenCV: no plotting dependency) ----------------------------------------------------

_COLOURS = {"decode": (180, 119, 31), "model_input": (14, 127, 255), "render": (44, 160, 44),
            "encode": (40, 39, 214), "images/s": (189, 103, 148), "bound": (200, 200, 200)}  # BGR, fmt: skip
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _text(img: np.ndarray, text: str, x: int, y: int, scale: float = 0.45, colour=(30, 30, 30)) -> None:
    cv2.putText(img, text, (x, y), _FONT, scale, colour, 1, cv2.LINE_AA)


Bars = list[tuple[str, list[tuple[str, float]]]]  # rows of (label, [(segment, value)])


def _bar_panel(img: np.ndarray, top: int, title: str, rows: Bars, unit: str, notes: dict[str, str] | None = None
               ) -> int:  # fmt: skip
    """Horizontal stacked bars, one row per (label, [(segment, value)]), each followed by its total and
    notes[label] if any; returns the panel's bottom."""
    left, right, row_h = 110, img.shape[1] - 90, 22
    _text(img, title, 10, top + 16, 0.5)
    top += 26
    longest = max(sum(v for _, v in segments) for _, segments in rows) or 1.0
    scale = (right - left) / longest
    for r, (label, segments) in enumerate(rows):
        y = top + r * row_h
        _text(img, label, 10, y + 15)
        x = float(left)
        for segment, value in segments:
            cv2.rectangle(img, (int(x), y + 3), (int(x + value * scale), y + row_h - 3), _COLOURS[segment], -1)
            x += value * scale
        note = (notes or {}).get(label, "")
        _text(img, f"{sum(v for _, v in segments):.1f} {unit}{note}", int(x) + 5, y + 15, 0.4)
    return top + len(rows) * row_h + 8


def draw_chart(rep: dict[str, Any], path: Path) -> None:
    """Per size group: stacked stage times (p50) per backend and the codec floor; then throughputs."""
    names = rep["settings"]["backends"]
    height = 60 + sum(34 + 22 * (len(names) + 1) for _ in rep["groups"]) + 34 + 22 * 3 * len(names)
    img = np.full((height, 900, 3), 255, np.uint8)
    _text(img, f"acc bench: model {rep['settings']['model']}, {rep['date']}", 10, 20, 0.55)
    x = 10
    for segment in ("decode", "model_input", "render", "encode"):
        cv2.rectangle(img, (x, 32), (x + 14, 44), _COLOURS[segment], -1)
        _text(img, segment, x + 18, 43, 0.4)
        x += 30 + 9 * len(segment)
    y = 52
    for label, g in rep["groups"].items():
        rows = [(who, [(s, g[who][s]["p50_ms"]) for s in STAGES]) for who in names]
        rows.append((FLOOR, [(s, g[FLOOR][s]["p50_ms"]) for s in ("decode", "encode")]))
        y = _bar_panel(img, y, f"{label}: ms per photo outside the model (p50)", rows, "ms")
    rows = [(f"{n} model", [("images/s", rep["model_only"][n]["images_per_s"])]) for n in rep["model_only"]]
    notes = {}
    for n, e2e in rep["end_to_end"].items():
        rows += [(f"{n} bound", [("bound", e2e["bound_images_per_s"])]),
                 (f"{n} e2e", [("images/s", e2e["images_per_s"])])]
        notes[f"{n} e2e"] = f"  = {e2e['x_bound']:.2f} of the bound (cores busy {e2e['cores_busy']:.2f})"
    _bar_panel(img, y, "images/s: model only; end to end and its bound (cores x photos / their core-seconds)", rows,
               "img/s", notes)  # fmt: skip
    if not cv2.imwrite(str(path), img):
        raise OSError(f"cannot write {path}")
