"""What travels to a lent GPU for training and what comes back from it, each in one small format.

Going there -- the *carried set*: a folder of JPEG packs and a manifest. A pack is one JPEG holding
`count` square photos of side `tile` on a grid `cols` wide (left to right, then down), so thousands of
small photos cost one JPEG header each thousand, not each; `manifest.json` lists every pack and every
loose file with its SHA-256, so a file damaged on the way is told and left out, never trained on:

    manifest.json   {"format": FORMAT, "recipe": {...}, "packs": [{"file", "set", "tile", "cols", "count",
                     "bytes", "sha256"}], "files": [{"file", "set", "bytes", "sha256"}]}
    packs/*.jpg     the packs;   files/*   loose photos kept byte for byte (the held-out split)

Coming back -- the device tool returns at most 8 files of at most 16 MiB each (64 MiB together), so a
model is written in parts of PART_BYTES, with its SHA-256 in the run's summary; `join_parts` puts it
back together here and refuses it unless the checksum matches.

No torch here: numpy, OpenCV and (to write packs) simplejpeg, the project's JPEG codec.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

FORMAT = "acc carried set 1"
PART_BYTES = 16_000_000  # under the device tool's 16 MiB (16,777,216 bytes) per returned file
PACK_WIDTH = 1024  # pixels: a pack is at most this wide and as many rows tall


class CarriedSetError(ValueError):
    """A carried set that cannot be used at all (no manifest, another format, nothing left to train on)."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------- writing
def mosaic(tiles: np.ndarray, cols: int) -> np.ndarray:
    """N x t x t x 3 uint8 -> one rows*t x cols*t x 3 image, tile k at row k // cols, column k % cols;
    the unused cells of the last row stay black."""
    n, t = len(tiles), tiles.shape[1]
    rows = -(-n // cols)
    out = np.zeros((rows * t, cols * t, 3), np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        out[r * t:(r + 1) * t, c * t:(c + 1) * t] = tile
    return out


def unmosaic(image: np.ndarray, tile: int, cols: int, count: int) -> np.ndarray:
    """The inverse of `mosaic`: count x tile x tile x 3 (a copy)."""
    rows = -(-count // cols)
    grid = image[:rows * tile, :cols * tile].reshape(rows, tile, cols, tile, 3).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(grid.reshape(rows * cols, tile, tile, 3)[:count])


class SetWriter:
    """Writes a carried set into a new folder `dest` (refused if it exists: nothing is overwritten).

    pack(set, tiles) adds packs of BGR uint8 tiles, JPEG-encoded with libjpeg-turbo at `quality` and
    `subsampling` ("420" or "444"); copy(set, path) adds a photo byte for byte; close(recipe) writes the
    manifest last, so a folder without one is an unfinished write.
    """

    def __init__(self, dest: Path, quality: int, subsampling: str) -> None:
        self.dest = Path(dest)
        self.dest.mkdir(parents=True)  # FileExistsError on an existing folder
        (self.dest / "packs").mkdir()
        (self.dest / "files").mkdir()
        self.quality, self.subsampling = quality, subsampling
        self.packs: list[dict] = []
        self.files: list[dict] = []

    def pack(self, set_name: str, tiles: np.ndarray) -> None:
        import simplejpeg

        t = tiles.shape[1]
        if tiles.ndim != 4 or tiles.shape[2] != t or tiles.shape[3] != 3 or tiles.dtype != np.uint8:
            raise ValueError(f"tiles of {set_name}: N x t x t x 3 uint8, got {tiles.shape} {tiles.dtype}")
        cols = max(1, PACK_WIDTH // t)
        for i in range(0, len(tiles), cols * cols):
            chunk = tiles[i:i + cols * cols]
            data = simplejpeg.encode_jpeg(mosaic(chunk, cols), quality=self.quality, colorspace="BGR",
                                          colorsubsampling=self.subsampling)
            name = f"packs/{set_name}_{len([p for p in self.packs if p['set'] == set_name]):04d}.jpg"
            (self.dest / name).write_bytes(data)
            self.packs.append({"file": name, "set": set_name, "tile": t, "cols": cols, "count": len(chunk),
                               "bytes": len(data), "sha256": sha256(data)})

    def copy(self, set_name: str, path: str | Path) -> None:
        data = Path(path).read_bytes()
        name = f"files/{set_name}__{Path(path).name}"
        if any(f["file"] == name for f in self.files):
            raise ValueError(f"two photos would both be carried as {name}")
        (self.dest / name).write_bytes(data)
        self.files.append({"file": name, "set": set_name, "bytes": len(data), "sha256": sha256(data)})

    def close(self, recipe: dict) -> int:
        """Write the manifest; returns the folder's size in bytes (manifest included)."""
        manifest = {"format": FORMAT, "recipe": recipe, "packs": self.packs, "files": self.files}
        (self.dest / "manifest.json").write_text(json.dumps(manifest, indent=1))
        return folder_bytes(self.dest)


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())


def replace_folder(new: Path, dest: Path) -> None:
    """Put the finished folder `new` at `dest`, removing an earlier carried set there (only one: a
    folder with a carried set's manifest; anything else at `dest` is left alone and refused)."""
    dest = Path(dest)
    if dest.exists():
        if not (dest / "manifest.json").is_file():
            raise CarriedSetError(f"{dest} exists and is not a carried set; not replacing it")
        shutil.rmtree(dest)
    os.replace(new, dest)


# ------------------------------------------------------------------------------------- reading
def read_manifest(folder: Path) -> dict:
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise CarriedSetError(f"{folder}: no manifest.json (not a carried set, or its write did not finish)")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise CarriedSetError(f"{path}: format {manifest.get('format')!r}, this tool reads {FORMAT!r}")
    return manifest


def _checked_bytes(folder: Path, entry: dict) -> bytes:
    """The file's bytes if it is there, of its recorded size and checksum; else ValueError saying which."""
    path = Path(folder) / entry["file"]
    if not path.is_file():
        raise ValueError("missing")
    data = path.read_bytes()
    if len(data) != entry["bytes"] or sha256(data) != entry["sha256"]:
        raise ValueError(f"damaged ({len(data)} bytes, checksum differs from the manifest's)")
    return data


def read_packs(folder: Path, convert: Callable[[np.ndarray], np.ndarray], threads: int,
               warn: Callable[[str], None]) -> dict[str, list[np.ndarray]]:
    """{set: [convert(tiles) per pack]}: each pack checked against the manifest, decoded by OpenCV
    (libjpeg-turbo) to BGR uint8 and cut into its tiles, `convert` applied (e.g. to Lab), on `threads`
    threads (OpenCV releases the GIL). A pack that is missing, damaged or undecodable is left out with
    one `warn` line naming it; the rest goes on."""
    folder = Path(folder)
    manifest = read_manifest(folder)

    def one(entry: dict) -> np.ndarray | None:
        try:
            data = _checked_bytes(folder, entry)
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            rows = -(-entry["count"] // entry["cols"])
            if image is None or image.shape[:2] != (rows * entry["tile"], entry["cols"] * entry["tile"]):
                raise ValueError("not a JPEG of the recorded size")
        except (ValueError, OSError) as e:
            warn(f"left out {entry['file']} ({entry['count']} photos of {entry['set']}): {e}")
            return None
        return convert(unmosaic(image, entry["tile"], entry["cols"], entry["count"]))

    out: dict[str, list[np.ndarray]] = {}
    with ThreadPoolExecutor(max(1, threads)) as pool:
        for entry, tiles in zip(manifest["packs"], pool.map(one, manifest["packs"])):
            if tiles is not None:
                out.setdefault(entry["set"], []).append(tiles)
    return out


def loose_files(folder: Path, warn: Callable[[str], None]) -> list[Path]:
    """Paths of the manifest's loose photos that are present and intact (the others: one `warn` line each)."""
    folder = Path(folder)
    good = []
    for entry in read_manifest(folder)["files"]:
        try:
            _checked_bytes(folder, entry)
        except (ValueError, OSError) as e:
            warn(f"left out {entry['file']}: {e}")
            continue
        good.append(folder / entry["file"])
    return good


# ------------------------------------------------------------------------------ model in parts
def write_parts(data: bytes, out_dir: Path, stem: str) -> list[str]:
    """Write `data` as stem.part0, stem.part1, ... of at most PART_BYTES each (each written under a
    hidden name, then renamed); returns the part names in order."""
    names = []
    for i, start in enumerate(range(0, max(len(data), 1), PART_BYTES)):
        name = f"{stem}.part{i}"
        tmp = Path(out_dir) / f".{name}.tmp"
        tmp.write_bytes(data[start:start + PART_BYTES])
        os.replace(tmp, Path(out_dir) / name)
        names.append(name)
    return names


def join_parts(folder: Path, parts: Iterable[str], expected_sha256: str) -> bytes:
    """The bytes of the parts, in order; ValueError unless they are all there and hash to `expected_sha256`."""
    chunks = []
    for name in parts:
        if Path(name).name != name:
            raise ValueError(f"part name {name!r} is not a plain file name")
        path = Path(folder) / name
        if not path.is_file():
            raise ValueError(f"{path}: missing part")
        chunks.append(path.read_bytes())
    data = b"".join(chunks)
    if sha256(data) != expected_sha256:
        raise ValueError(f"the parts in {folder} do not hash to the recorded SHA-256 ({expected_sha256[:12]}...)")
    return data
