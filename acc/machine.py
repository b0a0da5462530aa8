"""What this machine is: its CPU (model, instruction-set flags) and how many cores acc may use.

Read once per process, from /proc/cpuinfo on Linux (elsewhere the model is platform.processor() and the
flags are unknown, which every caller treats as "feature absent").
"""

from __future__ import annotations

import os
import platform
from functools import cache


@cache
def cpu_fields() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            block = f.read().split("\n\n")[0]
    except OSError:
        return {}
    fields = {}
    for line in block.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_model() -> str:
    return cpu_fields().get("model name") or platform.processor() or platform.machine()


def cpu_flags() -> frozenset[str]:
    return frozenset(cpu_fields().get("flags", "").split())


def has_vnni() -> bool:
    """x86 with int8 dot-product instructions (AVX-512 VNNI or AVX-VNNI): ONNX Runtime's fast, exact
    uint8 x int8 convolutions (acc/quantize.py)."""
    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni"})


def usable_cores() -> int:
    """Logical cores this process may run on (its affinity mask, e.g. a container's cpuset), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
