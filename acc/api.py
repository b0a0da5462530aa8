"""acc from Python: the batch runner with every guarantee of `acc colorize`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from acc.backends import create_backend
from acc.backends.base import OutputFormat
from acc.config import Settings, resolve_settings
from acc.inputs import InputSet
from acc.libmessages import captured
from acc.models import resolve
from acc.outdir import OutputDir
from acc.pipeline import Outcome, RunOptions, Runner, Summary


def run_options(settings: Settings) -> RunOptions:
    return RunOptions(
        fmt=OutputFormat(settings.format, settings.quality),
        batch_size=settings.batch_size,
        workers=settings.workers,
        overwrite=settings.overwrite,
        max_pixels=settings.max_pixels,
        memory_limit=settings.memory_limit,
        strict=settings.strict,
    )


def colorize_files(
    inputs: Sequence[str | PathLike[str]],
    output_dir: str | PathLike[str],
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
    config: str | PathLike[str] | None = None,
    **settings: Any,
) -> Summary:
    """Colorize files, folders and glob patterns into `output_dir`, mirroring the input tree.

    Every guarantee of `acc colorize`: outputs written under a temporary name and renamed, a journal in
    output_dir that lets the same call resume, inputs never modified, one result per photo (on_outcome
    is called for each, in input order, from the calling thread), decoder warnings per photo.
    `settings` are the configuration keys (backend="cpu", model=None, batch_size=4, format="jpeg",
    quality=95, saturation=1.0, memory_limit="6G", strict=False, ...), over those of the YAML file
    `config`. on_notice receives one-line notices (what a stopping run waits for, library messages no
    photo can be blamed for).

    While it runs, what C libraries print to file descriptor 2 is captured and attributed to photos
    (acc/libmessages.py); sys.stderr keeps writing where it did (callbacks should use sys.stderr as it
    is when they are called, not a reference taken before).
    """
    opts = resolve_settings(Path(config) if config else None, settings)
    notice = on_notice or (lambda text: None)
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output {out} exists and is not a folder")
    files = InputSet([str(i) for i in inputs], outdir=out)
    spec = resolve(opts.model, opts.model_dir).with_saturation(opts.saturation)
    with create_backend(opts.backend, spec, threads=opts.threads, exact_l=opts.exact_l, emulate=opts.emulate) as backend:
        with OutputDir(out) as outdir:
            if outdir.stale_removed:
                notice(f"removed {outdir.stale_removed} unfinished temporary file(s) of an interrupted run")
            with captured(stray=lambda text: notice(f"a library printed: {text}")) as messages:
                runner = Runner(backend, outdir, run_options(opts), on_outcome or (lambda o: None), messages, notice)
                return runner.run(files)
