"""acc: colorize black-and-white photographs in bulk, fast.

    import acc

    with acc.Colorizer() as c:                      # the embedded model, cpu backend
        rgb = c.colorize(gray)                       # (H, W) uint8 -> (H, W, 3) uint8 RGB
        jpeg = c.colorize_bytes(data)                # encoded in, encoded out

    summary = acc.colorize_files(["scans/"], "out/")  # `acc colorize scans/ -o out/`
    acc.models(), acc.backends()                     # what is installed and what runs here

Everything not listed in __all__ is private.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("acc-colorize")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "unknown"

import sys  # noqa: E402
import types  # noqa: E402

from acc import api  # noqa: E402
from acc.api import BackendInfo, Colorizer, ModelInfo, colorize_files  # noqa: E402
from acc.backends import BackendError  # noqa: E402
from acc.cluster import ClusterError  # noqa: E402
from acc.config import ConfigError  # noqa: E402
from acc.errors import (AccError, BadImage, CorruptImage, EmptyImage, ImageTooLarge, NotAnImage,  # noqa: E402
                        NotARegularFile, TruncatedImage, UnsupportedImage)
from acc.inputs import OutputIsInput  # noqa: E402
from acc.models import ModelError  # noqa: E402
from acc.outdir import FolderBusy  # noqa: E402
from acc.pipeline import Outcome, Summary  # noqa: E402


class _CallableModule(types.ModuleType):
    """acc.models and acc.backends are both a submodule (the registry, the backends package) and a public
    function; a package attribute can be only one object, so the module itself answers the call."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        return self.__dict__["_public_call"](*args, **kwargs)


for _name, _call in (("models", api.models), ("backends", api.backends)):
    _module = sys.modules[f"acc.{_name}"]
    _module.__class__ = _CallableModule
    _module._public_call = _call
    globals()[_name] = _module
del _name, _call, _module

__all__ = [
    "AccError", "BackendError", "BackendInfo", "BadImage", "ClusterError", "Colorizer", "ConfigError", "CorruptImage",
    "EmptyImage", "FolderBusy", "ImageTooLarge", "ModelError", "ModelInfo", "NotAnImage", "NotARegularFile", "Outcome",
    "OutputIsInput", "Summary", "TruncatedImage", "UnsupportedImage", "__version__", "backends", "colorize_files",
    "models",
]  # fmt: skip
