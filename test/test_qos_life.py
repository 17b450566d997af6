# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""QoS that knows time and life: requests expire with their deadline; the vehicle learns at once of a dead edge.

Fast DDS applies a reader's lifespan against each sample's source time, and reports a writer lost when the
reader's liveliness lease passes without an assertion. The first test checks that the profiles built here do
that in this middleware; the second that the nodes use them: a bottleneck writer whose lifespan follows the
deadline, result writers that assert liveliness, and a head that, when its edge is killed, answers every
frame with its fallback at once rather than at the deadline, and uses the restarted edge again.
"""

import os
import time

import pytest
import rclpy
from conftest import DEMO_PACKAGE
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import LivelinessPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from splitee_ros.data.bag import IMAGE_TOPIC
from splitee_ros.data.synth import sample_frames
from splitee_ros.ros import qos
from splitee_ros.ros.qos import BOTTLENECK_TOPIC, RESULT_TOPIC
from splitee_ros.tools.harness import Camera, Collector, NodeProcess, localhost_discovery, node_env, poll_until

pytestmark = [pytest.mark.ros]
DEADLINE_MS = 5000.0  # long: a frame that falls back before it did so because the edge was known dead


@pytest.mark.timeout(120)
def test_a_reader_lifespan_drops_what_waited_longer_and_keeps_what_is_fresh(ros_env):
    os.environ.update(localhost_discovery())
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(ros_env['ROS_DOMAIN_ID']))
    try:
        writer, reader = Node('writer', context=context), Node('reader', context=context)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        received: list[str] = []
        publisher = writer.create_publisher(String, 'lifespan_check', reliable)
        reader.create_subscription(String, 'lifespan_check', lambda m: received.append(m.data),
                                   qos.with_lifespan(reliable, 0.2))  # fmt: skip
        assert poll_until(lambda: publisher.get_subscription_count() >= 1, 60.0)
        publisher.publish(String(data='stale'))
        time.sleep(0.6)  # it waits in the reader, not taken, past its lifespan
        publisher.publish(String(data='fresh'))
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(reader)
        for _ in range(40):
            executor.spin_once(timeout_sec=0.05)
            if received:
                break
        assert received == ['fresh']
    finally:
        rclpy.shutdown(context=context)


def endpoint_qos(collector: Collector, topic: str, publishers: bool, node: str):
    """The QoS of `node`'s endpoint on `topic`, as the ROS graph shows it (None until discovered)."""
    infos = (
        collector.node.get_publishers_info_by_topic if publishers else collector.node.get_subscriptions_info_by_topic
    )(topic)
    return next((info.qos_profile for info in infos if info.node_name == node), None)


@pytest.mark.timeout(600)
def test_the_head_falls_back_at_once_when_its_edge_dies_and_returns_to_it(
    ros_env, runtime_cache, tmp_path, demo_exports
):
    domain = int(ros_env['ROS_DOMAIN_ID'])
    env = node_env(domain, runtime_cache)
    common = {'model': DEMO_PACKAGE, 'backend': 'onnxruntime', 'threads': 1}
    tail_parameters = {**common, 'request_lifespan_ms': 2000.0, 'liveliness_lease_ms': 500.0,
                       'qos_overrides./splitee/bottleneck.subscription.reliability': 'reliable'}  # fmt: skip
    head_parameters = {
        **common, 'split_point': 'stage2', 'exits_enabled': False, 'deadline_ms': DEADLINE_MS, 'edge_lease_ms': 1000.0,
        'image_queue_depth': 50, 'qos_overrides./camera/image_raw.subscription.reliability': 'reliable',
        'qos_overrides./camera/image_raw.subscription.depth': 50,
        'qos_overrides./splitee/bottleneck.publisher.reliability': 'reliable',
    }  # fmt: skip
    tail = NodeProcess('tail_node', tail_parameters, env, tmp_path)
    head = NodeProcess('head_node', head_parameters, env, tmp_path, {'image': IMAGE_TOPIC})
    collector = Collector(domain)
    camera = Camera(collector.node, sample_frames(2, seed=9), IMAGE_TOPIC)
    try:
        assert collector.wait_until_active(['tail_node', 'head_node'], 300), head.log_tail() + tail.log_tail()
        alive = collector.wait_for_health('head_node', lambda values: values.get('edges_alive') == '1')
        assert alive.get('edges_alive') == '1', alive

        # The QoS on the graph: requests live as long as the deadline (and follow it), results promise liveliness.
        endpoints = (('/' + BOTTLENECK_TOPIC, True, 'head_node'), ('/' + BOTTLENECK_TOPIC, False, 'tail_node'),
                     ('/' + RESULT_TOPIC, True, 'tail_node'))  # fmt: skip
        assert poll_until(lambda: all(endpoint_qos(collector, *endpoint) is not None for endpoint in endpoints), 60.0)
        assert endpoint_qos(collector, '/' + BOTTLENECK_TOPIC, True, 'head_node').lifespan.nanoseconds == 5 * 10**9
        assert endpoint_qos(collector, '/' + BOTTLENECK_TOPIC, False, 'tail_node').lifespan.nanoseconds == 2 * 10**9
        result_writer = endpoint_qos(collector, '/' + RESULT_TOPIC, True, 'tail_node')
        assert result_writer.liveliness == LivelinessPolicy.AUTOMATIC
        assert result_writer.liveliness_lease_duration.nanoseconds == 5 * 10**8
        assert all(r.successful for r in collector.set_parameters('head_node', {'deadline_ms': 4000.0}))
        # the head replaces its writer (a lifespan is fixed at creation); the graph may list the old one a while
        assert poll_until(
            lambda: any(
                info.node_name == 'head_node' and info.qos_profile.lifespan.nanoseconds == 4 * 10**9
                for info in collector.node.get_publishers_info_by_topic('/' + BOTTLENECK_TOPIC)
            ),
            60.0,
        )

        # The edge serves; then it is killed mid-stream (no goodbye): every frame is still answered once, those
        # waiting for the edge and those after at once, before their deadline, each saying why.
        camera.start(0.25)
        assert collector.wait_for_outcomes('edge', 2, 120), collector.outcomes()
        tail.process.kill()
        killed = time.monotonic()
        lost = collector.wait_for_health('head_node', lambda values: values.get('edges_alive') == '0')
        noticed_s = time.monotonic() - killed
        assert lost.get('edges_alive') == '0' and int(lost.get('edge_lost', 0)) == 1, lost
        time.sleep(1.5)
        camera.stop()
        sent = list(camera.sent)
        assert collector.wait_for_results(sent, 120), collector.outcomes()
        assert all(collector.result_counts[key] == 1 for key in sent)
        frames = collector.head_frames()
        at_once = [values for outcome, values in frames.values() if values.get('reason') == 'no live edge']
        assert at_once and all(float(values['latency_ms']) < 4000.0 for values in at_once), (noticed_s, at_once)
        assert {outcome for outcome, _ in frames.values()} <= {'edge', 'fallback'}, collector.outcomes()

        # Restarted (a new participant): the head hears it come alive and sends to it again.
        tail = NodeProcess('tail_node', tail_parameters, env, tmp_path)
        back = collector.wait_for_health('head_node', lambda values: values.get('edges_alive') == '1', 300)
        assert back.get('edges_alive') == '1', (back, tail.log_tail())
        collector.clear()
        camera.sent.clear()
        camera.start(0.25)
        try:
            assert collector.wait_for_outcomes('edge', 2, 120), (collector.outcomes(), tail.log_tail())
        finally:
            camera.stop()
        assert head.alive(), head.log_tail()
    finally:
        head.stop()
        tail.stop()
        collector.close()
