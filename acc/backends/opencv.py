"""The OpenCV baseline: the seed's pipeline (Ascend "Image Colorization" sample), step for step.

Every speed and accuracy claim in acc is measured against this backend, so it does exactly what the
seed's colorize.py does, in the seed's order, and nothing cleverer:

    decode       cv2.imread (here: imdecode of the same bytes, IMREAD_COLOR), float32 / 255,
                 cvtColor BGR2Lab (float: L in 0..100)
    model_input  cv2.resize of the whole Lab image to the model size (INTER_LINEAR, the default),
                 take L, subtract 50 (generally: (L - l_offset) * l_scale, as the registry declares)
    infer        ONNX Runtime
    render       cv2.resize of the predicted ab to the photo's size (INTER_LINEAR), concatenate with
                 the original full-size L, cvtColor Lab2BGR, clip to [0, 1], x255, astype(uint8)
                 (truncation, as in the seed), encode

Inputs the seed did not handle go through the same steps after these conversions: 16-bit samples are
divided by 65535 instead of 255, gray images are expanded to BGR, alpha is set aside and re-attached to
PNG outputs. JPEGs are read exactly as the seed reads them (IMREAD_COLOR applies EXIF orientation).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from acc.backends.base import OutputFormat
from acc.backends.host import HostInferenceBackend
from acc.backends.hostimage import decode_unchanged, encode_bgr, split_alpha
from acc.errors import CorruptImage
from acc.probe import ImageInfo


@dataclass
class LabFrame:
    lab: np.ndarray  # (H, W, 3) float32 Lab of the whole photo
    alpha: np.ndarray | None


class OpenCVBackend(HostInferenceBackend):
    name = "opencv"

    def decode(self, data: bytes, info: ImageInfo) -> LabFrame:
        buf = np.frombuffer(data, np.uint8)
        if info.format == "jpeg":
            bgr, alpha, peak = cv2.imdecode(buf, cv2.IMREAD_COLOR), None, 255.0
            if bgr is None:
                raise CorruptImage("corrupt JPEG data")
        else:
            pixels, alpha, peak = split_alpha(decode_unchanged(data, info))
            bgr = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR) if pixels.ndim == 2 else pixels
        img = bgr.astype(np.float32) / np.float32(peak)
        return LabFrame(cv2.cvtColor(img, cv2.COLOR_BGR2Lab), alpha)

    def host_bytes(self, info: ImageInfo) -> int:
        """The seed's float pipeline holds about 20 planes of 4 bytes at its peak (BGR as float, Lab, ab
        upsampled, the merged Lab, BGR out, the clipped and scaled copies), besides the decoded samples.
        A 99 MP gray JPEG measured 68 bytes a pixel at peak; this charges 78."""
        decoded = 3 if info.format == "jpeg" else max(3, info.channels) * -(-info.bits // 8)
        return info.pixels * (72 + 2 * decoded)

    def model_input(self, frame: LabFrame) -> np.ndarray:
        h, w = self.model.input_size
        small = cv2.resize(frame.lab, (w, h))
        return (small[:, :, 0] - np.float32(self.model.l_offset)) * np.float32(self.model.l_scale)

    def render(self, frame: LabFrame, prediction: np.ndarray, fmt: OutputFormat) -> bytes:
        height, width = frame.lab.shape[:2]
        ab = cv2.resize(np.ascontiguousarray(prediction.transpose(1, 2, 0)), (width, height))
        lab = np.concatenate([frame.lab[:, :, :1], ab], axis=2)
        bgr = cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)
        bgr = (np.clip(bgr, 0, 1) * 255).astype(np.uint8)
        return encode_bgr(bgr, frame.alpha, fmt)

