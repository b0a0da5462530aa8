"""The Ascend (310 / 310P) backend, and the acl emulator it is tested against.

    acl_api.py    which acl (CANN's or the emulator), calls with return codes checked
    constants.py  pyacl enumerations and return codes
    runtime.py    init / device / context, and the teardown stack everything registers with
    memory.py     device, DVPP and host memory pools; host <-> device copies
    lanes.py      stream + DVPP channel per worker thread; release after sync
    dvpp.py       JPEGD, VPC resize, JPEGE
    ops.py        single operators (LabL, the render's merge operators, and the stock ones around them)
    model.py      the .om on acl.mdl, batched, datasets allocated once
    hostpath.py   per-photo CPU fallbacks (decode, resize, encode)
    backend.py    the four stages
    emulator/     the emulated acl
"""

from acc.backends.ascend.backend import AscendBackend

__all__ = ["AscendBackend"]
