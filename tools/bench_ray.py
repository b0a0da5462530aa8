"""Throughput of `acc colorize --ray` against the local runner, on the same photos, backend and model.

    python tools/make_corpus.py --out corpus03 --sizes 0.3 --count 125
    python tools/bench_ray.py corpus03 --copies 4 --rounds 3 --json ray-bench.json

Starts one Ray cluster on this machine (`ray start --head`, its start-up timed apart), then runs, round
after round and alternating which goes first, the same `acc colorize` job twice, each in a fresh child
process writing into an empty folder: locally, and on the cluster (--ray ADDRESS). Per run it records:

    total       photos / the run's whole time (what a user waits for, Ray's fixed costs included)
    steady      photos reported after the first result (and the burst of rows that came with it, within
                0.2 s) / time after it: throughput with the start-up and the first task left out
                (for Ray: connecting, starting the workers, loading the model, the first task)
    fixed       for Ray: seconds to connect, and seconds from then to the first result
    peak RSS    of the driver (the child, from its rusage) and of each Ray worker (its VmHWM, sampled)

`--copies N` makes N hard-linked copies of the corpus in a scratch folder, so a run lasts minutes
without N times the disk. Medians over rounds; the machine's load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ONE_RUN = """
import json, sys, time
import acc
times = []
start = time.perf_counter()
settings = json.loads(sys.argv[3])
notices = []
summary = acc.colorize_files([sys.argv[1]], sys.argv[2], on_outcome=lambda o: times.append(time.perf_counter()),
                             on_notice=notices.append, **settings)
end = time.perf_counter()
print(json.dumps({"ok": summary.ok, "failed": summary.failed, "seconds": end - start,
                  "times": [t - start for t in times], "notices": notices}))
"""


BURST = 0.2  # seconds: results reported this soon after the first one came with it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(port: int, head: subprocess.Popen, timeout: float = 120) -> None:
    """Until the head node's GCS answers on `port` (its dashboard-less start takes a few seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise RuntimeError("ray start --head ended early")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                time.sleep(2.0)  # the GCS listens before the raylet is registered: give it a moment
                return
        time.sleep(0.2)
    raise RuntimeError(f"no Ray head on port {port} after {timeout:.0f} s")


def worker_pids() -> list[int]:
    """Ray's worker processes of this machine running acc's map worker (their title says so)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"MapWorker" in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def peak_rss(pid: int) -> int | None:
    """A process's peak resident memory so far (VmHWM), bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def run_once(src: Path, out: Path, settings: dict) -> dict:
    """One `acc colorize` in a child process; its timings, its peak RSS and the Ray workers' peaks."""
    shutil.rmtree(out, ignore_errors=True)
    peaks: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            for pid in worker_pids():
                rss = peak_rss(pid)
                if rss:
                    peaks[pid] = max(peaks.get(pid, 0), rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # Files, not pipes: a child writing more than a pipe holds would wait for a reader that waits for it.
    with tempfile.TemporaryFile("w+") as stdout_file, tempfile.TemporaryFile("w+") as stderr_file:
        proc = subprocess.Popen([sys.executable, "-c", ONE_RUN, str(src), str(out), json.dumps(settings)],
                                stdout=stdout_file, stderr=stderr_file)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        sampler.join()
        stdout_file.seek(0)
        stderr_file.seek(0)
        stdout, stderr = stdout_file.read(), stderr_file.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"run failed ({proc.returncode}): {stderr[-2000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    times = result.pop("times")
    first = times[0]
    # The photos reported with the first (a Ray task's rows, journaled one by one within milliseconds):
    # done before `first`, so not counted after it. Locally this leaves out the photos of BURST seconds.
    burst = sum(1 for t in times if t <= first + BURST)
    result.update(total=result["ok"] / result["seconds"], first_result=first, first_burst=burst,
                  steady=(len(times) - burst) / (times[-1] - first) if times[-1] > first else float("nan"),
                  driver_peak_rss=usage.ru_maxrss * 1024, worker_peak_rss=sorted(peaks.values()))  # fmt: skip
    for notice in result["notices"]:
        if notice.startswith("ray: ") and " s to connect" in notice:
            result["connect"] = float(notice.rsplit(", ", 1)[1].split(" s ")[0])
    shutil.rmtree(out, ignore_errors=True)
    return result


def replicate(corpus: Path, copies: int, scratch: Path) -> Path:
    """`copies` hard-linked copies of the corpus's files, one folder each."""
    src = scratch / "inputs"
    for k in range(copies):
        folder = src / f"copy{k}"
        folder.mkdir(parents=True)
        for path in sorted(corpus.iterdir()):
            if path.is_file():
                os.link(path, folder / path.name)
    return src


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", default="cpu")
    parser.add_argument("--model")
    parser.add_argument("--model-dir")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count())
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    ray_cli = Path(sys.executable).with_name("ray")
    settings = {"backend": args.backend, "workers": args.workers, "batch_size": args.batch_size}
    settings.update({k: v for k, v in (("model", args.model), ("model_dir", args.model_dir)) if v})
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": platform.platform(),
                    "cpus": os.cpu_count(), "settings": settings, "load_before": os.getloadavg()}  # fmt: skip
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="acc-bench-ray-") as scratch_name:
        scratch = Path(scratch_name)
        src = replicate(args.corpus, args.copies, scratch)
        report["photos"] = sum(1 for p in src.rglob("*") if p.is_file())
        t0 = time.perf_counter()
        # A cluster of this machine for this tool only: no token to hand around (Ray 2.60's clusters
        # want one by default). --block: the cluster lives as long as this child and stops with it on
        # SIGINT (never `ray stop`, which stops every Ray process of the machine, other people's too).
        os.environ["RAY_AUTH_MODE"] = "disabled"
        head = subprocess.Popen([str(ray_cli), "start", "--head", "--block", f"--port={port}",
                                 f"--num-cpus={args.num_cpus}", "--include-dashboard=false",
                                 f"--object-store-memory={256 * 1024**2}", "--disable-usage-stats"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        wait_until_up(port, head)
        report["cluster_start_seconds"] = time.perf_counter() - t0
        runs: dict[str, list[dict]] = {"local": [], "ray": []}
        try:
            for r in range(args.rounds):
                order = ["local", "ray"] if r % 2 == 0 else ["ray", "local"]
                for kind in order:
                    extra = {"ray": f"127.0.0.1:{port}"} if kind == "ray" else {}
                    result = run_once(src, scratch / "out", {**settings, **extra})
                    runs[kind].append(result)
                    print(f"round {r + 1} {kind}: {result['ok']} ok in {result['seconds']:.1f} s, total "
                          f"{result['total']:.2f}/s, steady {result['steady']:.2f}/s, driver "
                          f"{result['driver_peak_rss'] / 2**20:.0f} MiB, workers "
                          f"{[round(x / 2**20) for x in result['worker_peak_rss']]} MiB", flush=True)  # fmt: skip
        finally:
            head.send_signal(signal.SIGINT)
            head.wait(timeout=60)
    report["load_after"] = os.getloadavg()
    report["runs"] = runs
    med = {kind: {key: statistics.median(r[key] for r in rs) for key in ("total", "steady", "seconds")}
           for kind, rs in runs.items()}  # fmt: skip
    med["ray"]["connect"] = statistics.median(r.get("connect", float("nan")) for r in runs["ray"])
    med["ray"]["first_result"] = statistics.median(r["first_result"] for r in runs["ray"])
    report["medians"] = med
    report["ratio_total"] = med["ray"]["total"] / med["local"]["total"]
    report["ratio_steady"] = med["ray"]["steady"] / med["local"]["steady"]
    print(f"{report['photos']} photos, {args.rounds} rounds, load {report['load_before']} -> {report['load_after']}")
    print(f"ray cluster start (ray start --head): {report['cluster_start_seconds']:.1f} s")
    print(f"medians: local total {med['local']['total']:.2f}/s steady {med['local']['steady']:.2f}/s; ray total "
          f"{med['ray']['total']:.2f}/s steady {med['ray']['steady']:.2f}/s (connect {med['ray']['connect']:.1f} s, "
          f"first result {med['ray']['first_result']:.1f} s)")  # fmt: skip
    print(f"ray / local: total {report['ratio_total']:.2f}x, steady {report['ratio_steady']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
