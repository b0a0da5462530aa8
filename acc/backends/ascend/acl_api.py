"""Which `acl` runs (CANN's pyacl or the emulator), and its calls with every return code checked.

pyacl reports failure through return codes; acc turns each non-zero one into an AclError that names
the call, the code and the library's own explanation (acl.get_recent_err_msg), so no failure passes
silently and none is reported without saying where.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from acc.backends.ascend.constants import ACL_SUCCESS, ERROR_NAMES


class AclError(RuntimeError):
    def __init__(self, call: str, code: int | None, detail: str = "") -> None:
        what = "returned no handle" if code is None else f"failed with {ERROR_NAMES.get(code, 'code')} ({code})"
        super().__init__(f"acl.{call} {what}" + (f": {detail}" if detail else ""))
        self.call = call
        self.code = code


def import_cann_acl() -> ModuleType:
    """CANN's pyacl, or ImportError. (The PyPI package named `pyacl` is unrelated and not this.)"""
    module = importlib.import_module("acl")
    if not hasattr(module, "rt") or not hasattr(module, "media"):
        raise ImportError("module acl is not CANN's pyacl (no acl.rt / acl.media)", name="acl")
    return module


class Acl:
    """A pyacl module (real or emulated) called by dotted name, return codes checked.

        acl("rt.malloc", size, policy)      -> ptr       (the function returns (ptr, ret))
        acl("rt.synchronize_stream", s)     -> None      (the function returns ret)
        acl.handle("mdl.create_dataset")    -> handle    (the function returns a handle, 0 on failure)
        acl.void("destroy_tensor_desc", d)  -> None      (the function returns nothing)
        acl.raw                             -> the module, for getters
    """

    def __init__(self, module: Any) -> None:
        self.raw = module

    def _function(self, name: str) -> Any:
        target = self.raw
        for part in name.split("."):
            target = getattr(target, part)
        return target

    def _detail(self) -> str:
        recent = getattr(self.raw, "get_recent_err_msg", None)
        return (recent() or "") if recent else ""

    def __call__(self, name: str, *args: Any) -> Any:
        result = self._function(name)(*args)
        values, ret = (result[:-1], result[-1]) if isinstance(result, tuple) else ((), result)
        if ret != ACL_SUCCESS:
            raise AclError(name, ret, self._detail())
        return values[0] if len(values) == 1 else (values or None)

    def handle(self, name: str, *args: Any) -> Any:
        handle = self._function(name)(*args)
        if not handle:
            raise AclError(name, None, self._detail())
        return handle

    def void(self, name: str, *args: Any) -> None:
        self._function(name)(*args)
