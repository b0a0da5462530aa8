"""The Ascend chips acc targets and the documented facts that differ between them.

Sources: ../../docs/ascend.md cites the CANN pages and sources each value comes from (JPEGD output strides
and odd sizes, JPEGE quality range, VPC interpolations). What the TBE DSL accepts per chip is in
dsl_support.py.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_SIDE = 8192  # JPEGD, JPEGE and VPC input limit; also the widest band compiled


@dataclass(frozen=True)
class Soc:
    name: str  # what acl.get_soc_name() returns and `atc --soc_version` takes
    stride_align: int  # JPEGD output width stride alignment (height stride: 16 on both)
    jpegd_floors_odd: bool  # JPEGD rounds an odd output width/height down to even
    jpege_min_level: int  # JPEGE quality level range is [jpege_min_level, 100]
    interpolations: tuple[int, ...]  # VPC resize algorithms (acldvppSetResizeConfigInterpolation)


SOCS: dict[str, Soc] = {
    "Ascend310": Soc("Ascend310", stride_align=128, jpegd_floors_odd=False, jpege_min_level=0,
                     interpolations=(0, 1, 2, 3, 4)),
    "Ascend310P3": Soc("Ascend310P3", stride_align=64, jpegd_floors_odd=True, jpege_min_level=1,
                       interpolations=(0, 1, 2)),
}  # fmt: skip
DEFAULT_SOC = "Ascend310"
HEIGHT_ALIGN = 16  # JPEGD output height stride alignment, both chips


def soc(name: str) -> Soc:
    try:
        return SOCS[name]
    except KeyError:
        raise ValueError(f"unsupported Ascend SoC '{name}' (supported: {', '.join(SOCS)})") from None


def align(value: int, to: int) -> int:
    return -(-value // to) * to


def band_widths(chip: Soc) -> range:
    """Every width stride a full-size plane can have on this chip: the band widths compiled."""
    return range(chip.stride_align, MAX_SIDE + 1, chip.stride_align)
