"""The colour maths on NVIDIA GPUs: numba-cuda kernels, each checked against kernels/reference.py.

    target.py    numba.cuda on the GPU or in numba-cuda's simulator; the first import decides
    lab_l.py     LabL:    a batch of luma planes -> model inputs, one launch
    ab_merge.py  AbMerge: ab + luma planes -> interleaved 8-bit RGB (or BGR), one launch
    ptx.py       compiles every kernel to PTX (CI: `python -m acc.kernels.cuda.ptx`)

A batch lives in flat buffers: photo n's luma is heights[n] x widths[n] bytes, row-major, from
offsets[n] on; AbMerge writes its 3 x heights[n] x widths[n] output bytes from out_offsets[n] on. One launch covers the batch: grid
(blocks, N), block row n works on photo n with a grid-stride loop. The per-pixel maths is the CPU
kernels' own (kernels/cpu: tap, srgb_indices, the same tables), called from the device code, so the
two devices sample and round alike; the tables are arguments, read through the L1 cache (constant memory
would serve a warp's different entries one at a time).

The kernel modules import numba.cuda as target.py left it: call target.numba_cuda(emulate) first.
"""
