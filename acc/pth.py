"""Read a PyTorch state dict (.pth, the zip format of torch.save since PyTorch 1.6) with numpy alone.

The format (torch/serialization.py): a zip archive, every record stored uncompressed, holding
``<prefix>/data.pkl``, a pickle of the state dict whose tensors are references to storages, and
``<prefix>/data/<key>``, each storage's raw bytes (little-endian unless ``<prefix>/byteorder`` says
otherwise). A tensor is pickled as a call ``torch._utils._rebuild_tensor_v2(storage, offset, size,
stride, requires_grad, backward_hooks)``, its storage as a persistent id ``("storage", torch.FloatStorage,
key, location, numel)``, the dict as a ``collections.OrderedDict``.

The unpickler here resolves those names and nothing else, each to an inert stand-in of acc's own: any
other global (os.system, a module class, builtins) stops the read with an error naming it, before any
object is made. So no code of the file's choosing can run, and nothing of torch is imported: safer than
torch.load, which resolves names from an allow-list of real torch functions. The storages are then read
with numpy, every size, offset and stride checked against the bytes the archive really holds; tensors
are views of the caller's buffer where their layout allows, copies nowhere else.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from typing import NamedTuple

import numpy as np


class PthError(ValueError):
    """A file that is not a state dict this reader accepts; the message says what it holds instead."""


# Storage types torch.save writes for a state dict's tensors, by name, and their little-endian dtypes.
# bfloat16 has no numpy dtype: its 16 bits are the top half of a float32 (widened in `_materialize`).
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "<u2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}  # fmt: skip
ALLOWED = "collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch's storage types"
MAX_DIMS = 8


# The stand-ins are named tuples: immutable, so a pickle's BUILD cannot change one after it was checked.
class StorageType(NamedTuple):
    """What the pickle's ``torch.FloatStorage`` (etc.) resolves to: a name, never torch's class."""

    name: str


class StorageRef(NamedTuple):
    key: str
    storage: StorageType
    numel: int


class TensorRef(NamedTuple):
    storage: StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_tuple(value: object, what: str) -> tuple[int, ...]:
    if not (isinstance(value, tuple) and len(value) <= MAX_DIMS and all(_is_int(v) and v >= 0 for v in value)):
        raise PthError(f"a tensor's {what} {value!r:.80} is not a tuple of at most {MAX_DIMS} non-negative ints")
    return value


def _rebuild_tensor(storage: object, offset: object, size: object, stride: object, requires_grad: object,
                    hooks: object, metadata: object = None) -> TensorRef:  # fmt: skip
    """Stands in for torch._utils._rebuild_tensor_v2: checks its arguments and records them."""
    if not isinstance(storage, StorageRef):
        raise PthError("a tensor is rebuilt from something that is not one of the archive's storages")
    if not _is_int(offset) or offset < 0:
        raise PthError(f"a tensor's storage offset {offset!r:.80} is not a non-negative int")
    size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    if len(size) != len(stride) or not isinstance(requires_grad, bool):
        raise PthError("a tensor's size, stride and requires_grad do not go together")
    if not (isinstance(hooks, OrderedDict) and not hooks and metadata in (None, {})):
        raise PthError("a tensor carries backward hooks or metadata, which a state dict does not")
    return TensorRef(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(name)
        raise PthError(f"the pickle names {module}.{name}, which a state dict of tensors does not need "
                       f"(acc resolves only {ALLOWED})")  # fmt: skip

    def persistent_load(self, pid: object) -> StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise PthError(f"the pickle refers to {pid!r:.80}, not to one of the archive's storages")
        _, storage, key, location, numel = pid
        if not (isinstance(storage, StorageType) and isinstance(key, str) and isinstance(location, str)
                and _is_int(numel) and numel >= 0):  # fmt: skip
            raise PthError(f"malformed storage reference {pid!r:.80}")
        return StorageRef(key, storage, numel)


class _Archive:
    """The stored (uncompressed) records of a zip archive in `data`, read in place."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        try:  # BytesIO shares the bytes object's buffer: no copy of the file
            self.infos = {i.filename: i for i in zipfile.ZipFile(io.BytesIO(data)).infolist()}
        except (zipfile.BadZipFile, ValueError, OSError) as exc:  # LargeZipFile etc. are BadZipFile
            raise PthError(f"a damaged zip archive ({exc})") from None
        pickles = [n for n in self.infos if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise PthError(f"a zip archive with {len(pickles)} top-level data.pkl records instead of one")
        self.prefix = pickles[0].removesuffix("data.pkl")

    def record(self, name: str) -> memoryview:
        """The bytes of record `name` (under the archive's prefix), checked to lie inside the file."""
        info = self.infos.get(self.prefix + name)
        if info is None:
            raise PthError(f"the archive has no record {name!r:.80}")
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1 or info.compress_size != info.file_size:
            raise PthError(f"record {name!r:.80} is compressed or encrypted; torch.save stores records as they are")
        header = info.header_offset
        if header + 30 > len(self.data):
            raise PthError(f"record {name!r:.80} starts past the end of the file")
        signature, name_len, extra_len = struct.unpack_from("<4s22xHH", self.data, header)
        start = header + 30 + name_len + extra_len
        if signature != b"PK\x03\x04" or start + info.file_size > len(self.data):
            raise PthError(f"record {name!r:.80} ends past the end of the file")
        return self.data[start : start + info.file_size]


def read_state_dict(data: bytes) -> dict[str, np.ndarray]:
    """The tensors of the state dict saved in `data` (a .pth file's bytes), by key, as numpy arrays.

    Arrays are read-only views of `data` where the tensor is laid out plainly; bfloat16 is widened to
    float32. PthError for anything else: a legacy (pre-1.6) or damaged file, a pickle naming anything
    beyond a state dict's needs, a storage or tensor that does not fit the bytes the archive holds.
    """
    if not zipfile.is_zipfile(io.BytesIO(data)):
        if data[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
            raise PthError("a PyTorch file in the legacy format of PyTorch before 1.6 (a bare pickle), which acc "
                           "does not read: save it again with torch.save from PyTorch 1.6 or later")  # fmt: skip
        raise PthError("not a zip archive, so not a PyTorch weights file of PyTorch 1.6 or later")
    archive = _Archive(data)
    if archive.prefix + "byteorder" in archive.infos:  # absent before PyTorch 1.13: then little-endian
        byteorder = bytes(archive.record("byteorder"))
        if byteorder != b"little":
            raise PthError(f"storages written in {byteorder!r:.20} byte order; acc reads little-endian files")
    try:
        state = _Unpickler(io.BytesIO(archive.record("data.pkl"))).load()
    except PthError:
        raise
    except Exception as exc:  # a malformed pickle: UnpicklingError, or a bad call of an allowed name
        raise PthError(f"an unreadable pickle ({type(exc).__name__}: {exc!s:.120})") from None
    if not (isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, TensorRef) for k, v in state.items())):
        raise PthError("its pickle is not a state dict (a mapping of layer names to tensors)")
    storages: dict[str, np.ndarray] = {}
    return {key: _materialize(ref, archive, storages) for key, ref in state.items()}


def _materialize(ref: TensorRef, archive: _Archive, storages: dict[str, np.ndarray]) -> np.ndarray:
    """The tensor `ref` as a numpy array over its storage's record, after checking it fits there."""
    st = ref.storage
    if st.key not in storages:
        raw = archive.record(f"data/{st.key}")
        dtype = np.dtype(STORAGE_DTYPES[st.storage.name])
        if st.numel * dtype.itemsize != len(raw):
            raise PthError(f"storage {st.key!r:.80} declares {st.numel} elements of {dtype.itemsize} bytes, "
                           f"its record holds {len(raw)} bytes")  # fmt: skip
        storages[st.key] = np.frombuffer(raw, dtype)
    elif storages[st.key].dtype != np.dtype(STORAGE_DTYPES[st.storage.name]):
        raise PthError(f"storage {st.key!r:.80} is referred to with two different types")
    storage = storages[st.key]
    count = int(np.prod(ref.size, dtype=object))
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride)) if count else ref.offset - 1
    if count > len(storage) or last >= len(storage):
        raise PthError(f"a tensor of size {ref.size} (offset {ref.offset}, stride {ref.stride}) reaches past "
                       f"the {len(storage)} elements of its storage")  # fmt: skip
    item = storage.itemsize
    array = np.lib.stride_tricks.as_strided(storage[ref.offset :] if count else storage[:0], shape=ref.size,
                                            strides=[s * item for s in ref.stride], writeable=False)  # fmt: skip
    if st.storage.name == "BFloat16Storage":  # bfloat16 bits are a float32's upper half
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array
