"""An honest label on every output: XMP saying the photo's colours were made by a trained model, by which
software, from which source.

    Iptc4xmpExt:DigitalSourceType   compositeWithTrainedAlgorithmicMedia (IPTC Digital Source Type
                                    vocabulary: "the result of mixing one or more ... media with
                                    generative AI" -- here a real photograph with predicted colours)
    xmp:CreatorTool                 acc's version, the model and the backend
    xmpMM:DerivedFrom               the source: its file name, and its XMP IDs when it had them
    xmpMM:History (appended)        stEvt:action "derived", the software and, in stEvt:parameters,
                                    the source's name and SHA-256
    xmpMM:InstanceID                a new one, derived from the source's SHA-256 and the tool, so that
                                    the same input and settings give the same bytes

No clock is read: outputs stay reproducible (acc colorize and Colorizer.colorize_bytes agree byte for byte).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import exiv2

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"


@dataclass(frozen=True)
class Provenance:
    tool: str  # "acc 0.1.0 (model acc-tiny, backend cpu)"
    source_sha256: str  # hex digest of the source file's bytes
    source_name: str | None = None  # the source's file name, without its folder (None: not known)


def tool_name(version: str, model: str, backend: str) -> str:
    return f"acc {version} (model {model}, backend {backend})"


def source_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stamp(xmp: exiv2.XmpData, p: Provenance) -> None:
    """Add the provenance fields to `xmp` (the source's own XMP, or an empty one)."""
    source_doc = _text(xmp, "Xmp.xmpMM.DocumentID")
    source_instance = _text(xmp, "Xmp.xmpMM.InstanceID")
    xmp["Xmp.iptcExt.DigitalSourceType"] = TRAINED_ALGORITHMIC_MEDIA
    xmp["Xmp.xmp.CreatorTool"] = p.tool
    instance = hashlib.sha256(f"{p.source_sha256}\0{p.tool}".encode()).hexdigest()[:32]
    xmp["Xmp.xmpMM.InstanceID"] = f"xmp.iid:{instance}"
    for key in [d.key() for d in xmp if d.key().startswith("Xmp.xmpMM.DerivedFrom")]:
        del xmp[key]
    if p.source_name or source_doc or source_instance:
        ref = exiv2.XmpTextValue()
        ref.setXmpStruct()
        xmp.add(exiv2.XmpKey("Xmp.xmpMM.DerivedFrom"), ref)
    if p.source_name:
        xmp["Xmp.xmpMM.DerivedFrom/stRef:filePath"] = p.source_name
    if source_doc:
        xmp["Xmp.xmpMM.DerivedFrom/stRef:documentID"] = source_doc
    if source_instance:
        xmp["Xmp.xmpMM.DerivedFrom/stRef:instanceID"] = source_instance
    n = 1 + sum(1 for d in xmp if d.key().startswith("Xmp.xmpMM.History[") and d.key().endswith("]/stEvt:action"))
    if n == 1 and "Xmp.xmpMM.History" not in xmp:
        seq = exiv2.XmpTextValue()
        seq.setXmpArrayType(exiv2.XmpValue.XmpArrayType.xaSeq)
        xmp.add(exiv2.XmpKey("Xmp.xmpMM.History"), seq)
    event = f"Xmp.xmpMM.History[{n}]/stEvt:"
    xmp[event + "action"] = "derived"
    xmp[event + "softwareAgent"] = p.tool
    xmp[event + "instanceID"] = f"xmp.iid:{instance}"
    name = f"{p.source_name} " if p.source_name else ""
    xmp[event + "parameters"] = f"colorized by a trained model from {name}(SHA-256 {p.source_sha256})"


def _text(xmp: exiv2.XmpData, key: str) -> str | None:
    return xmp[key].toString() if key in xmp else None
