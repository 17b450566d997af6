# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The managed nodes' transitions over DDS, through their lifecycle services (as `ros2 lifecycle set` does)."""

import pytest
from conftest import DEMO_PACKAGE
from diagnostic_msgs.msg import DiagnosticStatus

from splitee_ros.tools.harness import Collector, NodeProcess, node_env, poll_until

pytestmark = [pytest.mark.ros, pytest.mark.timeout(600)]


def statuses(collector: Collector, node: str) -> list:
    with collector.lock:
        return [s for array in collector.diagnostics for s in array.status if s.hardware_id.endswith(node)]


def test_a_failing_configure_is_reported_and_a_good_one_serves_until_deactivated(ros_env, tmp_path, runtime_cache):
    domain = int(ros_env['ROS_DOMAIN_ID'])
    env = node_env(domain, runtime_cache)
    collector = Collector(domain)
    head = NodeProcess('head_node', {'model': str(tmp_path / 'no_such_package')}, env, tmp_path, autostart=False)
    tail = NodeProcess('tail_node', {'model': DEMO_PACKAGE}, env, tmp_path, autostart=False)
    try:
        # A configure that fails (no such model package): FAILURE, the node stays unconfigured and alive, and
        # says why on /diagnostics.
        assert collector.lifecycle('head_node') == 'unconfigured'
        assert collector.lifecycle('head_node', 'configure') == 'unconfigured'
        assert head.alive(), head.log_tail()

        def failure_reported() -> bool:
            return any('configure failed' in s.message and 'no_such_package' in s.message
                       and s.level == DiagnosticStatus.ERROR for s in statuses(collector, 'head_node'))  # fmt: skip

        reported = poll_until(failure_reported, 30)
        assert reported, head.log_tail()

        # A good configure loads the model but serves nothing until activate; deactivate stops serving.
        assert collector.lifecycle('tail_node') == 'unconfigured'
        assert collector.node.count_subscribers('splitee/bottleneck') == 0
        assert collector.lifecycle('tail_node', 'configure') == 'inactive', tail.log_tail()
        assert collector.node.count_subscribers('splitee/bottleneck') == 0
        assert collector.lifecycle('tail_node', 'activate') == 'active'
        assert poll_until(lambda: collector.node.count_subscribers('splitee/bottleneck') == 1, 30)
        assert collector.lifecycle('tail_node', 'deactivate') == 'inactive'
        assert poll_until(lambda: collector.node.count_subscribers('splitee/bottleneck') == 0, 30)
        assert collector.lifecycle('tail_node', 'activate') == 'active'  # again, after a deactivate
        assert poll_until(lambda: collector.node.count_subscribers('splitee/bottleneck') == 1, 30)
        assert collector.lifecycle('tail_node', 'deactivate') == 'inactive'
        assert collector.lifecycle('tail_node', 'cleanup') == 'unconfigured'
        assert collector.lifecycle('tail_node', 'shutdown') == 'finalized'
        assert tail.alive(), tail.log_tail()
        active = [s for s in statuses(collector, 'tail_node') if s.level == DiagnosticStatus.ERROR]
        assert active == [], 'a good configure reports no error'
    finally:
        for node in (head, tail):
            node.stop()
        collector.close()
