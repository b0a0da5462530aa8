"""What carrying metadata costs end to end: the batch runner on the same photos with metadata on (the
default: the source's metadata copied, provenance, sRGB profile) and off (strip, no provenance: the sRGB
profile alone), alternating round by round, so a busy machine slows both alike; medians and their ratio,
of wall time and of the process's CPU time (which other jobs on a shared machine sway less).

    python tools/make_corpus.py --out corpus --sizes 0.3 2.5 12
    python tools/make_random_eccv16.py --out timing-models
    python tools/bench_metadata.py corpus --model-dir timing-models --model eccv16-random --rounds 5 --tagged

--tagged first gives each photo (a copy) what an archive scan carries: EXIF (artist, rights, caption,
dates, 1200 dpi, a thumbnail), XMP (Dublin Core and IPTC Core), IPTC-IIM and an sRGB ICC profile. The
host time of the metadata steps alone (take_in before decode, finish after encode) is also timed per
photo, on the photo and the output the "off" runs wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import exiv2

from acc.api import open_backend, run_options
from acc.config import resolve_settings
from acc.inputs import InputSet
from acc.metadata import MetadataPolicy, finish, take_in
from acc.metadata.exiv import image_bytes, open_image
from acc.outdir import OutputDir
from acc.pipeline import Runner
from acc.probe import probe
from acc.workingspace import srgb_profile_bytes

ON, OFF = MetadataPolicy(), MetadataPolicy("strip", provenance=False)


def tag(data: bytes) -> bytes:
    """A photo with an archive scan's metadata, written by exiv2."""
    image = open_image(data)
    exif, xmp, iptc = exiv2.ExifData(), exiv2.XmpData(), exiv2.IptcData()
    for key, value in {"Exif.Image.Artist": "A. Photographer", "Exif.Image.Copyright": "(c) City Archive",
                       "Exif.Image.ImageDescription": "Harbour at dawn, looking east " * 4,
                       "Exif.Image.XResolution": "1200/1", "Exif.Image.YResolution": "1200/1",
                       "Exif.Photo.DateTimeOriginal": "1911:04:16 10:00:00", "Exif.Image.Make": "Epson"}.items():
        exif[key] = value
    for key, value in {"Xmp.dc.title": 'lang="x-default" Harbour', "Xmp.dc.creator": "A. Photographer",
                       "Xmp.dc.rights": 'lang="x-default" (c) City Archive', "Xmp.dc.source": "Box 12, folder 3",
                       "Xmp.iptc.Location": "Harbour"}.items():
        xmp[key] = value
    iptc["Iptc.Application2.ObjectName"] = "Harbour"
    iptc["Iptc.Application2.Caption"] = "Harbour at dawn"
    image.setExifData(exif)
    image.setXmpData(xmp)
    image.setIptcData(iptc)
    image.setIccProfile(exiv2.DataBuf(srgb_profile_bytes()))
    image.writeMetadata()
    return image_bytes(image)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--model-dir", type=Path)
    ap.add_argument("--model")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--tagged", action="store_true", help="give the photos an archive scan's metadata first")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    settings = resolve_settings(None, {"model": args.model, "model_dir": args.model_dir, "backend": args.backend})
    with tempfile.TemporaryDirectory(prefix="acc-bench-metadata-") as scratch:
        src = Path(scratch) / "in"
        src.mkdir()
        for photo in sorted(args.corpus.glob("*.jpg")):
            data = photo.read_bytes()
            (src / photo.name).write_bytes(tag(data) if args.tagged else data)
        seconds: dict[str, list[float]] = {"on": [], "off": []}
        cpu: dict[str, list[float]] = {"on": [], "off": []}  # process CPU seconds: less swayed by other jobs
        with open_backend(settings) as backend:
            for r in range(args.warmup + args.rounds):
                for name in (("on", "off") if r % 2 else ("off", "on")):
                    out = Path(scratch) / name
                    shutil.rmtree(out, ignore_errors=True)
                    options = replace(run_options(settings), metadata=ON if name == "on" else OFF)
                    with OutputDir(out) as outdir:
                        started = time.process_time()
                        summary = Runner(backend, outdir, options).run(InputSet([str(src)], outdir=out))
                        used = time.process_time() - started
                    assert summary.ok == len(list(src.iterdir())), summary
                    if r >= args.warmup:
                        seconds[name].append(summary.seconds)
                        cpu[name].append(used)
            steps = [_steps(p, Path(scratch) / "off" / p.name) for p in sorted(src.iterdir())]
    on, off = statistics.median(seconds["on"]), statistics.median(seconds["off"])
    cpu_on, cpu_off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
    result = {"photos": len(steps), "rounds": args.rounds, "tagged": args.tagged, "load_average": os.getloadavg(),
              "seconds_on": seconds["on"], "seconds_off": seconds["off"], "median_on": on, "median_off": off,
              "throughput_on_over_off": off / on, "cpu_seconds_on": cpu["on"], "cpu_seconds_off": cpu["off"],
              "cpu_on_over_off": cpu_on / cpu_off, "steps_ms": steps}  # fmt: skip
    print(f"end to end, median of {args.rounds}: metadata on {on:.2f} s, off {off:.2f} s: "
          f"throughput on/off {off / on:.4f} ({100 * (off / on - 1):+.2f} %); process CPU time on "
          f"{cpu_on:.2f} s, off {cpu_off:.2f} s: on/off {cpu_on / cpu_off:.4f}")
    for step in steps:
        print(f"  {step['photo']}: {step['megapixels']:.1f} MP, take_in {step['take_in_ms']:.2f} ms, "
              f"finish {step['finish_ms']:.2f} ms")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def _steps(source: Path, output: Path, repeats: int = 5) -> dict:
    """Median host time of take_in (read metadata, hash the source) and finish (wrap the output)."""
    data, encoded = source.read_bytes(), output.read_bytes()
    info = probe(data)
    take, fin = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        intake = take_in(data, info, ON)
        t1 = time.perf_counter()
        finish(encoded, "jpeg", intake, ON, "acc bench", source.name)
        fin.append(time.perf_counter() - t1)
        take.append(t1 - t0)
    return {"photo": source.name, "megapixels": info.pixels / 1e6, "take_in_ms": 1e3 * statistics.median(take),
            "finish_ms": 1e3 * statistics.median(fin)}  # fmt: skip


if __name__ == "__main__":
    main()
