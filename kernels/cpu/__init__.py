"""The colour maths on the CPU: numba kernels, each checked against kernels/reference.py.

    lab_l.py     LabL:    luminance codes -> model input; colour pixels -> exact L codes
    ab_merge.py  AbMerge: ab + full-size luminance codes -> 8-bit BGR, one fused pass
    taps.py      the bilinear sampling geometry both share (OpenCV INTER_LINEAR)

Kernels release the GIL (nogil), are compiled on first use and cached on disk (cache=True), and the
full-size ones run on all cores (prange).
"""

import numba

# acc's runner calls kernels from several threads at once; numba's default 'workqueue' layer aborts
# on concurrent parallel calls, so ask for a thread-safe one (OpenMP or TBB).
numba.config.THREADING_LAYER = "threadsafe"
