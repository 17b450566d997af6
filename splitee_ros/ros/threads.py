# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Worker threads that carry their name to the OS, where `top -H`, `ps -L` and cgroups see it.

An operator can then tell which of a node's threads burns the CPU, and pin, prioritise or limit that one
(`taskset -p`, `chrt -p`, a cgroup's `tasks`): on a vehicle, the model thread apart from the deadline thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Protocol

PR_SET_NAME = 15  # prctl(2): the calling thread's name, at most 15 bytes
OS_NAME_BYTES = 15
RESTART_PAUSE_S = 0.05


def _set_os_name(name: str) -> None:
    """Name the calling thread for the OS (Linux; elsewhere Python's name only)."""
    if not sys.platform.startswith('linux'):
        return
    libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
    libc.prctl(PR_SET_NAME, name.encode()[:OS_NAME_BYTES], 0, 0, 0)


def named_thread(
    target: Callable[[], None], name: str, on_error: Callable[[Exception], None] | None = None
) -> threading.Thread:
    """A daemon thread running `target`, named `name` (at most 15 characters) in Python and in the OS.

    With `on_error`, an exception that escapes `target` is handed to it and `target` runs again: a node's
    worker loop (which checks by itself whether to go on) must not end silently while the node reports health.
    """
    if len(name.encode()) > OS_NAME_BYTES:
        raise ValueError(f'a thread name has at most {OS_NAME_BYTES} bytes for the OS: {name!r}')

    def run() -> None:
        _set_os_name(name)
        while True:
            try:
                target()
                return
            except Exception as error:
                if on_error is None:
                    raise
                on_error(error)
                time.sleep(RESTART_PAUSE_S)  # a loop that fails at once must not spin

    return threading.Thread(target=run, name=name, daemon=True)


class _Context(Protocol):
    def ok(self) -> bool: ...


class _Logger(Protocol):
    def error(self, message: str, *, throttle_duration_sec: float = ...) -> object: ...


class WorkerOwner(Protocol):
    """What `report_worker_error` uses of a node: an rclpy Node, or a test's stand-in."""

    @property
    def context(self) -> _Context:
        """The node's rclpy context: shut down by Ctrl-C before the node stops."""
        ...

    def get_logger(self) -> _Logger:
        """The node's logger."""
        ...


def report_worker_error(node: WorkerOwner, counts: MutableMapping[str, int], error: Exception) -> None:
    """A node's worker loop raised (a defect): counted as `thread_errors` and logged, and the loop goes on.

    Not once the node's context is shut down (Ctrl-C, before the node is stopped): then a publish in flight
    fails for that reason alone, nothing can be reported, and stopping the node ends its loops.
    """
    if not node.context.ok():
        return
    counts['thread_errors'] += 1
    node.get_logger().error(f'{threading.current_thread().name}: {error!r}', throttle_duration_sec=5.0)
