"""Which files a run colorizes, and where under the output folder each one goes.

Inputs are files, folders (walked recursively, in sorted order, hidden entries skipped) or glob
patterns. Each photo keeps its path relative to the folder or glob base it was found under, so the
output tree mirrors the input tree. Files are produced lazily: a million-file folder is never listed
in memory.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from acc.probe import IMAGE_SUFFIXES


@dataclass(frozen=True)
class InputFile:
    path: Path  # absolute path of the photo
    rel: PurePosixPath  # its place under the output folder (before the output suffix is applied)
    display: str  # how messages name it: the path as the user's arguments spell it


@dataclass(frozen=True)
class InputError:
    display: str
    reason: str


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def _has_magic(arg: str) -> bool:
    return glob.has_magic(arg)


def _glob_base(pattern: str) -> Path:
    """The folder part of a pattern before its first wildcard: 'scans/19*/*.tif' -> 'scans'."""
    parts = Path(pattern).parts
    base = []
    for part in parts:
        if _has_magic(part):
            break
        base.append(part)
    return Path(*base) if base else Path(".")


class InputSet:
    """The user's input arguments: iterates the photos, and answers whether a path is one of them.

    `outdir` is skipped while walking when it lies strictly inside an input folder, so a run never
    colorizes its own outputs; when it is an input folder itself, outputs that would land on inputs
    are refused instead (see contains).
    """

    def __init__(self, args: list[str], outdir: Path | None = None) -> None:
        self.args = args
        self.outdir = outdir.resolve() if outdir else None
        self._files = {Path(a).resolve() for a in args if Path(a).is_file()}
        # (root, pattern or None): a folder takes every image name below it, a glob what matches it.
        self._roots: list[tuple[Path, str | None]] = []
        for arg in args:
            if Path(arg).is_dir():
                self._roots.append((Path(arg).resolve(), None))
            elif _has_magic(arg) and not Path(arg).exists():
                base = _glob_base(arg)
                rest = os.path.relpath(arg, base)
                root = base.resolve()
                self._roots.append((root, str(root / rest)))

    def __iter__(self) -> Iterator[InputFile | InputError]:
        for arg in self.args:
            path = Path(arg)
            if path.is_dir():
                yield from self._walk(path, arg)
            elif path.is_file():
                yield InputFile(path.resolve(), PurePosixPath(path.name), arg)
            elif _has_magic(arg):
                yield from self._glob(arg)
            else:
                yield InputError(arg, "no such file or directory")

    def count(self) -> int:
        """How many entries iterating yields (walks the folders once more, holding nothing)."""
        return sum(1 for _ in self)

    def _skipped(self, path: Path, root: Path) -> bool:
        """Whether `path` lies in the output folder nested strictly inside input root `root`."""
        out = self.outdir
        return out is not None and out != root and out.is_relative_to(root) and path.is_relative_to(out)

    def _walk(self, folder: Path, arg: str) -> Iterator[InputFile]:
        root = folder.resolve()
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not self._skipped(here / d, root))
            for name in sorted(filter(_is_image_name, filenames)):
                rel = (here / name).relative_to(root)
                yield InputFile(here / name, PurePosixPath(rel.as_posix()), os.path.join(arg, str(rel)))

    def _glob(self, pattern: str) -> Iterator[InputFile | InputError]:
        base = _glob_base(pattern).resolve()
        found = False
        for match in sorted(glob.iglob(pattern, recursive=True)):
            path = Path(match)
            if not path.is_file() or not _is_image_name(path.name):
                continue
            resolved = path.resolve()
            if self._skipped(resolved, base) or not resolved.is_relative_to(base):
                continue
            found = True
            yield InputFile(resolved, PurePosixPath(resolved.relative_to(base).as_posix()), match)
        if not found:
            yield InputError(pattern, "no image files match this pattern")

    def contains(self, path: Path) -> bool:
        """Whether `path` is, or could be found as, one of this run's inputs: such a path is never written.

        Conservative for globs (fnmatch lets '*' cross folders), which can only refuse more.
        """
        path = path.resolve()
        if path in self._files:
            return True
        for root, pattern in self._roots:
            if not path.is_relative_to(root) or self._skipped(path, root) or not _is_image_name(path.name):
                continue
            if pattern is None or fnmatch.fnmatch(str(path), pattern):
                return True
        return False
