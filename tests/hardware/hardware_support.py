"""Shared by tests/hardware: the real acl (or a skip), the model under test, and its device session.

    pytest -m ascend tests/hardware        # on an Atlas 200 DK / Atlas 300 with CANN (docs/ascend.md)

ACC_HW_MODEL names the installed model to run (default eccv16); its .om (tools/atc_command.py) and its
operators (kernels/ascend/build.sh) must be built for the device's SoC. Without CANN's acl every test
here is skipped; these tests are not counted as passing anywhere else.
"""

from __future__ import annotations

import os
from types import ModuleType

import pytest

from acc.backends.ascend.acl_api import import_cann_acl
from acc.models import ModelSpec, resolve


def cann() -> ModuleType | None:
    try:
        return import_cann_acl()
    except ImportError:
        return None


ACL = cann()
NO_CANN = "no CANN: module acl not importable (these run on an Atlas device: docs/ascend.md, Running tests/hardware)"
MARKS = [pytest.mark.ascend, pytest.mark.skipif(ACL is None, reason=NO_CANN)]


def hardware_model() -> ModelSpec:
    return resolve(os.environ.get("ACC_HW_MODEL", "eccv16"))
