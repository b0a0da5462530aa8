"""What the Ray tests need inside Ray's worker processes: a test backend, registered by name in every
worker (Ray runs register() there as the job's worker_process_setup_hook; tests/ is on their PYTHONPATH).

The backend is the opencv baseline, plus what a test sets up through photos of a chosen width:
KILL_ONCE_WIDTH kills its worker process the first time it is decoded, KILL_ALWAYS_WIDTH every time,
SLOW_WIDTH takes SLOW_SECONDS.
Every decode notes the node it ran on. All of it is kept in the folder named by $ACC_RAY_TEST_DIR.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

from acc.backends import BACKENDS
from acc.backends.opencv import OpenCVBackend

DIR_ENV = "ACC_RAY_TEST_DIR"
NAME = "raytest"
KILL_ONCE_WIDTH = 77
KILL_ALWAYS_WIDTH = 78
SLOW_WIDTH = 79  # takes SLOW_SECONDS to decode: work long enough for a slow-starting worker to get some
SLOW_SECONDS = 0.3


def register() -> None:
    BACKENDS[NAME] = "ray_support:RayTestBackend"


def state_dir() -> Path:
    return Path(os.environ[DIR_ENV])


class RayTestBackend(OpenCVBackend):
    def decode(self, data, info):
        import ray

        node = ray.get_runtime_context().get_node_id()
        with open(state_dir() / f"node-{node}", "a") as f:
            f.write(f"{info.width}\n")
        if info.width == SLOW_WIDTH:
            time.sleep(SLOW_SECONDS)
        if info.width in (KILL_ONCE_WIDTH, KILL_ALWAYS_WIDTH):
            digest = hashlib.blake2b(data, digest_size=8).hexdigest()
            deaths = state_dir() / f"killed-{digest}"
            if info.width == KILL_ALWAYS_WIDTH or not deaths.exists():
                with open(deaths, "a") as f:
                    f.write(f"{os.getpid()}\n")
                os.kill(os.getpid(), signal.SIGKILL)
        return super().decode(data, info)
