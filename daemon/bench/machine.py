"""Where the benchmark runs: the CPUs it is pinned to, and the machine it reports."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def pinned(n_cpus: int) -> Iterator[list[int] | None]:
    """Pin every thread of this process (and those it starts) to ``n_cpus`` CPUs.

    Yields the CPUs, or None where pinning is not possible (no sched_setaffinity,
    fewer CPUs allowed than asked for). Restores the threads' affinities after.
    """
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    try:
        allowed = sorted(os.sched_getaffinity(0))
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        yield None
        return
    if n_cpus > len(allowed):
        yield None
        return
    cpus = set(allowed[-n_cpus:])
    saved: dict[int, set[int]] = {}
    for tid in tids:
        with contextlib.suppress(OSError):
            saved[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, cpus)
    try:
        yield sorted(cpus)
    finally:
        for tid, mask in saved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, mask)


def machine() -> dict[str, Any]:
    cpu_model = platform.processor() or None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = None
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpus_allowed": allowed,
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average": load,
    }
