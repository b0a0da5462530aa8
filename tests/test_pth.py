"""acc/pth.py: PyTorch state dicts read with numpy, and everything else refused without running anything.

Files are made two ways: by torch.save itself (the layouts real files have), and by `craft`, which
writes the same format from parts so that sizes, offsets and names can be anything an attacker likes.
A crafted file that is well formed loads in torch.load exactly as here, so the crafting is the format.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from acc.pth import PthError, read_state_dict


def saved(obj: object, **kw: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


class Storage:
    """A storage in a crafted pickle: persisted as ("storage", kind, key, "cpu", numel), as torch.save does."""

    def __init__(self, key: str, numel: int, kind: type = torch.FloatStorage) -> None:
        self.key, self.numel, self.kind = key, numel, kind


class Tensor:
    """A tensor in a crafted pickle: a call of torch._utils._rebuild_tensor_v2, as torch.save writes it."""

    def __init__(self, storage: Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.args = (storage, offset, size, stride, False, OrderedDict())

    def __reduce__(self) -> tuple:
        return (torch._utils._rebuild_tensor_v2, self.args)


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj: object) -> tuple | None:
        if isinstance(obj, Storage):
            return ("storage", obj.kind, obj.key, "cpu", obj.numel)
        return None


def craft(obj: object, records: dict[str, bytes], prefix: str = "archive",
          compress: int = zipfile.ZIP_STORED) -> bytes:  # fmt: skip
    """A torch zip archive: data.pkl pickling `obj` (protocol 2, as torch.save), plus `records` (data/0 ...)."""
    pkl = io.BytesIO()
    TorchPickler(pkl, protocol=2).dump(obj)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(f"{prefix}/data.pkl", pkl.getvalue(), compress_type=compress)
        z.writestr(f"{prefix}/byteorder", b"little")
        for name, data in records.items():
            z.writestr(f"{prefix}/{name}", data)
        z.writestr(f"{prefix}/version", b"3\n")
    return out.getvalue()


def floats(n: int, start: float = 0.0) -> bytes:
    return np.arange(start, start + n, dtype="<f4").tobytes()


# -------------------------------------------------------------------------------------------- reading
def test_reads_what_torch_saves() -> None:
    """Every layout a state dict's tensors come in: dtypes, a 0-d counter, views at an offset into a
    shared storage, a transposed (non-contiguous) tensor, an empty one."""
    base = torch.arange(20, dtype=torch.float32)
    state = OrderedDict(
        conv=torch.randn(4, 3, 3, 3), transposed=torch.randn(3, 4).t(), view=base[5:11].view(2, 3), base=base,
        half=torch.randn(5).half(), bf16=torch.randn(5).bfloat16(), double=torch.randn(2, 2).double(),
        num_batches_tracked=torch.tensor(7), mask=torch.tensor([True, False]),
        int8=torch.tensor([-3, 4], dtype=torch.int8),
        empty=torch.zeros(0, 3),
    )  # fmt: skip
    got = read_state_dict(saved(state))
    assert list(got) == list(state)
    for key, tensor in state.items():
        want = (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
        assert got[key].dtype == want.dtype and got[key].shape == want.shape, key
        assert np.array_equal(got[key], want), key
    assert got["transposed"].strides == (4, 16)  # read in place, through its strides
    assert not got["conv"].flags.writeable  # a view of the file's bytes, not a copy


def test_reads_files_saved_from_a_gpu(monkeypatch) -> None:
    """A release saved from CUDA tensors names the device ("cuda:0") in each storage reference."""
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    data = saved({"w": torch.ones(2)})
    assert b"cuda:0" in data
    assert read_state_dict(data)["w"].tolist() == [1.0, 1.0]


def test_crafted_files_are_the_torch_format() -> None:
    s = Storage("0", 6)
    data = craft(OrderedDict(a=Tensor(s, 2, (2, 2), (1, 2)), b=Tensor(s, 0, (), ())), {"data/0": floats(6)})
    ours = read_state_dict(data)
    theirs = torch.load(io.BytesIO(data), weights_only=True)
    assert theirs["a"].tolist() == ours["a"].tolist() == [[2.0, 4.0], [3.0, 5.0]]
    assert theirs["b"].item() == ours["b"] == 0.0


# ----------------------------------------------------------------------------------------- refusing
class Payload:
    """Unpickling this would run a shell command that creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch '{self.marker}'",))


class ExecPayload(Payload):
    def __reduce__(self) -> tuple:
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


SYSTEM = f"{os.system.__module__}.system"  # posix.system on Linux


@pytest.mark.parametrize(
    "make, named",
    [
        (lambda m: saved(Payload(m)), SYSTEM),  # the classic: GLOBAL os.system, REDUCE
        (lambda m: saved(ExecPayload(m)), "__builtin__.exec"),  # protocol 2 spells builtins so
        (lambda m: saved({"w": torch.zeros(1), "x": Payload(m)}), SYSTEM),  # hidden among tensors
        (lambda m: craft(OrderedDict(w=Tensor(Payload(m), 0, (1,), (1,))), {}), SYSTEM),  # as a tensor's storage
        (lambda m: saved(torch.nn.Linear(2, 2)), "torch.nn.modules.linear.Linear"),  # a whole module
        (lambda m: saved({"step": torch.optim.SGD}), "torch.optim.sgd.SGD"),
    ],
)
def test_payloads_are_refused_before_they_run(make, named: str, tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    data = make(marker)
    with pytest.raises(PthError, match="names " + named.replace(".", r"\.")):
        read_state_dict(data)
    assert not marker.exists()


@pytest.mark.parametrize("payload", [Payload, ExecPayload])
def test_the_payloads_do_run_when_unpickled_unrestricted(payload: type, tmp_path: Path) -> None:
    """Proof that the refused payloads are not inert: plain pickle runs them."""
    marker = tmp_path / "payload-ran"
    pickle.loads(pickle.dumps(payload(marker), protocol=2))
    assert marker.exists()


def test_allowed_names_cannot_be_misused(tmp_path: Path) -> None:
    """The names that are resolved resolve to acc's inert stand-ins: calling a storage type, or changing
    a checked tensor afterwards (BUILD), fails."""

    class CallStorageType:
        def __reduce__(self) -> tuple:
            return (torch.FloatStorage, (3,))

    with pytest.raises(PthError, match="unreadable pickle"):
        read_state_dict(craft({"w": CallStorageType()}, {}))

    class Rebuilt(Tensor):  # a checked tensor whose size BUILD would then change to something huge
        def __reduce__(self) -> tuple:
            return (*super().__reduce__(), (None, {"size": (10**9, 10**9)}))

    with pytest.raises(PthError, match="unreadable pickle"):
        read_state_dict(craft({"w": Rebuilt(Storage("0", 1), 0, (1,), (1,))}, {"data/0": floats(1)}))


@pytest.mark.parametrize(
    "state, records, message",
    [
        ({"w": Tensor(Storage("0", 10**12), 0, (4,), (1,))}, {"data/0": floats(4)}, "declares 1000000000000 elements"),
        ({"w": Tensor(Storage("0", 4), 0, (10**6, 10**6), (0, 0))}, {"data/0": floats(4)}, "reaches past"),
        ({"w": Tensor(Storage("0", 4), 0, (3,), (2,))}, {"data/0": floats(4)}, "reaches past"),
        ({"w": Tensor(Storage("0", 4), 9, (1,), (1,))}, {"data/0": floats(4)}, "reaches past"),
        ({"w": Tensor(Storage("0", 4), -1, (1,), (1,))}, {"data/0": floats(4)}, "offset -1"),
        ({"w": Tensor(Storage("0", 4), 0, (2, 2), (2,))}, {"data/0": floats(4)}, "do not go together"),
        ({"w": Tensor(Storage("9", 4), 0, (4,), (1,))}, {"data/0": floats(4)}, "no record 'data/9'"),
        ({"w": Tensor(Storage("0", 4), 0, (4,), (1,)),
          "v": Tensor(Storage("0", 2, torch.DoubleStorage), 0, (1,), (1,))}, {"data/0": floats(4)},
         "two different types"),
        ({"epoch": 3, "weights": {"w": Tensor(Storage("0", 1), 0, (1,), (1,))}}, {"data/0": floats(1)},
         "not a state dict"),
        ([Tensor(Storage("0", 1), 0, (1,), (1,))], {"data/0": floats(1)}, "not a state dict"),
    ],
)  # fmt: skip
def test_tensors_that_do_not_fit_their_storage_are_refused(state, records, message: str) -> None:
    with pytest.raises(PthError, match=message):
        read_state_dict(craft(state, records))


def patched(data: bytes, name: str, field: int, value: int) -> bytes:
    """`data` with a 4-byte field of record `name`'s central-directory entry set to `value`
    (field 20: compressed size, 24: size, 42: offset of its local header)."""
    at = data.index(b"PK\x01\x02")  # the central directory: 46-byte entries, each followed by its name
    while data[at + 46 : at + 46 + len(name)] != name.encode():
        at = data.index(b"PK\x01\x02", at + 1)
    return data[: at + field] + struct.pack("<I", value) + data[at + field + 4 :]


def test_records_past_the_end_of_the_file_are_refused() -> None:
    good = craft({"w": Tensor(Storage("0", 4), 0, (4,), (1,))}, {"data/0": floats(4)})
    assert read_state_dict(good)["w"].tolist() == [0, 1, 2, 3]
    with pytest.raises(PthError, match="starts past the end of the file"):
        read_state_dict(patched(good, "archive/data/0", 42, len(good) + 10))
    longer = patched(patched(good, "archive/data/0", 20, 1 << 30), "archive/data/0", 24, 1 << 30)
    with pytest.raises(PthError, match="ends past the end of the file"):
        read_state_dict(longer)


@pytest.mark.parametrize(
    "data, message",
    [
        (saved({"w": torch.zeros(2)}, _use_new_zipfile_serialization=False), "legacy format of PyTorch before 1.6"),
        (b"definitely not weights", "not a zip archive"),
        (b"PK\x03\x04 a damaged archive" + b"\0" * 40, "not a zip archive"),
        (craft({"w": Tensor(Storage("0", 1), 0, (1,), (1,))}, {"data/0": floats(1)}, compress=zipfile.ZIP_DEFLATED),
         "compressed"),
    ],
)  # fmt: skip
def test_other_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(PthError, match=message):
        read_state_dict(data)


def test_big_endian_and_archives_without_one_pickle_are_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({}, protocol=2))
        z.writestr("archive/byteorder", b"big")
    with pytest.raises(PthError, match="'big' byte order"):
        read_state_dict(out.getvalue())
    with pytest.raises(PthError, match="0 top-level data.pkl"):
        read_state_dict(craft({}, {}, prefix="a/b"))
