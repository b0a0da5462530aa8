"""C2PA content credentials: a signed manifest, written into an output after all its other metadata, saying
that it was edited by a trained model from its source (c2pa-python, over the C2PA project's c2pa-rs).

    actions         c2pa.opened (the source; C2PA requires an edit to begin so), then c2pa.edited with
                    digitalSourceType compositeWithTrainedAlgorithmicMedia and acc as the agent
    ingredient      the source photo, parentOf (c2pa-rs hashes it and keeps its own manifest, if any)
    signature       the key's algorithm (ES256/384/512 for P-256/384/521, PS256 for RSA, Ed25519), with
                    the certificate chain given; c2pa-rs refuses a self-signed certificate and wants a
                    critical keyUsage digitalSignature and an emailProtection or documentSigning EKU

Needs the `c2pa` extra (pip install 'acc-colorize[c2pa]'). The signing time is part of the signature, so
signed outputs differ from run to run; everything before the signature stays reproducible.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from acc import __version__
from acc.errors import AccError
from acc.metadata.provenance import TRAINED_ALGORITHMIC_MEDIA

_MIME = {"jpeg": "image/jpeg", "png": "image/png", "tiff": "image/tiff", "webp": "image/webp", "bmp": "image/bmp"}


class SigningError(AccError):
    """A C2PA manifest could not be made: the extra is missing, or the certificate or key is unusable."""


def sign(data: bytes, kind: str, original: bytes | None, name: str | None, tool: str, pair: tuple[Path, Path]) -> bytes:
    """The output `data` (format `kind`) with a signed C2PA manifest embedded."""
    c2pa = _c2pa()
    cert, key, alg = _credentials(*pair)
    manifest = {
        "claim_generator_info": [{"name": "acc", "version": __version__}],
        "title": name or "colorized photo",
        "format": _MIME[kind],
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": ["source"]}}, {
            "action": "c2pa.edited", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA, "softwareAgent": {"name": tool},
            "description": "colours predicted by a trained model from the gray photograph"}]}}],
    }  # fmt: skip
    try:
        # No thumbnails: the manifest would carry two more pictures (the gray source and this output)
        # for every photo, several times the size of the rest of it.
        settings = c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}})
        with c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg.encode(), cert, key, None)) as signer, \
                c2pa.Context(settings) as context, c2pa.Builder(manifest, context) as builder:  # fmt: skip
            if original is not None:
                builder.add_ingredient({"title": name or "source", "relationship": "parentOf", "label": "source"},
                                       _MIME[_format_of(original)], io.BytesIO(original))  # fmt: skip
            out = io.BytesIO()
            builder.sign(signer, _MIME[kind], io.BytesIO(data), out)
            return out.getvalue()
    except c2pa.C2paError as exc:
        raise SigningError(f"C2PA manifest not signed ({exc})") from None


def check_credentials(pair: tuple[Path, Path]) -> None:
    """Raise SigningError now, before a run, when signing with `pair` cannot work."""
    _c2pa()
    if b"BEGIN CERTIFICATE" not in _credentials(*pair)[0]:
        raise SigningError(f"the C2PA certificate chain {pair[0]} holds no PEM certificate")


def _c2pa():
    try:
        import c2pa
    except ImportError:
        raise SigningError("--c2pa-sign needs c2pa-python: pip install 'acc-colorize[c2pa]'") from None
    return c2pa


@cache
def _credentials(cert_path: Path, key_path: Path) -> tuple[bytes, bytes, str]:
    """(certificate chain PEM, private key PEM, C2PA algorithm name), read once per run."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        cert, key = cert_path.read_bytes(), key_path.read_bytes()
        private = load_pem_private_key(key, password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningError(f"cannot use the C2PA key {key_path}: {getattr(exc, 'strerror', None) or exc}") from None
    if isinstance(private, ec.EllipticCurvePrivateKey):
        alg = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(private.curve.name)
    elif isinstance(private, rsa.RSAPrivateKey):
        alg = "ps256"
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        alg = "ed25519"
    else:
        alg = None
    if alg is None:
        raise SigningError(f"the C2PA key {key_path} is of a kind C2PA does not sign with")
    return cert, key, alg


def _format_of(data: bytes) -> str:
    from acc.probe import probe_header, Source

    return probe_header(Source(data), max_pixels=1 << 62).format
