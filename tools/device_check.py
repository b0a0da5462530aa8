"""The Python half of tools/device_check.sh: the steps a shell does badly. Each writes JSON into the check's
work folder; `report` merges them into one results.json and prints the table the device call ends with.

    python tools/device_check.py toolchain WORK        NVVM, nvJitLink and driver versions; can kernels load?
    python tools/device_check.py corpus WORK [--small]  the photos, made in parallel (tools/make_corpus.py)
    python tools/device_check.py throughput WORK BACKEND...   sustained end-to-end rate per size and mode
    python tools/device_check.py report WORK OUT        results.json in OUT, and a table on stdout

Throughput: for each (size, mode) group, acc colorize (acc.api.colorize_files: the batch runner, files
written) over hard links to the group's photos, repeated until the run lasts about --seconds at the rate a
first, untimed pass measured (that pass also warms the backend: kernels built, cuDNN tuned). The time is
the runner's own (Summary.seconds): the backend's start is left out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # make_corpus, beside this file

SIZES = {"full": (0.3, 2.5, 12.0), "small": (0.01, 0.02, 0.04)}  # megapixels; small: the rehearsal's
PHOTOS = {0.3: 64, 2.5: 64, 12.0: 4}  # photos per size (each in both modes): at least 64 where it matters
PARTS = 8  # corpus writers in parallel
MODES = ("baseline", "progressive")
TARGETS = {"2.5": 1000.0, "0.3": 5000.0}  # photos/s end to end on an H100 or H200 (issue's targets)
LINKS_CAP = 40_000  # photos in one timed run at most


def _json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


# --- toolchain ---------------------------------------------------------------------------------------------


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def isa_cuda(isa: str) -> tuple[int, int] | None:
    """The CUDA release whose tools and driver first take PTX ISA `isa`: 9.x is CUDA 13.x (13.0 -> 9.0 and
    13.5 -> 9.5, as the PTX ISA notes list them); None for ISAs before 9.0 (not emitted by CUDA 13's NVVM)."""
    major, minor = (int(part) for part in isa.split("."))
    return (13, minor) if major == 9 else None


def toolchain(work: Path) -> int:
    """Which NVVM builds the kernels and what will link and load them. The kernels' PTX carries NVVM's ISA
    version; numba-cuda links it with nvJitLink when there is one (>= 12.3), which must be at least NVVM's
    release, else the driver compiles it, which must be at least that release too. Exit status 1 when the
    PTX cannot be linked or loaded here, 0 when it can or when there is no driver to ask (a rehearsal)."""
    from acc.backends.cuda.driver import NoGpu, driver_info
    from acc.kernels.cuda.ptx import compile_all, ptx_isa

    info: dict[str, Any] = {"versions": {d: _version(d) for d in (
        "numba", "numba-cuda", "cuda-bindings", "cuda-pathfinder", "torch", "onnxruntime", "onnxruntime-gpu",
        "nvidia-nvjitlink", "nvidia-nvvm", "nvidia-nvimgcodec-cu13", "nvidia-nvjpeg", "simplejpeg")},  # fmt: skip
        "cuda_home": os.environ.get("CUDA_HOME")}
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib

        nvvm = load_nvidia_dynamic_lib("nvvm")
        info["nvvm"] = f"{nvvm.abs_path} (found via {nvvm.found_via})"
    except Exception as exc:
        info["nvvm"] = f"not found: {type(exc).__name__}: {exc}"
    try:
        from cuda.bindings import nvjitlink

        linker: tuple[int, int] | None = tuple(nvjitlink.version())[:2]  # type: ignore[assignment]
    except Exception as exc:  # not installed, or its library not found
        linker, info["nvjitlink"] = None, f"not found ({type(exc).__name__}): the driver compiles the PTX"
    else:
        info["nvjitlink"] = f"{linker[0]}.{linker[1]}"
    try:
        driver = driver_info().driver_cuda
        info["driver_cuda"] = f"{driver[0]}.{driver[1]}"
    except NoGpu as exc:
        driver, info["driver_cuda"] = None, f"none ({exc})"
    try:
        ptx = compile_all((9, 0))
    except Exception as exc:
        info["verdict"] = f"FAILS: the kernels do not build: {type(exc).__name__}: {exc}"
        _json(work / "toolchain.json", info)
        print(json.dumps(info, indent=2))
        return 1
    isa = ptx_isa(next(iter(ptx.values())))
    needs = isa_cuda(isa)
    info["ptx_isa"] = isa
    who, has = ("nvJitLink", linker) if linker and linker >= (12, 3) else ("the driver", driver)
    if has is None:
        info["verdict"] = f"skipped: no driver here to load PTX ISA {isa}"
        status = 0
    elif needs is None or has >= needs:
        info["verdict"] = f"ok: PTX ISA {isa} is linked by {who} {has[0]}.{has[1]}"
        status = 0
    else:
        info["verdict"] = (f"FAILS: NVVM emits PTX ISA {isa} (CUDA {needs[0]}.{needs[1]}), newer than {who} "
                           f"{has[0]}.{has[1]} takes: point CUDA_HOME at a toolkit whose NVVM matches, or install "
                           f"nvidia-nvvm=={has[0]}.{has[1]}.* beside nvidia-nvjitlink of the same release")  # fmt: skip
        status = 1
    _json(work / "toolchain.json", info)
    print(json.dumps(info, indent=2))
    return status


# --- corpus ------------------------------------------------------------------------------------------------


def _part(args: tuple[Path, float, int, int]) -> int:
    from make_corpus import make_corpus

    out, size, count, seed = args
    return len(make_corpus(out, [size], count=count, seed=seed))


def corpus(work: Path, small: bool) -> int:
    """PHOTOS[size] photos per size, half gray and half colour, each saved baseline and progressive; written
    by PARTS processes into WORK/corpus/p<k>/ (the names repeat across parts: the folders keep them apart)."""
    jobs = []
    for size, full in zip(SIZES["small" if small else "full"], SIZES["full"]):
        per_kind = max(1, (2 if small else PHOTOS[full]) // 2)
        parts = min(PARTS, per_kind)
        for k in range(parts):
            count = per_kind // parts + (k < per_kind % parts)
            jobs.append((work / "corpus" / f"p{k}", size, count, 1000 * k + int(100 * size)))
    with ProcessPoolExecutor(min(PARTS, os.cpu_count() or 1)) as pool:
        written = sum(pool.map(_part, jobs))
    print(f"corpus: {written} photos in {work / 'corpus'}")
    return 0


def groups(work: Path) -> dict[str, list[Path]]:
    """'<MP>mp <mode>' -> the corpus's photos of that size and mode."""
    found: dict[str, list[Path]] = {}
    for path in sorted((work / "corpus").glob("p*/*.jpg")):
        size, _, mode, _ = path.stem.split("_")
        found.setdefault(f"{size} {mode}", []).append(path)
    return found


def bench_sets(work: Path, per_group: int) -> int:
    """WORK/bench/<mode>/: per_group photos of each size but the largest in that mode, for acc bench's
    per-stage times (the largest photos are in the throughput runs: the opencv baseline would take most of
    the stage's time on them)."""
    found = groups(work)
    largest = max(float(label.split("mp")[0]) for label in found)
    for label, paths in found.items():
        if float(label.split("mp")[0]) == largest:
            continue
        folder = work / "bench" / label.split()[1]
        folder.mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(paths[:per_group]):
            os.link(path, folder / f"{path.parent.name}_{path.name}")
    print(f"bench sets in {work / 'bench'}")
    return 0


# --- throughput --------------------------------------------------------------------------------------------


def _linked(paths: list[Path], folder: Path, count: int) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for k in range(count):
        path = paths[k % len(paths)]
        os.link(path, folder / f"{k:06d}_{path.parent.name}_{path.name}")
    return folder


def _run(backend: str, inputs: Path, out: Path) -> dict[str, float]:
    from acc.api import colorize_files

    shutil.rmtree(out, ignore_errors=True)
    summary = colorize_files([str(inputs)], out, backend=backend)
    shutil.rmtree(out, ignore_errors=True)
    return {"photos": summary.ok, "failed": summary.failed, "seconds": summary.seconds,
            "photos_per_s": summary.ok / summary.seconds, "megapixels_per_s": summary.pixels / 1e6 / summary.seconds}


def throughput(work: Path, backends: list[str], seconds: float) -> int:
    rows = []
    for label, paths in groups(work).items():
        for backend in backends:
            name, env = backend, {}
            if backend == "cuda-host-encoder":  # the same backend, libjpeg-turbo encoding on the host
                if not label.startswith("2.5mp baseline"):
                    continue
                backend, env = "cuda", {"ACC_CUDA_JPEG_ENCODER": "host"}
            os.environ.update(env)
            try:
                first = _run(backend, _linked(paths, work / "links", len(paths)), work / "out")  # untimed: warm-up
                count = min(LINKS_CAP, max(len(paths), math.ceil(first["photos_per_s"] * seconds)))
                start = time.monotonic()
                timed = _run(backend, _linked(paths, work / "links", count), work / "out")
                row = {"group": label, "backend": name, **timed, "wall_seconds": time.monotonic() - start}
            finally:
                for key in env:
                    os.environ.pop(key)
            rows.append(row)
            print(f"{label:20} {name:18} {row['photos']:6d} photos  {row['photos_per_s']:9.1f} photos/s  "
                  f"{row['megapixels_per_s']:8.1f} MP/s", flush=True)  # fmt: skip
    previous = json.loads((work / "throughput.json").read_text()) if (work / "throughput.json").exists() else []
    _json(work / "throughput.json", previous + rows)
    shutil.rmtree(work / "links", ignore_errors=True)
    return 0


# --- report ------------------------------------------------------------------------------------------------


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def report(work: Path, out: Path) -> int:
    stages = [json.loads(line) for line in (work / "stages.jsonl").read_text().splitlines() if line.strip()]
    rates = _load(work / "throughput.json") or []
    results = {"stages": stages, "toolchain": _load(work / "toolchain.json"), "throughput": rates,
               "kernels": _load(work / "kernels.json"),
               "bench": {mode: _load(work / f"bench-{mode}.json") for mode in MODES},
               "doctor": (work / "doctor.txt").read_text() if (work / "doctor.txt").exists() else None}  # fmt: skip
    cpu = {r["group"]: r["photos_per_s"] for r in rates if r["backend"] == "cpu"}
    verdicts = []
    for r in rates:
        if r["backend"] == "cuda" and r["group"] in cpu:
            r["x_cpu"] = r["photos_per_s"] / cpu[r["group"]]
        target = TARGETS.get(r["group"].split("mp")[0]) if "baseline" in r["group"] and r["backend"] == "cuda" else None
        if target:
            verdicts.append(f"{r['group']}: {r['photos_per_s']:.0f} photos/s, target {target:.0f}: "
                            f"{'met' if r['photos_per_s'] >= target else 'NOT met'}")  # fmt: skip
        if "x_cpu" in r:
            verdicts.append(f"{r['group']}: {r['x_cpu']:.1f}x the cpu backend, target 10x: "
                            f"{'met' if r['x_cpu'] >= 10 else 'NOT met'}")  # fmt: skip
    results["targets"] = verdicts
    _json(out / "results.json", results)
    print("\nstage                          status    seconds")
    for s in stages:
        print(f"{s['stage']:30} {s['status']:9} {s['seconds']:7.1f}  {s.get('reason', '')}")
    if rates:
        print("\ngroup                backend             photos   photos/s     MP/s   x cpu")
        for r in rates:
            print(f"{r['group']:20} {r['backend']:18} {r['photos']:7d} {r['photos_per_s']:10.1f} "
                  f"{r['megapixels_per_s']:8.1f}  {r.get('x_cpu', float('nan')):6.1f}")  # fmt: skip
    for line in verdicts:
        print(line)
    print(f"\nresults: {out / 'results.json'}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("toolchain").add_argument("work", type=Path)
    p = sub.add_parser("corpus")
    p.add_argument("work", type=Path)
    p.add_argument("--small", action="store_true", help="tiny photos, two per group (the rehearsal)")
    p = sub.add_parser("bench-sets")
    p.add_argument("work", type=Path)
    p.add_argument("--per-group", type=int, default=8)
    p = sub.add_parser("throughput")
    p.add_argument("work", type=Path)
    p.add_argument("backends", nargs="+")
    p.add_argument("--seconds", type=float, default=3.0, help="how long each timed run should last")
    p = sub.add_parser("report")
    p.add_argument("work", type=Path)
    p.add_argument("out", type=Path)
    args = ap.parse_args()
    if args.command == "toolchain":
        return toolchain(args.work)
    if args.command == "corpus":
        return corpus(args.work, args.small)
    if args.command == "bench-sets":
        return bench_sets(args.work, args.per_group)
    if args.command == "throughput":
        return throughput(args.work, args.backends, args.seconds)
    return report(args.work, args.out)


if __name__ == "__main__":
    sys.exit(main())
