"""The device session: acl.init, the device, one context; and the teardown of everything, in reverse.

Like acllite's AclLiteResource, plus a teardown stack: every component that acquires something from
acl registers its release here as it acquires it, so close() (or a failure half-way through opening)
releases exactly what exists, newest first, down to acl.finalize; a closed runtime holds nothing.
Worker threads bind the context before their first call (pyacl contexts are per thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from acc.backends.ascend import constants as C
from acc.backends.ascend.acl_api import Acl


class Runtime:
    def __init__(self, acl: Acl, device_id: int = 0) -> None:
        self.acl = acl
        self.device_id = device_id
        self._stack = ExitStack()
        self._bound = threading.local()
        self.context: int | None = None
        try:
            acl("init")
            self.defer(acl, "finalize")
            acl("rt.set_device", device_id)
            self.defer(acl, "rt.reset_device", device_id)
            self.context = acl("rt.create_context", device_id)
            self.defer(acl, "rt.destroy_context", self.context)
            self._bound.context = self.context  # create_context made it current for this thread
            self.run_mode = acl("rt.get_run_mode")
            self.soc_name: str = acl.raw.get_soc_name()
        except BaseException:
            self.close()
            raise

    def defer(self, release: Callable[..., Any], *args: Any) -> None:
        """Run release(*args) at close, before whatever was registered earlier."""
        self._stack.callback(release, *args)

    def bind_thread(self) -> None:
        if getattr(self._bound, "context", None) != self.context:
            self.acl("rt.set_context", self.context)
            self._bound.context = self.context

    @property
    def h2d(self) -> int:
        """memcpy kind from host bytes to device memory (on an Atlas 200 DK, ACL_DEVICE, both are device)."""
        return C.ACL_MEMCPY_HOST_TO_DEVICE if self.run_mode == C.ACL_HOST else C.ACL_MEMCPY_DEVICE_TO_DEVICE

    @property
    def d2h(self) -> int:
        return C.ACL_MEMCPY_DEVICE_TO_HOST if self.run_mode == C.ACL_HOST else C.ACL_MEMCPY_DEVICE_TO_DEVICE

    def close(self) -> None:
        """Release everything, newest first; safe to call twice."""
        if self.context is not None:
            self.bind_thread()  # releasing device objects needs the context on this thread too
            self.context = None
        self._stack.close()
