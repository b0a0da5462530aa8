"""C2PA content credentials (acc colorize --c2pa-sign CERT KEY): a signed manifest in each output, verified
with c2pa-python's own Reader against a certificate chain made in the test (tests/c2pa_certs.py)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

import acc
from acc.cli import main
from acc.metadata.credentials import SigningError
from conftest import TEST_MODEL, encode, gradient_photo
from metadata_support import read_tags, write_tags

c2pa = pytest.importorskip("c2pa", reason="the c2pa extra (c2pa-python) is not installed")
from c2pa_certs import make_chain  # noqa: E402  (needs cryptography, which c2pa-python brings)

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"


def verify(data: bytes, mime: str, root: Path) -> tuple[str, dict]:
    """(validation state, the active manifest) as c2pa-python's Reader sees them, our root trusted."""
    settings = c2pa.Settings.from_dict({"verify": {"verify_trust": True}, "trust": {"trust_anchors": root.read_text()}})
    with c2pa.Context(settings) as context, c2pa.Reader(mime, io.BytesIO(data), context=context) as reader:
        store = json.loads(reader.json())
        return reader.get_validation_state(), store["manifests"][store["active_manifest"]]


@pytest.mark.parametrize("fmt,mime", [("jpeg", "image/jpeg"), ("png", "image/png")])
def test_a_signed_manifest_says_edited_by_a_trained_model_from_its_source(tmp_path: Path, model_dir: Path, fmt: str,
                                                                          mime: str) -> None:  # fmt: skip
    chain, key, root = make_chain(tmp_path)
    src = tmp_path / "in"
    src.mkdir()
    photo = src / "scan.jpg"
    photo.write_bytes(encode(gradient_photo(80, 100, seed=30), ".jpg"))
    write_tags(photo, "-IFD0:Artist=Signed Archive", "-IFD0:XResolution=600", "-IFD0:YResolution=600")
    outcomes: list[acc.Outcome] = []
    acc.colorize_files([src], tmp_path / "out", model=TEST_MODEL, model_dir=str(model_dir), threads=1, format=fmt,
                       c2pa_sign=(str(chain), str(key)), on_outcome=outcomes.append)  # fmt: skip
    assert [(o.status, o.warnings) for o in outcomes] == [("ok", ())]
    output = outcomes[0].output
    state, manifest = verify(output.read_bytes(), mime, root)
    assert state == "Trusted"
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    assert actions[1]["digitalSourceType"] == TRAINED and actions[1]["softwareAgent"]["name"].startswith("acc ")
    assert [(i["title"], i["relationship"]) for i in manifest["ingredients"]] == [("scan.jpg", "parentOf")]
    tags = read_tags(output)[output.name]  # the rest of the metadata is still there, and readable
    assert tags["XMP-iptcExt:DigitalSourceType"] == TRAINED
    # c2pa-rs puts its caBX chunk first in a PNG; ExifTool 12.57 then takes the eXIf chunk's IFD0 for a
    # loop ("IFD0 pointer references previous JUMBFBox directory") and skips it: Pillow reads it instead.
    artist = tags.get("IFD0:Artist") if fmt == "jpeg" else Image.open(output).getexif().get(0x013B)
    assert artist == "Signed Archive"
    # A changed pixel breaks the signature: the Reader is checking, not just parsing.
    data = bytearray(output.read_bytes())
    data[-200] ^= 0x55
    assert verify(bytes(data), mime, root)[0] == "Invalid"


def test_signing_that_cannot_work_stops_before_any_work(tmp_path: Path, model_dir: Path, capsys,
                                                        monkeypatch) -> None:  # fmt: skip
    chain, key, _ = make_chain(tmp_path)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(encode(gradient_photo(40, 40, seed=31), ".jpg"))
    args = ["colorize", str(photo), "-o", str(tmp_path / "out"), "--model", TEST_MODEL, "--model-dir", str(model_dir)]
    assert main([*args, "--c2pa-sign", str(chain), str(tmp_path / "missing.key")]) == 2
    assert "cannot use the C2PA key" in capsys.readouterr().err
    assert main([*args, "--c2pa-sign", str(key), str(key)]) == 2
    assert "holds no PEM certificate" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    monkeypatch.setitem(sys.modules, "c2pa", None)  # as if the extra were not installed
    with pytest.raises(SigningError, match=r"pip install 'acc-colorize\[c2pa\]'"):
        acc.colorize_files([photo], tmp_path / "out", model=TEST_MODEL, model_dir=str(model_dir),
                           c2pa_sign=(str(chain), str(key)))  # fmt: skip
