# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Separate computers, and a slower accelerator, on this machine: cgroups with cores of their own and a CPU quota.

The two hosts share one CPU, so the vehicle's model would run as fast as the edge's (running the whole model
locally would always beat a split), and the two would take turns on the same cores (a vehicle's deadline would
wait behind the edge's work). `cores` keeps each host on cores of its own; a quota of `cpus` cores (e.g. 0.15)
on the head's model thread makes the vehicle's model slower, as a vehicle's accelerator is slower than an edge
server's, while its other threads (ROS, deadlines) run at the CPU's speed, as they do beside an accelerator;
so `tc tbf` makes the link slow. The period is short (4 ms, longer below 0.25 cores), so that a throttled
thread waits at most a few milliseconds at a time. Needs root and the cgroup v1 `cpu` and `cpuset` hierarchies
(cgroup v2 moves whole processes only, outside threaded subtrees).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path('/sys/fs/cgroup')
PERIOD_US = 4000
MIN_QUOTA_US = 1000  # the kernel's least quota: below 0.25 cores the period grows to keep it


def _hierarchies() -> dict[str, Path] | None:
    """Where to make a group per controller (cpu, cpuset); None without both."""
    legacy = {name: CGROUP_ROOT / name for name in ('cpu', 'cpuset')}
    if (legacy['cpu'] / 'cpu.cfs_quota_us').exists() and (legacy['cpuset'] / 'cpuset.cpus').exists():
        return legacy
    controllers = CGROUP_ROOT / 'cgroup.controllers'
    if controllers.exists() and {'cpu', 'cpuset'} <= set(controllers.read_text().split()):
        return {'cpu': CGROUP_ROOT, 'cpuset': CGROUP_ROOT}
    return None


def unavailable_reason() -> str | None:
    """Why such a group cannot be made here, or None if it can."""
    if os.geteuid() != 0:
        return 'a cgroup needs root'
    if _hierarchies() is None:
        return f'no cgroup cpu and cpuset controllers under {CGROUP_ROOT}'
    return None


@dataclass(frozen=True)
class CpuGroup:
    """A cgroup (one folder per controller), and the command prefix that runs a program and its children in it."""

    paths: tuple[Path, ...]
    prefix: list[str]

    def add_thread(self, thread_id: int) -> None:
        """Move one thread of a process (its TID, as /proc/PID/task lists) into the group."""
        for path in self.paths:
            tasks = path / 'tasks'
            if not tasks.exists():
                raise RuntimeError(f'{path} cannot take one thread (cgroup v2 moves whole processes)')
            tasks.write_text(f'{thread_id}\n')

    def throttled_periods(self) -> int:
        """How many periods the group's processes were held back (its quota spent)."""
        for path in self.paths:
            if (path / 'cpu.stat').exists():
                stat = dict(line.split() for line in (path / 'cpu.stat').read_text().splitlines())
                return int(stat.get('nr_throttled', 0))
        return 0


@contextmanager
def cpu_group(name: str, cpus: float | None = None, cores: Sequence[int] = ()) -> Iterator[CpuGroup]:
    """A cgroup limited to `cpus` cores of CPU time (None: no quota), on `cores` only (empty: any), as a `CpuGroup`.

    A controller is used only if asked for: a group with a quota only leaves the cores as they were.

    The group is removed on exit; processes still in it then go back to the root group, unlimited.
    """
    count = os.cpu_count() or 1
    if cpus is not None and not 0.01 <= cpus <= count:
        raise ValueError(f'cpus must be between 0.01 and {count}, not {cpus}')
    if any(not 0 <= core < count for core in cores):
        raise ValueError(f'cores must be among 0..{count - 1}, not {list(cores)}')
    reason, found = unavailable_reason(), _hierarchies()
    if reason or found is None:
        raise RuntimeError(reason)
    needed = [controller for controller, wanted in (('cpu', cpus is not None), ('cpuset', bool(cores))) if wanted]
    groups = {controller: found[controller] / f'splitee-{name}' for controller in needed}
    made: list[Path] = []
    try:
        for group in dict.fromkeys(groups.values()):  # one folder on cgroup v2
            group.mkdir(exist_ok=True)
            made.append(group)
        if cpus is not None:
            _set_quota(groups['cpu'], cpus, unified=found['cpu'] == found['cpuset'])
        if cores:
            _set_cores(groups['cpuset'], cores)
        # the shell moves itself into the groups, then becomes the program: its children are born inside
        moves = ''.join(f'echo $$ > {group / "cgroup.procs"} && ' for group in made)
        yield CpuGroup(tuple(made), ['sh', '-c', f'{moves}exec "$@"', 'cpu-group'])
    finally:
        for group in made:
            for pid in (group / 'cgroup.procs').read_text().split():
                with contextlib.suppress(OSError):  # it may have exited meanwhile
                    (group.parent / 'cgroup.procs').write_text(pid + '\n')
            group.rmdir()


def _set_quota(group: Path, cpus: float, unified: bool) -> None:
    period = max(PERIOD_US, math.ceil(MIN_QUOTA_US / cpus))
    quota = round(cpus * period)
    if unified:
        (group / 'cpu.max').write_text(f'{quota} {period}\n')
    else:
        (group / 'cpu.cfs_period_us').write_text(f'{period}\n')
        (group / 'cpu.cfs_quota_us').write_text(f'{quota}\n')


def _set_cores(group: Path, cores: Sequence[int]) -> None:
    (group / 'cpuset.cpus').write_text(','.join(str(core) for core in cores) + '\n')
    mems = group / 'cpuset.mems'
    if mems.exists() and not mems.read_text().strip():  # cgroup v1 takes no task before its memory nodes are set
        mems.write_text((group.parent / 'cpuset.mems').read_text())
