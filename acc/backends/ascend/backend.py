"""The Ascend backend: DVPP decodes and resizes, single operators do the colour maths, acl.mdl runs the
model, DVPP encodes; Python only moves device handles (DESIGN.md, The data flow).

    decode        JPEGD -> full-size NV12 picture (DVPP memory). JPEGs it refuses (progressive, arithmetic,
                  CMYK, outside 32..8192), EXIF-rotated ones, odd-sized ones on the 310P (its JPEGD drops
                  the last column/row) and other formats: decoded on the host, luma uploaded into the
                  same layout.
    model_input   VPC bilinear resize to the model size (in steps when the scale is beyond [1/32, 16]),
                  then LabL on the Y plane -> (L - l_offset) * l_scale, float32, device memory.
                  Pictures VPC cannot take (under 10x6) are resized on the host from their luma.
    infer         the .om on the AI Core, in chunks of its compiled batch.
    render        Cast + MatMul (ab upsampled along rows, once), then per 16/128-row band BatchMatMul
                  (along columns) and the merge operators (Lab -> RGB -> Y and 4:2:0 CbCr; render.py) into
                  an NV12 picture; JPEGE at the CLI quality. PNG output, and sizes JPEGE refuses, are
                  encoded on the host.

A JPEGD, VPC or JPEGE failure the device reports (at rt.synchronize_stream) sends that photo's step to
the host instead, and is counted in `device_fallbacks`; an error at the call itself is a bug and raises.

At start-up every operator the backend will call is looked up, in every shape compiled for the model and
chip (singleop.stage_ops). A missing LabL ends the start, naming it and the build command; a missing
render operator makes the host render every photo of the run (the cpu backend's render kernel, from the
photo's luma and the model's ab), said once on stderr and kept in `host_render`.

L comes from luma alone (see kernels/ascend/tbe/acc_colour.py). Photos up to 8192 pixels a side.
emulate=True runs everything against the acl emulator (acc/backends/ascend/emulator) instead of CANN:
ACC_ASCEND_SOC chooses the chip it plays, ACC_ASCEND_RUN_MODE=device makes it an Atlas 200 DK
(the application on the device, ACL_DEVICE) instead of a server with an Atlas 300 card.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acc.backends.ascend import constants as C
from acc.backends.ascend.acl_api import Acl, AclError, import_cann_acl
from acc.backends.ascend.dvpp import Picture, UnsupportedJpeg, frame_layout, jpegd_size
from acc.backends.ascend.lanes import Lane
from acc.backends.ascend.hostpath import decode_luma, encode_planes, luma_nv12, resize_luma, set_jpeg_size
from acc.backends.ascend.lanes import LanePool
from acc.backends.ascend.memory import Buffer, MemoryPool
from acc.backends.ascend.model import OmModel, find_om
from acc.backends.ascend.ops import Ops
from acc.backends.ascend.render import AbMergePath
from acc.backends.ascend.runtime import Runtime
from acc.backends.base import Backend, OutputFormat
from acc.backends.hostimage import encode_bgr
from acc.kernels.ascend import nv12, singleop
from acc.kernels.ascend.bands import RenderGeometry, render_geometry
from acc.kernels.ascend.socs import DEFAULT_SOC, MAX_SIDE, align, soc
from acc.models import ModelError, ModelSpec, read_verified
from acc.probe import BadImage, ImageInfo

SOC_ENV = "ACC_ASCEND_SOC"  # the chip the emulator plays: Ascend310 (default) or Ascend310P3
RUN_MODE_ENV = "ACC_ASCEND_RUN_MODE"  # where the emulated application runs: host (default) or device
RUN_MODES = {"host": C.ACL_HOST, "device": C.ACL_DEVICE}


def op_model_dir(spec: ModelSpec, soc_name: str) -> Path:
    """Where kernels/ascend/build.sh puts this model's operators for this chip: beside the ONNX."""
    return spec.path.parent / f"{spec.name}_{soc_name}_ops"


def vpc_steps(size: tuple[int, int], target: tuple[int, int]) -> list[tuple[int, int]] | None:
    """The resizes VPC needs from size to target (w, h), each within its [1/32, 16] scale; None when the
    picture is below VPC's 10x6 minimum."""
    (w, h), steps = size, []
    if w < 10 or h < 6:
        return None

    def toward(n: int, t: int) -> int:
        nxt = min(max(t, -(-n // 32)), 16 * n)
        return nxt if nxt == t else align(nxt, 2)

    while (w, h) != target:
        w, h = toward(w, target[0]), toward(h, target[1])
        steps.append((w, h))
    return steps


@functools.lru_cache(maxsize=32)
def _geometry(width: int, height: int, ws: int, hs: int, out_size: tuple[int, int], ab_scale: float) -> RenderGeometry:
    return render_geometry(width, height, ws, hs, out_size, ab_scale)


@dataclass
class AscendFrame:
    picture: Picture  # full-size NV12, DVPP memory
    width: int  # the photo's own size (the picture may be rounded up to even)
    height: int
    luma: np.ndarray | None  # host copy of Y, kept when the host decoded it
    alpha: np.ndarray | None
    model_input: Buffer | None = None  # LabL's output, released with the frame


class AscendBackend(Backend):
    name = "ascend"

    def __init__(self, model: ModelSpec, threads: int = 0, *, emulate: bool = False) -> None:
        super().__init__(model, threads)
        if emulate:
            from acc.backends.ascend.emulator import Emulator

            mode = os.environ.get(RUN_MODE_ENV, "host")
            if mode not in RUN_MODES:
                raise ValueError(f"{RUN_MODE_ENV}={mode!r}: one of {', '.join(RUN_MODES)}")
            module = Emulator(os.environ.get(SOC_ENV, DEFAULT_SOC), threads=threads, run_mode=RUN_MODES[mode])
        else:
            module = import_cann_acl()
        self.emulated = emulate
        self.device_fallbacks: Counter[str] = Counter()  # DVPP step -> photos the host did it for instead
        self._fallback_lock = threading.Lock()
        self.acl = Acl(module)
        self.contract = singleop.OpContract.of(model)
        self.runtime = Runtime(self.acl)
        try:
            self.chip = soc(self.runtime.soc_name)
            self._check_contract()
            self.pool = MemoryPool(self.runtime)
            self.lanes = LanePool(self.runtime, self.pool)
            self.op_dir = self._op_dir()
            self.ops = Ops(self.runtime, self.op_dir)
            self.host_render: str | None = self._check_ops()  # why the host renders this run, if it does
            self.merge = AbMergePath(self.ops, self.pool, self.contract)
            self.om = OmModel(self.runtime, self.pool, self._model_bytes(), model)
        except BaseException:
            self.runtime.close()
            raise

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            import_cann_acl()
        except ImportError:
            return "no CANN: module acl not importable (acc colorize --emulate runs the emulator)"
        return None

    def _check_contract(self) -> None:
        (h, w), (oh, ow) = self.contract.input_size, self.contract.output_size
        if w % 16 or h % 2:
            raise ModelError(f"model '{self.model.name}': input {w}x{h}: VPC output needs a width multiple of 16 "
                             "and an even height on the Ascend backend")  # fmt: skip
        if oh > h or ow > w:
            raise ModelError(f"model '{self.model.name}': output {ow}x{oh} larger than its input")

    def _op_dir(self) -> Path:
        """The model's operators built for this chip; the emulator falls back on the repository's JSON,
        generated for the catalogue's models (kernels/ascend/singleop.py)."""
        built = op_model_dir(self.model, self.chip.name)
        if built.is_dir():
            return built
        if not self.emulated:
            raise ModelError(f"model '{self.model.name}': no operators at {built}; build them: "
                             f"kernels/ascend/build.sh --model {self.model.name} --soc {self.chip.name}")  # fmt: skip
        return singleop.checked_in_dir(self.chip.name)

    def build_command(self) -> str:
        """What builds this model's operators for this chip (for the emulator: their single-op JSON)."""
        name, chip = self.model.name, self.chip.name
        if self.emulated:
            return (f"python -m acc.kernels.ascend.singleop --soc {chip} --model {name} -o "
                    f"{op_model_dir(self.model, chip) / singleop.JSON_NAME}")  # fmt: skip
        return f"kernels/ascend/build.sh --model {name} --soc {chip}"

    def _check_ops(self) -> str | None:
        """Look up every operator the backend will call, in every shape, now rather than at the photo that
        needs it. Model input has no host path: a missing LabL raises. The render has one: a missing render
        operator -> the reason the host renders this run (printed once), else None."""
        missing = {stage: [(spec, exc) for spec in specs if (exc := self.ops.probe(spec)) is not None]
                   for stage, specs in singleop.stage_ops(self.contract, self.chip.name).items()}  # fmt: skip
        if missing[singleop.MODEL_INPUT]:
            _, exc = missing[singleop.MODEL_INPUT][0]
            raise ModelError(f"model '{self.model.name}': no LabL operator built for its contract ({exc}); "
                             f"build them: {self.build_command()}")  # fmt: skip
        if not missing[singleop.RENDER]:
            return None
        spec, exc = missing[singleop.RENDER][0]
        shapes = " ".join("x".join(map(str, t.shape)) for t in spec.inputs)
        what = (f"{len(missing[singleop.RENDER])} render operators not built for {self.chip.name} (the first: "
                f"{spec.op} {shapes}: {exc})")  # fmt: skip
        from acc.backends.cpu import CPUBackend  # only a run rendering on the host needs the cpu backend

        if (why := CPUBackend.unavailable_reason()) is not None:  # the host path is the cpu backend's kernel
            raise ModelError(f"model '{self.model.name}': {what}, and the host cannot render ({why}); build them: "
                             f"{self.build_command()}")  # fmt: skip
        reason = f"{what}: every photo of this run is rendered on the host; build them: {self.build_command()}"
        print(f"acc: note: ascend: {reason}", file=sys.stderr, flush=True)
        return reason

    def _model_bytes(self) -> bytes:
        if self.emulated:
            return read_verified(self.model)  # the emulator runs the ONNX in place of the .om
        return find_om(self.model, self.chip.name).read_bytes()

    def _device_failed(self, exc: AclError, step: str) -> None:
        """A failure the device reported for this photo's `step` is taken over by the host; any other
        AclError (at the call itself: a bug, or the runtime in trouble) is raised again."""
        if exc.call != "rt.synchronize_stream":
            raise exc
        with self._fallback_lock:
            self.device_fallbacks[step] += 1

    # --- decode ---------------------------------------------------------------------------------------------
    def _jpegd_may(self, info: ImageInfo) -> bool:
        return (info.format == "jpeg" and not info.progressive and info.orientation == 1
                and 32 <= info.width <= MAX_SIDE and 32 <= info.height <= MAX_SIDE)  # fmt: skip

    def _jpegd(self, lane: Lane, data: bytes, info: ImageInfo) -> Picture | None:
        """JPEGD's picture of the photo, or None where the host must decode it: a stream JPEGD refuses, a size
        it would not keep (odd sides on the 310P), a failure on the device, a size it reports otherwise."""
        try:
            size = lane.dvpp.jpeg_size(data)
        except UnsupportedJpeg:
            return None
        if size != (info.width, info.height) or jpegd_size(*size, self.chip) != size:
            return None
        try:
            picture = lane.dvpp.decode(lane, data, frame_layout(*size, self.chip))
        except AclError as exc:
            self._device_failed(exc, "JPEGD")
            return None
        if (picture.width, picture.height) != size:
            self.pool.give(picture.buffer)
            return None
        return picture

    def decode(self, data: bytes, info: ImageInfo) -> AscendFrame:
        data = bytes(data)  # acl.util.bytes_to_ptr takes bytes only (no copy when it is bytes already)
        if max(info.width, info.height) > MAX_SIDE:
            raise BadImage(f"{info.width}x{info.height}: the Ascend backend takes at most {MAX_SIDE} pixels a side")
        with self.lanes.lane() as lane:
            if self._jpegd_may(info):
                picture = self._jpegd(lane, data, info)
                if picture is not None:
                    return AscendFrame(picture, info.width, info.height, None, None)
            luma, alpha = decode_luma(data, info)
            height, width = luma.shape
            picture = lane.dvpp.picture(frame_layout(width, height, self.chip))
            try:
                self.pool.upload(picture.buffer, luma_nv12(luma, picture.width_stride, picture.height_stride))
            except BaseException:
                self.pool.give(picture.buffer)
                raise
            return AscendFrame(picture, width, height, luma, alpha)

    # --- model_input ------------------------------------------------------------------------------------
    def _host_luma(self, frame: AscendFrame) -> np.ndarray:
        """The photo's luma on the host: kept from a host decode, or read back from JPEGD's picture."""
        if frame.luma is not None:
            return frame.luma
        pic = frame.picture
        plane = np.frombuffer(self.pool.download(pic.buffer, pic.width_stride * pic.height_stride), np.uint8)
        return plane.reshape(pic.height_stride, pic.width_stride)[: frame.height, : frame.width]

    def _model_size_luma(self, lane: Lane, frame: AscendFrame) -> int:
        """Device address of the photo's luma at the model size (rows contiguous): VPC resizes it, or the
        host does when VPC cannot take the picture or the device reports a failure."""
        h, w = self.contract.input_size
        steps = vpc_steps((frame.width & ~1, frame.height & ~1), (w, h))
        if steps is not None:
            source = Picture(frame.picture.buffer, frame.width, frame.height, frame.picture.width_stride,
                             frame.picture.height_stride)  # fmt: skip
            try:
                for size in steps:
                    resized = lane.dvpp.resize(lane, source, *size)
                    if source.buffer is not frame.picture.buffer:
                        self.pool.give(source.buffer)
                    source = resized
            except AclError as exc:
                if source.buffer is not frame.picture.buffer:
                    self.pool.give(source.buffer)
                self._device_failed(exc, "VPC")
            else:
                lane.after_sync(self.pool.give, source.buffer)
                return source.buffer.ptr  # width stride == w (a multiple of 16): rows are contiguous
        small = self.pool.take("device", h * w)
        lane.after_sync(self.pool.give, small)
        self.pool.upload(small, resize_luma(self._host_luma(frame), (h, w)).tobytes())
        return small.ptr

    def model_input(self, frame: AscendFrame) -> Buffer:
        h, w = self.contract.input_size
        with self.lanes.lane() as lane:
            y_plane = self._model_size_luma(lane, frame)
            out = self.pool.take("device", h * w * 4)
            try:
                self.ops.launch(lane, singleop.lab_l(self.contract), [(y_plane, h * w)], [(out.ptr, h * w * 4)])
                lane.sync()
            except BaseException:
                lane.after_sync(self.pool.give, out)
                raise
        frame.model_input = out
        return out

    # --- infer ------------------------------------------------------------------------------------------
    def infer(self, inputs: Sequence[Buffer]) -> list[Buffer]:
        self.runtime.bind_thread()
        return self.om.run(list(inputs))

    # --- render -----------------------------------------------------------------------------------------
    def render(self, frame: AscendFrame, prediction: Buffer, fmt: OutputFormat) -> bytes:
        if self.host_render is not None:
            return self._render_on_host(frame, prediction, fmt)
        pic = frame.picture
        ws, hs = pic.width_stride, pic.height_stride
        out_w, out_h = align(frame.width, 2), align(frame.height, 2)
        geometry = _geometry(frame.width, frame.height, ws, hs, self.contract.output_size, self.model.ab_scale)
        with self.lanes.lane() as lane:
            lane.after_sync(self.pool.give, prediction)
            out = Picture(self.pool.take("dvpp", nv12.nv12_size(ws, hs)), out_w, out_h, ws, hs)
            with lane.holding(self.pool.give, out.buffer):
                self.merge.queue(lane, pic, prediction, out, geometry)
                lane.sync()  # the operators' own failures are not the host's to take over
                if fmt.kind == "jpeg" and min(out_w, out_h) >= 32 and max(out_w, out_h) <= MAX_SIDE:
                    try:
                        return set_jpeg_size(lane.dvpp.encode(lane, out, fmt.quality), frame.width, frame.height)
                    except AclError as exc:
                        self._device_failed(exc, "JPEGE")
                raw = self.pool.download(out.buffer, nv12.nv12_size(ws, hs))
        planes = nv12.unpack(np.frombuffer(raw, np.uint8), out_w, out_h, ws, hs)
        return encode_planes(*planes, frame.width, frame.height, frame.alpha, fmt)

    def _render_on_host(self, frame: AscendFrame, prediction: Buffer, fmt: OutputFormat) -> bytes:
        """The cpu backend's render kernel on the photo's luma and the model's ab (scaled as the registry
        says), encoded on the host: for a run whose render operators are not all built."""
        oh, ow = self.contract.output_size
        self.runtime.bind_thread()
        try:
            raw = self.pool.download(prediction, 8 * oh * ow)
        finally:
            self.pool.give(prediction)
        from acc.backends.cpu import luma_tables  # only a run rendering on the host needs the cpu backend
        from acc.kernels.cpu.ab_merge import ab_merge

        ab = np.frombuffer(raw, np.float32).reshape(2, oh, ow) * np.float32(self.model.ab_scale)
        luma = np.ascontiguousarray(self._host_luma(frame))
        tables = luma_tables(8)
        bgr = np.empty((*luma.shape, 3), np.uint8)
        ab_merge(luma, tables.fy, tables.y, ab, bgr)
        return encode_bgr(bgr, frame.alpha, fmt)

    # --- lifetime ---------------------------------------------------------------------------------------
    def release(self, frame: AscendFrame) -> None:
        for buffer in (frame.picture.buffer, frame.model_input):
            if buffer is not None:
                self.pool.give(buffer)
        frame.model_input = None

    def close(self) -> None:
        self.runtime.close()
