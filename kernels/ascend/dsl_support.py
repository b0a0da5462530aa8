"""Which dtypes the TBE DSL calls acc uses accept on each chip, as CANN's own DSL decides it.

Transcribed from the Python of the CANN 8.1.RC1 toolkit (a public copy: github.com/leideng/CANN-8.1.RC1,
under Ascend/ascend-toolkit/8.1.RC1/):

- python/site-packages/tbe/dsl/compute/util.py, DSL_CHECK_SUPPORT_MAP: per API and short SoC version, the
  dtypes `dsl_check_support` accepts. `platform_info.api_check_support("tbe.dsl.<api>", dtype)` answers
  from it, and the `@dtype_check_decorator` on vadd, vmul, vexp, ... raises "<dtype> of tbe.dsl.<api> is
  not supported" for any other. floor lists conversions ("f162s32"): `_para_check_of_cast` in
  tbe/dsl/compute/cast.py raises "The target platform is not support f322s32 and floor" for the rest.
- aarch64-linux/data/platform_config/Ascend310.ini and Ascend310P3.ini, [AICoreintrinsicDtypeMap]: the
  vector instructions behind the DSL. Intrinsic_vsel decides vcmpsel: outside the dynamic/static-unified
  mode (acc's operators are built in the classic one: tvm.placeholder + auto_schedule), math.py's vcmpsel
  calls util.auto_cast_tensor(x, "vsel"), which silently casts operands the instruction lacks to float16
  (float32 first, where the instruction has it) and returns that dtype. Intrinsic_vconv decides cast_to:
  util.is_cast_support accepts "<src>2<dst>" or its truncating "<src>2<dst>z" form, and cast._cast routes
  other pairs through float32, then float16. The same section says which instructions a chip has at
  all: the Ascend310 has Intrinsic_vrec but no Intrinsic_vdiv (the Ascend310P3 has both).
- python/site-packages/tbe/dsl/compute/math.py: vdiv on a chip without Intrinsic_vdiv is lhs times
  vrec(rhs, "high_precision"); __single_elewise_op builds that reciprocal from the vrec instruction and
  Newton steps x(n) = x(n-1) (2 - a x(n-1)), one on the Ascend310 (newton_iter_num), two elsewhere.

Only the APIs acc's operators (kernels/ascend/tbe/acc_colour.py) use, and the two they must not use in
float32 on the 310 (vcmpsel, floor), are listed.
"""

from __future__ import annotations

ASCEND_310, ASCEND_310P = "Ascend310", "Ascend310P"  # tbe.common.platform's short SoC versions
SHORT_SOC = {"Ascend310": ASCEND_310, "Ascend310P3": ASCEND_310P}  # atc --soc_version -> short version

_F16_F32_I32 = ("float16", "float32", "int32")
DSL_DTYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "vadd": {ASCEND_310: _F16_F32_I32, ASCEND_310P: ("int16", "float16", "int32", "float32", "uint64", "int64")},
    "vsub": {ASCEND_310: _F16_F32_I32, ASCEND_310P: ("int16", "float16", "int32", "float32", "int64")},
    "vmul": {ASCEND_310: _F16_F32_I32, ASCEND_310P: ("int16", "float16", "int32", "float32", "int64")},
    "vdiv": {ASCEND_310: ("float16", "float32"), ASCEND_310P: ("float16", "float32", "int64")},
    "vmuls": {ASCEND_310: _F16_F32_I32, ASCEND_310P: ("int16", "float16", "int32", "float32", "int64")},
    "vadds": {ASCEND_310: _F16_F32_I32, ASCEND_310P: ("int16", "float16", "float32", "int32", "int64")},
    "vmaxs": {ASCEND_310: _F16_F32_I32, ASCEND_310P: ("bool", "int16", "float16", "float32", "int32")},
    "vmins": {ASCEND_310: _F16_F32_I32, ASCEND_310P: ("int16", "float16", "float32", "int32")},
    "vexp": {ASCEND_310: ("float16",), ASCEND_310P: ("float16", "float32")},
    "vlog": {ASCEND_310: ("float16",), ASCEND_310P: ("float16", "float32")},
    "vcmpsel": {ASCEND_310: ("float16",), ASCEND_310P: ("float16", "float32")},
    "floor": {ASCEND_310: ("float16", "f162s32"),
              ASCEND_310P: ("float16", "float32", "f162u8", "f162s8", "f162s32", "f322s32")},  # fmt: skip
    "broadcast": {ASCEND_310: ("int8", "uint8", "float16", "int16", "uint16", "float32", "int32", "uint32"),
                  ASCEND_310P: ("bool", "int8", "uint8", "float16", "int16", "uint16", "float32", "int32", "uint32",
                                "int64", "uint64")},  # fmt: skip
    "reduce_sum": {ASCEND_310: _F16_F32_I32, ASCEND_310P: ("float16", "float32", "int32", "int64")},
}
# concat has one entry for every SoC ("AllSoc")
CONCAT_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bfloat16",
                 "float16", "float32")  # fmt: skip

# [AICoreintrinsicDtypeMap] of the platform configurations
VSEL_DTYPES = {ASCEND_310: ("float16",), ASCEND_310P: ("float16", "float32")}
VCONV = {
    ASCEND_310: frozenset("f322f16 f162f32 f162s8 f162u8 deq f162s32f f162s32c f162s32r u82f16 s82f16 s322f16".split()),
    ASCEND_310P: frozenset(
        "f322f16 f162f32 f322f16o f162s8 f162s8a f162s8f f162s8c f162s8z f162u8 f162u8a f162u8f f162u8c f162u8z deq "
        "s322f32 f162s32r f162s32a f162s32f f162s32c f162s32z f322s32r f322s32a f322s32f f322s32c f322s32z u82f16 "
        "s82f16 s322f16 s162u8 s162s8 f162s4 s162f16 f162s16r".split()
    ),
}
# [AICoreintrinsicDtypeMap]: the chips with a divide instruction; elsewhere vdiv is a reciprocal times lhs
VDIV_INTRINSIC = {ASCEND_310: False, ASCEND_310P: True}
# math.__single_elewise_op: Newton steps on vrec's estimate in vrec(x, "high_precision")
RECIPROCAL_NEWTON_STEPS = {ASCEND_310: 1, ASCEND_310P: 2}
SHORT_DTYPE = {"float32": "f32", "float16": "f16", "int8": "s8", "uint8": "u8", "int32": "s32"}


def short_soc(soc_name: str) -> str:
    try:
        return SHORT_SOC[soc_name]
    except KeyError:
        raise ValueError(f"no DSL support table for SoC '{soc_name}'") from None


def dsl_supports(api: str, dtype: str, soc_name: str) -> bool:
    """dsl_check_support("tbe.dsl.<api>", dtype) on this SoC."""
    if api == "concat":
        return dtype in CONCAT_DTYPES
    table = DSL_DTYPES.get(api)
    return table is not None and dtype in table[short_soc(soc_name)]


def conversion(src: str, dst: str) -> str:
    """util.get_cast_type: "f322f16", with int32 -> float16 named "deq" as the instruction is."""
    name = f"{SHORT_DTYPE[src]}2{SHORT_DTYPE[dst]}"
    return "deq" if name == "s322f16" else name


def cast_supported(src: str, dst: str, soc_name: str) -> bool:
    """util.is_cast_support: one vconv instruction converts src to dst (its rounding or truncating form)."""
    if src == dst:
        return True
    name = conversion(src, dst)
    vconv = VCONV[short_soc(soc_name)]
    return name in vconv or f"{name}z" in vconv


def cast_route(src: str, dst: str, soc_name: str) -> list[str]:
    """The dtypes cast._cast goes through from src to dst (src excluded, dst included), or ValueError."""
    if cast_supported(src, dst, soc_name):
        return [dst]
    for middle in ("float32", "float16"):
        if cast_supported(src, middle, soc_name) and cast_supported(middle, dst, soc_name):
            return [middle, dst]
    raise ValueError(f"Unsupported cast type! src_dtype: {src}, dst_dtype: {dst}")
