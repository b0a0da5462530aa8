"""The single operators acc runs on the AI Core, with the exact tensor descriptions and attributes they are
compiled for. One definition serves both sides of `acl.op`'s lookup (type + descs + attrs must match):

- the single-op JSON that `atc --singleop` compiles (this module's command line writes it), and
- the descriptions the backend creates at run time (acc/backends/ascend/ops.py calls these functions).

Per photo: LabL once (model input), then for the render Cast + MatMul once and, for every band of the
full-size plane (kernels/ascend/bands.py), BatchMatMul, AbMergeY, AbMergeChroma (Cb, Cr), ReduceSumD,
TransposeD and ChromaToU8. stage_ops() groups them by the backend stage that runs them.

    python -m acc.kernels.ascend.singleop --soc Ascend310 [--model NAME ...] -o <dir>/acc_ops.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acc.kernels.ascend.bands import BAND_ROWS
from acc.kernels.ascend.socs import SOCS, band_widths, soc

FLOAT16, UINT8, FLOAT32 = "float16", "uint8", "float32"
GE_DT_FLOAT16 = 1  # ge::DataType value Cast's dst_type takes


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    format: str = "ND"


@dataclass(frozen=True)
class Attr:
    name: str
    type: str  # "bool" | "int" | "float" | "list_int"
    value: bool | int | float | tuple[int, ...]  # a tuple for list_int, so that specs stay hashable

    @property
    def json_value(self) -> bool | int | float | list[int]:
        return list(self.value) if isinstance(self.value, tuple) else self.value


@dataclass(frozen=True)
class OpSpec:
    op: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    attrs: tuple[Attr, ...] = ()

    def to_json(self) -> dict[str, Any]:
        desc = lambda t: {"name": t.name, "format": t.format, "shape": list(t.shape), "type": t.dtype}  # noqa: E731
        entry: dict[str, Any] = {
            "op": self.op,
            "input_desc": [desc(t) for t in self.inputs],
            "output_desc": [desc(t) for t in self.outputs],
        }
        if self.attrs:
            entry["attr"] = [{"name": a.name, "type": a.type, "value": a.json_value} for a in self.attrs]
        return entry


@dataclass(frozen=True)
class OpContract:
    """What of a model's contract is compiled into the operators (ab_scale is not: it is geometry data)."""

    input_size: tuple[int, int]
    output_size: tuple[int, int]
    l_offset: float
    l_scale: float

    @classmethod
    def of(cls, spec: Any) -> OpContract:
        """From an acc.models.ModelSpec."""
        return cls(tuple(spec.input_size), tuple(spec.output_size), float(spec.l_offset), float(spec.l_scale))


# The models whose operators are generated into the repository (op_json/<soc>/acc_ops.json): the
# official models `acc models fetch` installs. Others are built with this module's --model.
# The bundled default model and the official ones `acc models fetch` installs.
CHECKED_IN_MODELS = ("acc-tiny", "eccv16", "siggraph17")


def checked_in_contracts(names: Sequence[str] = CHECKED_IN_MODELS) -> list[OpContract]:
    """Contracts of bundled models (from the registry) and fetchable ones (from the catalogue)."""
    from acc.models import load_catalogue, load_registry

    bundled = {name: spec for name, spec in load_registry()[1].items() if spec.bundled}
    catalogue = load_catalogue()
    return [
        OpContract.of(bundled[name] if name in bundled else catalogue[name].spec(Path("."), f"{name}.onnx", ""))
        for name in names
    ]


def lab_l(c: OpContract) -> OpSpec:
    """Y plane of the model-size NV12 picture -> model input (L - l_offset) * l_scale."""
    h, w = c.input_size
    return OpSpec(
        "LabL",
        (Tensor("y", UINT8, (h, w)),),
        (Tensor("l", FLOAT32, (h, w)),),
        (Attr("l_offset", "float", c.l_offset), Attr("l_scale", "float", c.l_scale)),
    )


def ab_cast(c: OpContract) -> OpSpec:
    """The model's ab (2 * oh, ow) float32 -> float16 for the cube unit."""
    oh, ow = c.output_size
    shape = (2 * oh, ow)
    return OpSpec("Cast", (Tensor("x", FLOAT32, shape),), (Tensor("y", FLOAT16, shape),),
                  (Attr("dst_type", "int", GE_DT_FLOAT16),))  # fmt: skip


def ab_columns(c: OpContract, width_stride: int) -> OpSpec:
    """ab (2*oh, ow) @ wx (ow, ws): both channels upsampled along the rows' length, once per photo."""
    oh, ow = c.output_size
    return OpSpec(
        "MatMul",
        (Tensor("x1", FLOAT16, (2 * oh, ow)), Tensor("x2", FLOAT16, (ow, width_stride))),
        (Tensor("y", FLOAT16, (2 * oh, width_stride)),),
        (Attr("transpose_x1", "bool", False), Attr("transpose_x2", "bool", False)),
    )


def ab_rows(c: OpContract, rows: int, width_stride: int) -> OpSpec:
    """wy (2, rows, oh) @ ab_cols (2, oh, ws): the band's rows of ab at full size."""
    oh, _ = c.output_size
    return OpSpec(
        "BatchMatMul",
        (Tensor("x1", FLOAT16, (2, rows, oh)), Tensor("x2", FLOAT16, (2, oh, width_stride))),
        (Tensor("y", FLOAT16, (2, rows, width_stride)),),
        (Attr("adj_x1", "bool", False), Attr("adj_x2", "bool", False)),
    )


def _band(rows: int, width_stride: int) -> tuple[Tensor, Tensor, Tensor]:
    """A band of the full-size picture: its Y rows and the a, b upsampled to it (BatchMatMul's output)."""
    shape = (rows, width_stride)
    return Tensor("y", UINT8, shape), Tensor("a", FLOAT16, shape), Tensor("b", FLOAT16, shape)


def ab_merge_y(rows: int, width_stride: int) -> OpSpec:
    """A band of Y + its ab -> the band's Y' rows of the output NV12 picture."""
    return OpSpec("AbMergeY", _band(rows, width_stride), (Tensor("y_out", UINT8, (rows, width_stride)),))


CB, CR = 0, 1  # AbMergeChroma's channel


def ab_merge_chroma(rows: int, width_stride: int, channel: int) -> OpSpec:
    """A band of Y + its ab + chroma weights (cw per column, rw per row) -> weighted Cb or Cr per pixel,
    float32: what ReduceSumD adds up over each 2x2 block."""
    inputs = (*_band(rows, width_stride), Tensor("cw", FLOAT16, (1, width_stride)), Tensor("rw", FLOAT16, (rows, 1)))
    return OpSpec("AbMergeChroma", inputs, (Tensor("q", FLOAT32, (rows, width_stride)),),
                  (Attr("channel", "int", channel),))  # fmt: skip


def chroma_sum(rows: int, width_stride: int) -> OpSpec:
    """Both channels' weighted chroma, seen as (channel, rows/2, 2, ws/2, 2), summed over each 2x2 block."""
    half = (rows // 2, width_stride // 2)
    blocks = (2, half[0], 2, half[1], 2)
    return OpSpec("ReduceSumD", (Tensor("x", FLOAT32, blocks),), (Tensor("y", FLOAT32, (2, *half)),),
                  (Attr("axes", "list_int", (2, 4)), Attr("keep_dims", "bool", False)))  # fmt: skip


def chroma_interleave(rows: int, width_stride: int) -> OpSpec:
    """(channel, rows/2, ws/2) -> (rows/2, ws/2, channel): Cb, Cr, Cb, Cr, ... along each chroma row (NV12)."""
    half = (rows // 2, width_stride // 2)
    return OpSpec("TransposeD", (Tensor("x", FLOAT32, (2, *half)),), (Tensor("y", FLOAT32, (*half, 2)),),
                  (Attr("perm", "list_int", (1, 2, 0)),))  # fmt: skip


def chroma_to_u8(rows: int, width_stride: int) -> OpSpec:
    """The interleaved sums -> the band's CbCr rows of the output NV12 picture (rounded)."""
    shape = (rows // 2, width_stride)
    return OpSpec("ChromaToU8", (Tensor("x", FLOAT32, shape),), (Tensor("y", UINT8, shape),))


def band_ops(rows: int, width_stride: int) -> list[OpSpec]:
    """The render's operators for one band shape after BatchMatMul, in the order they run."""
    return [ab_merge_y(rows, width_stride), ab_merge_chroma(rows, width_stride, CB),
            ab_merge_chroma(rows, width_stride, CR), chroma_sum(rows, width_stride),
            chroma_interleave(rows, width_stride), chroma_to_u8(rows, width_stride)]  # fmt: skip


MODEL_INPUT, RENDER = "model_input", "render"


def stage_ops(c: OpContract, soc_name: str) -> dict[str, list[OpSpec]]:
    """Every operator shape the backend can ask for on this chip for a model with this contract, by stage."""
    widths = band_widths(soc(soc_name))
    render = [ab_cast(c), *(ab_columns(c, ws) for ws in widths)]
    render += [ab_rows(c, rows, ws) for rows in BAND_ROWS for ws in widths]
    render += [op for rows in BAND_ROWS for ws in widths for op in band_ops(rows, ws)]
    return {MODEL_INPUT: [lab_l(c)], RENDER: render}


def all_ops(contracts: Sequence[OpContract], soc_name: str) -> list[OpSpec]:
    """Every operator shape the backend can ask for on this chip, for models with these contracts."""
    ops = [op for c in contracts for stage in stage_ops(c, soc_name).values() for op in stage]
    return list(dict.fromkeys(ops))  # models sharing sizes share operators


def singleop_json(contracts: Sequence[OpContract], soc_name: str) -> str:
    """One operator a line: readable in a diff, a quarter of the size of indented JSON."""
    lines = [json.dumps(op.to_json()) for op in all_ops(contracts, soc_name)]
    return "[\n" + ",\n".join(lines) + "\n]\n"


def checked_in_dir(soc_name: str) -> Path:
    """The folder holding the JSON for CHECKED_IN_MODELS kept in the repository (build.sh's default input,
    and what the emulator loads in place of compiled operators)."""
    return Path(__file__).parent / "op_json" / soc_name


JSON_NAME = "acc_ops.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the single-op JSON for `atc --singleop`.")
    parser.add_argument("--soc", choices=sorted(SOCS), required=True)
    parser.add_argument("--model", action="append", help="installed model to compile for, repeatable "
                        f"(default: {', '.join(CHECKED_IN_MODELS)})")  # fmt: skip
    parser.add_argument("--model-dir", type=Path, help="folder of user-installed models")
    parser.add_argument("-o", "--output", type=Path, required=True, help=f"the JSON file (e.g. .../{JSON_NAME})")
    args = parser.parse_args(argv)
    if args.model:
        from acc.models import resolve

        contracts = [OpContract.of(resolve(name, args.model_dir)) for name in args.model]
    else:
        contracts = checked_in_contracts()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(singleop_json(contracts, args.soc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
