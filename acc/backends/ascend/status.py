"""What `acc doctor` says about the Ascend backend: hardware or emulated, CANN (pyACL's API version) and
the SoC, and whether the selected model's .om and operators are built for it."""

from __future__ import annotations

import os

from acc.backends.ascend.acl_api import Acl, AclError, import_cann_acl
from acc.backends.ascend.backend import SOC_ENV, AscendBackend, op_model_dir
from acc.backends.ascend.model import find_om
from acc.kernels.ascend.socs import DEFAULT_SOC
from acc.models import ModelError, ModelSpec


def _emulated(spec: ModelSpec | None) -> tuple[list[str], bool]:
    chip = os.environ.get(SOC_ENV, DEFAULT_SOC)
    lines = [f"mode: emulated (the acl emulator as {chip}: no device, no CANN; the model runs in ONNX Runtime)"]
    if spec is None:
        return lines, True
    try:
        backend = AscendBackend(spec, emulate=True)
    except (ModelError, AclError, ValueError) as exc:
        return [*lines, f"operators: {exc}"], False
    backend.close()
    lines.append(f"operators: single-op JSON in {backend.op_dir} (in place of compiled .om files)")
    if backend.host_render is not None:
        lines.append(f"render: on the host ({backend.host_render})")
    return lines, True


def _hardware(spec: ModelSpec | None) -> tuple[list[str], bool]:
    try:
        module = import_cann_acl()
    except ImportError:
        return ["mode: not available (no CANN: module acl not importable); --emulate runs the emulator"], False
    acl = Acl(module)
    major, minor, patch = acl("get_version")
    acl("init")
    try:
        chip = module.get_soc_name()
    finally:
        acl("finalize")
    lines, ok = [f"mode: hardware (CANN, pyACL API {major}.{minor}.{patch}; SoC {chip})"], True
    if spec is None:
        return lines, ok
    try:
        lines.append(f"model: {find_om(spec, chip)}")
    except ModelError as exc:
        lines.append(f"model: {exc}")
        ok = False
    ops = op_model_dir(spec, chip)
    if any(ops.glob("**/*.om")):
        lines.append(f"operators: installed, {ops}")
    else:
        build = f"kernels/ascend/build.sh --model {spec.name} --soc {chip}"
        lines.append(f"operators: not built ({ops} has no .om): {build}")
        ok = False
    return lines, ok


UNTESTED = "never run on an Ascend device: tested against the emulator only (docs/ascend.md)"


def report(spec: ModelSpec | None, emulate: bool) -> tuple[list[str], bool]:
    """(lines to print, whether the backend can run the model here)."""
    lines, ok = _emulated(spec) if emulate else _hardware(spec)
    return [f"hardware: {UNTESTED}", *lines], ok
