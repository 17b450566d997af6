# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Running a node: a multi-threaded executor, so that callbacks in different groups run concurrently."""

from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

from splitee_ros.ros.lifecycle import ManagedNode, autostart


def spin(node_class, args: list[str] | None = None) -> None:
    """Run `node_class` on a multi-threaded executor until Ctrl-C or shutdown.

    A managed node with its `autostart` parameter set is configured and activated first; one whose configure
    fails stays up, unconfigured, reporting why on /diagnostics.
    """
    rclpy.init(args=args)
    node, executor = None, MultiThreadedExecutor(num_threads=4)
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
