"""Which files a run colorizes, and where under the output folder each one goes.

Inputs are files, folders (walked recursively, in sorted order, hidden entries skipped) or glob
patterns. Each photo keeps its path relative to the folder or glob base it was found under, so the
output tree mirrors the input tree. Files are produced lazily: a million-file folder is never listed
in memory (one folder's names at a time).

Output names (output_names): a photo's output is its stem plus the output format's suffix (`scan.tif`
-> `scan.jpg`), unless another photo of the same folder would get the same name (`good.png`, `good.tif`):
then each of those keeps its whole name (`good.png.jpg`, `good.tif.jpg`). The rule looks only at the
names of the image files in the folder, compared without case (so outputs stay distinct on
case-insensitive file systems), never at the processing order or at what earlier runs wrote.

Only regular files (or symbolic links to them) are inputs. Named pipes, sockets, devices, folders
matched by a glob and broken links are reported without being opened (a named pipe would block the
reader forever). Files whose type acc does not read are counted by suffix (`ignored`), not dropped
silently; a file named explicitly is always tried, so it gets a reason rather than silence.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from acc.errors import AccError
from acc.probe import IMAGE_SUFFIXES


@dataclass(frozen=True)
class InputFile:
    path: Path  # absolute path of the photo
    rel: PurePosixPath  # its output's path under the output folder, before the output suffix is appended
    display: str  # how messages name it: the path as the user's arguments spell it


@dataclass(frozen=True)
class InputError:
    display: str
    reason: str


class OutputIsInput(AccError):
    """The output folder is one of the input folders: every output would land among the inputs."""


def is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def output_names(names: Iterable[str]) -> dict[str, str]:
    """{input name: output name before the output suffix} for the photos of one folder (module
    docstring: the naming rule). The output suffix plays no part: 'a' + suffix == 'b' + suffix iff a == b.

    Short names (stems) that any two photos share, or that equal another photo's long name (its whole
    name), become long names, until no two are equal; long names never collide, as file names in one
    folder are unique. The result does not depend on the order of `names`.
    """
    names = list(dict.fromkeys(names))
    short = {n: os.path.splitext(n)[0] for n in names}
    chosen = dict(short)
    changed = True
    while changed:
        changed = False
        taken = Counter(out.casefold() for out in chosen.values())
        for n in names:
            if chosen[n] == short[n] and taken[chosen[n].casefold()] > 1:
                chosen[n] = n
                changed = True
    return chosen


def file_problem(path: Path) -> str | None:
    """Why `path` cannot be an input without opening it, or None for a regular file (links followed)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "broken symbolic link" if os.path.islink(path) else "no such file or directory"
    except OSError as exc:
        return exc.strerror or str(exc)
    if stat.S_ISREG(mode):
        return None
    kind = ("a folder" if stat.S_ISDIR(mode) else "a named pipe" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a special file")  # fmt: skip
    return f"not a regular file ({kind})"


def _glob_base(pattern: str) -> Path:
    """The folder part of a pattern before its first wildcard: 'scans/19*/*.tif' -> 'scans'."""
    base = []
    for part in Path(pattern).parts:
        if glob.has_magic(part):
            break
        base.append(part)
    return Path(*base) if base else Path(".")


def _suffix_of(name: str) -> str:
    return os.path.splitext(name)[1].lower() or "(no suffix)"


class InputSet:
    """The user's input arguments: iterates the photos, and answers whether a path is one of them.

    `outdir` is skipped while walking when it lies strictly inside an input folder, so a run never
    colorizes its own outputs; an output folder that is an input folder (or a glob's base) is refused
    at once (OutputIsInput). After an iteration, `ignored` counts the files passed over for their type,
    by suffix.
    """

    def __init__(self, args: list[str], outdir: Path | None = None) -> None:
        self.args = args
        self.outdir = outdir.resolve() if outdir else None
        self.ignored: Counter[str] = Counter()
        self._files = {Path(a).resolve() for a in args if self._is_file_arg(a)}
        # (root, pattern or None): a folder takes every image name below it, a glob what matches it.
        self._roots: list[tuple[Path, str | None]] = []
        for arg in args:
            if Path(arg).is_dir():
                self._roots.append((Path(arg).resolve(), None))
            elif glob.has_magic(arg) and not os.path.lexists(arg):
                base = _glob_base(arg)
                root = base.resolve()
                self._roots.append((root, str(root / os.path.relpath(arg, base))))
        for root, _ in self._roots:
            if root == self.outdir:
                raise OutputIsInput(f"the output folder {outdir} is an input folder: choose another output folder")
        # Explicit files all land in the output folder's top: they are siblings for naming.
        self._file_names = output_names([Path(a).name for a in args if self._is_file_arg(a)])

    @staticmethod
    def _is_file_arg(arg: str) -> bool:
        """A named input that is not a folder: a file, or anything else that exists (reported later)."""
        return os.path.lexists(arg) and not Path(arg).is_dir()

    def __iter__(self) -> Iterator[InputFile | InputError]:
        self.ignored = Counter()
        for arg in self.args:
            path = Path(arg)
            if path.is_dir():
                yield from self._walk(path, arg)
            elif self._is_file_arg(arg):
                yield InputFile(path.absolute().parent.resolve() / path.name,
                                PurePosixPath(self._file_names[path.name]), arg)  # fmt: skip
            elif glob.has_magic(arg):
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

    def _walk(self, folder: Path, arg: str) -> Iterator[InputFile | InputError]:
        root = folder.resolve()
        unreadable: list[OSError] = []  # folders os.walk could not list: reported, never skipped silently
        for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable.append):
            while unreadable:
                yield self._unreadable(unreadable.pop(0), root, arg)
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not self._skipped(here / d, root))
            photos = []
            for name in sorted(filenames):
                if is_image_name(name):
                    photos.append(name)
                elif not name.startswith("."):
                    self.ignored[_suffix_of(name)] += 1
            names = output_names(photos)
            rel_dir = here.relative_to(root)
            for name in photos:
                rel = PurePosixPath((rel_dir / names[name]).as_posix())
                yield InputFile(here / name, rel, os.path.join(arg, str(rel_dir / name)))
        for error in unreadable:
            yield self._unreadable(error, root, arg)

    @staticmethod
    def _unreadable(error: OSError, root: Path, arg: str) -> InputError:
        where = Path(error.filename) if error.filename else root
        shown = os.path.join(arg, str(where.relative_to(root))) if where.is_relative_to(root) else str(where)
        return InputError(shown, f"cannot read this folder: {error.strerror or error}")

    def _glob(self, pattern: str) -> Iterator[InputFile | InputError]:
        base = _glob_base(pattern).resolve()
        found = False
        names_of: dict[Path, dict[str, str]] = {}  # folder -> its output names (siblings: its image files)
        for match in sorted(glob.iglob(pattern, recursive=True)):
            path = Path(match)
            # The link itself is the input: resolve its folder only, so the output is named after the link.
            located = path.absolute().parent.resolve() / path.name
            if self._skipped(located, base) or not located.is_relative_to(base):
                continue
            if path.is_dir():
                if is_image_name(path.name):
                    found = True
                    yield InputError(match, "not a regular file (a folder)")
                continue
            if not is_image_name(path.name):
                if not path.name.startswith("."):
                    self.ignored[_suffix_of(path.name)] += 1
                continue
            folder = located.parent
            if folder not in names_of:
                names_of.clear()  # matches come folder by folder often enough; keep one folder's names
                names_of[folder] = output_names(filter(is_image_name, os.listdir(folder)))
            found = True
            rel = PurePosixPath(located.relative_to(base).parent.as_posix()) / names_of[folder][path.name]
            yield InputFile(located, rel, match)
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
            if not path.is_relative_to(root) or self._skipped(path, root) or not is_image_name(path.name):
                continue
            if pattern is None or fnmatch.fnmatch(str(path), pattern):
                return True
        return False
