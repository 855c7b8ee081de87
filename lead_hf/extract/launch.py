"""Running extraction as several processes (``accelerate launch`` / ``torchrun`` of
``scripts/extract_logits.py``): detecting a launch, the message for a launch that started one process,
and ending each worker with its launcher.
"""
from __future__ import annotations

import os
import signal
import sys

CPU_LAUNCH = ("ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes N --num_machines 1 "
              "--mixed_precision no --dynamo_backend no scripts/extract_logits.py ...")


def under_launcher(env=None) -> bool:
    """Whether this process is one worker of torchrun / accelerate's multi-process launch."""
    env = os.environ if env is None else env
    return "LOCAL_RANK" in env and "WORLD_SIZE" in env


def launch_problem(num_processes: int, env=None) -> str | None:
    """The message for ``accelerate launch --cpu --num_processes N``: accelerate's simple launcher then
    starts one process (it exports MASTER_ADDR for N > 1 but no WORLD_SIZE), not N."""
    env = os.environ if env is None else env
    if num_processes == 1 and "MASTER_ADDR" in env and not under_launcher(env):
        return ("more than one process was asked for, but this launcher started just one (accelerate launch "
                f"--cpu runs a single process). For several CPU processes use: {CPU_LAUNCH} (or ACCELERATE_USE_CPU=1 "
                "torchrun --nproc_per_node N scripts/extract_logits.py ...)")
    return None


def stop_with_parent() -> bool:
    """Make this worker end when its launcher ends, even a launcher killed with SIGKILL (Linux
    PR_SET_PDEATHSIG: the kernel sends SIGTERM when the parent dies). Returns whether it is armed."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGTERM), 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() == 1:  # the launcher died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)
    return True
