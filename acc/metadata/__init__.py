"""Archive-grade outputs: a photo's metadata carried from its source to its colorized output, on the host,
around the encoded bytes, the same for every backend (DESIGN.md, Contracts).

    take_in(data, info, policy)   before decode: read what the source carries (source.py), and bring a
                                  photo with an ICC profile into the working space (acc/workingspace.py)
    finish(encoded, intake, ...)  after encode: wrap what still holds, an sRGB profile and provenance
                                  around the output's bytes (carry.py, provenance.py), and sign a C2PA
                                  manifest when asked (credentials.py)

Metadata never costs a photo: what cannot be read or written is named in a warning, which fails the
photo only under --strict, as decoder warnings do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acc.metadata.carry import Output, wrap
from acc.metadata.provenance import Provenance, source_digest, tool_name
from acc.metadata.source import SourceMetadata, read_source
from acc.probe import ImageInfo
from acc.workingspace import ProfileError, conversion_bytes, to_working_space

if TYPE_CHECKING:
    from acc.backends.base import Backend

@dataclass(frozen=True)
class MetadataPolicy:
    """What outputs carry: the source's metadata (mode "copy") or none of it ("strip"); acc's provenance
    label; a C2PA manifest signed with (certificate chain, private key) PEM files."""

    mode: str = "copy"
    provenance: bool = True
    c2pa_sign: tuple[Path, Path] | None = None

    @property
    def recipe(self) -> str:
        """The part of the journal's recipe these settings make: outputs differ byte for byte with them."""
        signed = f" c2pa={self.c2pa_sign[0]}" if self.c2pa_sign else ""
        return f" metadata={self.mode} provenance={'on' if self.provenance else 'off'}{signed}"


@dataclass(frozen=True)
class Intake:
    """A photo as the backend gets it (data, info: converted when its profile asked for it) and what
    its output will carry."""

    data: bytes
    info: ImageInfo  # of `data`
    upright: tuple[int, int]  # the output's (width, height)
    turned: bool  # the pixels are turned upright from the source's orientation (JPEG sources)
    source: SourceMetadata | None  # None: nothing of the source is carried (strip)
    sha256: str | None  # of the source's bytes, for provenance
    original: bytes | None  # the source's bytes, kept only to sign a C2PA manifest
    warnings: tuple[str, ...]


def take_in(data: bytes, info: ImageInfo, policy: MetadataPolicy) -> Intake:
    """Read a photo's metadata and bring it into the working space. Never raises for its metadata."""
    try:
        meta = read_source(data, info, everything=policy.mode == "copy")
    except Exception as exc:  # a reader's fault, not the photo's: it is colorized, its metadata not carried
        meta = SourceMetadata(warnings=[f"metadata not carried (internal error: {type(exc).__name__}: {exc})"])
    warnings = list(meta.warnings)
    width, height = (info.height, info.width) if info.orientation >= 5 else (info.width, info.height)
    decoded, decoded_info = data, info
    if meta.icc is not None:
        try:
            converted = to_working_space(data, info, meta.icc)
        except ProfileError as exc:
            warnings.append(f"ICC profile not used ({exc}); pixels taken as sRGB")
            converted = None
        if converted is not None:
            decoded, decoded_info = converted
    sha = source_digest(data) if policy.provenance or policy.c2pa_sign else None
    return Intake(decoded, decoded_info, (width, height), info.format == "jpeg",
                  meta if policy.mode == "copy" else None, sha, data if policy.c2pa_sign else None,
                  tuple(warnings))  # fmt: skip


def finish(encoded: bytes, kind: str, intake: Intake, policy: MetadataPolicy, tool: str, name: str | None
           ) -> tuple[bytes, tuple[str, ...]]:  # fmt: skip
    """The output's bytes with its metadata, and warnings naming what could not be carried."""
    if name is not None:  # a file name that is not UTF-8 (bytes on Linux) goes into XMP readable, marked
        name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    stamp = Provenance(tool, intake.sha256, name) if policy.provenance and intake.sha256 else None
    try:
        data, warnings = wrap(encoded, Output(kind, *intake.upright, intake.turned), intake.source, stamp)
    except Exception as exc:  # a writer's fault: the photo is kept, its metadata named as not carried
        data, warnings = encoded, [f"metadata not carried (internal error: {type(exc).__name__}: {exc})"]
    if policy.c2pa_sign:
        from acc.metadata.credentials import sign  # the c2pa extra, imported only when asked for

        data = sign(data, kind, intake.original, name, tool, policy.c2pa_sign)
    return data, tuple(warnings)




def check(policy: MetadataPolicy) -> None:
    """Refuse, before any work, a C2PA signing that cannot work (no c2pa extra, an unusable key or
    certificate): acc.metadata.credentials.SigningError."""
    if policy.c2pa_sign:
        from acc.metadata.credentials import check_credentials

        check_credentials(policy.c2pa_sign)


def decode_taken_in(backend: Backend, items: list[tuple[bytes, ImageInfo]], policy: MetadataPolicy
                    ) -> list[tuple[Any, Intake | None]]:  # fmt: skip
    """take_in, then the backend's decode, per photo: (frame, or the exception that photo raised; its
    Intake, or None when it failed before decoding). What the runner and the Python API decode with."""
    intakes: list[Intake | Exception] = []
    for data, info in items:
        try:
            intakes.append(take_in(data, info, policy))
        except Exception as exc:  # a photo the host could not decode for its conversion fails alone
            intakes.append(exc)
    ready = [i for i in intakes if isinstance(i, Intake)]
    frames = iter(backend.decode_batch([(i.data, i.info) for i in ready]) if ready else [])
    return [(i, None) if isinstance(i, Exception) else (next(frames), i) for i in intakes]


__all__ = ["Intake", "MetadataPolicy", "check", "conversion_bytes", "decode_taken_in", "finish", "take_in",
           "tool_name"]
