# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""A slower vehicle on this machine: the vehicle's processes in a CPU cgroup with a CFS quota.

The two hosts share one CPU, so the vehicle would be as fast as the edge, and running the whole model locally
would always beat a split. A vehicle computer is slower than an edge server; a quota of `cpus` cores (e.g.
0.3) makes it so, as `tc tbf` makes the link slow. The period is short (4 ms, longer below 0.25 cores), so that
a throttled process waits at most a few milliseconds at a time: a deadline timer stays on time. Needs root and
a cgroup v1 `cpu` hierarchy or cgroup v2 with the `cpu` controller.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path('/sys/fs/cgroup')
PERIOD_US = 4000
MIN_QUOTA_US = 1000  # the kernel's least quota: below 0.25 cores the period grows to keep it


def _hierarchy() -> tuple[Path, bool] | None:
    """The cgroup folder under which to make a group, and whether it is cgroup v2; None without a cpu controller."""
    if (CGROUP_ROOT / 'cpu' / 'cpu.cfs_quota_us').exists():
        return CGROUP_ROOT / 'cpu', False
    controllers = CGROUP_ROOT / 'cgroup.controllers'
    if controllers.exists() and 'cpu' in controllers.read_text().split():
        return CGROUP_ROOT, True
    return None


def unavailable_reason() -> str | None:
    """Why a CPU quota cannot be set here, or None if it can."""
    if os.geteuid() != 0:
        return 'a cgroup CPU quota needs root'
    if _hierarchy() is None:
        return f'no cgroup cpu controller under {CGROUP_ROOT}'
    return None


@dataclass(frozen=True)
class CpuGroup:
    """A cgroup with a CPU quota, and the command prefix that runs a program (and its children) in it."""

    path: Path
    prefix: list[str]

    def throttled_periods(self) -> int:
        """How many periods the group's processes were held back (its quota spent)."""
        stat = dict(line.split() for line in (self.path / 'cpu.stat').read_text().splitlines())
        return int(stat['nr_throttled'])


@contextmanager
def cpu_quota(name: str, cpus: float) -> Iterator[CpuGroup]:
    """A cgroup limited to `cpus` cores, as a `CpuGroup`.

    The group is removed on exit; processes still in it then go back to the root group, unlimited.
    """
    cores = os.cpu_count() or 1
    if not 0.01 <= cpus <= cores:
        raise ValueError(f'cpus must be between 0.01 and {cores}, not {cpus}')
    reason, found = unavailable_reason(), _hierarchy()
    if reason or found is None:
        raise RuntimeError(reason)
    hierarchy, unified = found
    group = hierarchy / f'splitee-{name}'
    group.mkdir(exist_ok=True)
    try:
        period = max(PERIOD_US, math.ceil(MIN_QUOTA_US / cpus))
        quota = round(cpus * period)
        if unified:
            (group / 'cpu.max').write_text(f'{quota} {period}\n')
        else:
            (group / 'cpu.cfs_period_us').write_text(f'{period}\n')
            (group / 'cpu.cfs_quota_us').write_text(f'{quota}\n')
        # the shell moves itself into the group, then becomes the program: its children are born inside
        yield CpuGroup(group, ['sh', '-c', f'echo $$ > {group / "cgroup.procs"} && exec "$@"', 'cpu-quota'])
    finally:
        for pid in (group / 'cgroup.procs').read_text().split():
            with contextlib.suppress(OSError):  # it may have exited meanwhile
                (hierarchy / 'cgroup.procs').write_text(pid + '\n')
        group.rmdir()
