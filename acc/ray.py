"""acc inside your own Ray Data pipeline: a callable class for Dataset.map_batches.

    import ray
    from acc.ray import Colorize

    ds = ray.data.read_binary_files("scans/", include_paths=True)          # columns: bytes, path
    ds = ds.map_batches(Colorize, fn_constructor_kwargs={"quality": 92}, batch_size=16,
                        compute=ray.data.ActorPoolStrategy(size=2))
    for row in ds.iter_rows():                                            # path, colorized, error
        ...

Each actor holds one acc.Colorizer (one loaded model). A photo acc cannot colorize is a row whose
`error` says why (and whose `colorized` is None), never a failed task. This module imports no Ray: the
class is a plain callable on dict-of-numpy batches (batch_format "numpy", Ray Data's default), so
`import acc.ray` works anywhere and `import acc` never imports it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from acc.api import Colorizer
from acc.pipeline import describe


class Colorize:
    """Colorize the encoded photos in a batch's `column` (bytes, as read_binary_files gives them).

    Args:
        column: the input column of encoded photos (JPEG, PNG, BMP, TIFF, WebP).
        format, quality: the output encoding, as colorize_bytes() takes them.
        model, backend, **settings: as acc.Colorizer takes them (batch_size, threads, saturation, ...).

    Returns per batch: every input column but `column`, plus `colorized` (the encoded result, the bytes
    `acc colorize` writes for that file and settings, or None) and `error` (None, or the one-line reason).
    """

    def __init__(self, column: str = "bytes", format: str = "jpeg", quality: int = 95, model: str | None = None,
                 backend: str = "cpu", **settings: Any) -> None:  # fmt: skip
        self.column = column
        self.format = format
        self.quality = quality
        self.colorizer = Colorizer(model=model, backend=backend, **settings)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        photos = [bytes(data) for data in batch[self.column]]
        try:
            results: list[Any] = self.colorizer.colorize_each(photos, self.format, self.quality)
        except Exception as exc:  # the model failed on the batch (a device error): every row says so
            results = [exc] * len(photos)
        out = {name: values for name, values in batch.items() if name != self.column}
        out["colorized"] = np.array([r if isinstance(r, bytes) else None for r in results], dtype=object)
        out["error"] = np.array([None if isinstance(r, bytes) else describe(r) for r in results], dtype=object)
        return out
