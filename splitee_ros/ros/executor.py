# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Running a node: a multi-threaded executor, so that callbacks in different groups run concurrently."""

from __future__ import annotations

import time
from collections import deque

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation

from splitee_ros.ros.lifecycle import ManagedNode, autostart


class ResilientExecutor(MultiThreadedExecutor):
    """A multi-threaded executor that outlives an entity destroyed while it builds its wait set.

    rclpy adds a publisher's event handlers to the wait set from a snapshot of the node's waitables; when a
    callback destroys that publisher meanwhile (head_node replaces its request writer when `deadline_ms` changes;
    a test's player drops its publishers), the handler raises InvalidHandle and `spin` ends: the node would
    die (ros2/rclpy#1142). Here that wait set is dropped and the next one built, and each time is logged and
    counted (`destroyed_while_waiting`). The race is rare, so a burst of them (`RESTART_BURST` within
    `RESTART_WINDOW_S`) means a handle that stays invalid: that error is raised rather than spun on forever.
    """

    RESTART_BURST = 100
    RESTART_WINDOW_S = 1.0

    def __init__(self, num_threads: int | None = None, context=None) -> None:
        """As MultiThreadedExecutor."""
        super().__init__(num_threads=num_threads, context=context)
        self.destroyed_while_waiting = 0
        self._recent_restarts: deque[float] = deque(maxlen=self.RESTART_BURST)

    def spin(self) -> None:
        """Execute callbacks until shutdown, past entities destroyed mid-wait (but not a burst of them)."""
        while True:
            try:
                super().spin()
                return
            except rclpy_implementation.InvalidHandle as error:
                self.destroyed_while_waiting += 1
                self._recent_restarts.append(time.monotonic())
                if self._in_a_burst():
                    raise
                rclpy.logging.get_logger('executor').warning(
                    f'an entity was destroyed while the executor waited on it ({error}); spinning on '
                    f'({self.destroyed_while_waiting} so far)'
                )

    def _in_a_burst(self) -> bool:
        recent = self._recent_restarts
        return len(recent) == self.RESTART_BURST and recent[-1] - recent[0] < self.RESTART_WINDOW_S


def spin(node_class, args: list[str] | None = None) -> None:
    """Run `node_class` on a multi-threaded executor until Ctrl-C or shutdown.

    A managed node with its `autostart` parameter set is configured and activated first; one whose configure
    fails stays up, unconfigured, reporting why on /diagnostics.
    """
    rclpy.init(args=args)
    node, executor = None, ResilientExecutor(num_threads=4)
    try:
        node = node_class()
        executor.add_node(node)
        if isinstance(node, ManagedNode) and node.get_parameter('autostart').value:
            autostart(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()  # no callback runs while the node is taken apart
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
