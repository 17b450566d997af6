# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""QoS per topic (DESIGN §5); every publisher and subscription accepts QoS overrides by parameter.

Override, e.g.: `--ros-args -p qos_overrides./splitee/bottleneck.publisher.depth:=3`.
"""

from __future__ import annotations

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions

# Images: depth 5 (as ROS's sensor-data profile) so that the head's callback sees, and counts, every image it drops.
IMAGE = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST)
BOTTLENECK = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST)
DETECTIONS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
TELEMETRY = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
BOTTLENECK_TOPIC = 'splitee/bottleneck'  # vehicle -> edge: bottleneck frames and images
RESULT_TOPIC = 'splitee/edge/result'  # edge -> vehicle: result envelopes (codec.envelope)
PROBE_TOPIC = 'splitee/probe'  # the monitor's link probes, echoed by tail_node
PROBE_REPLY_TOPIC = 'splitee/probe/reply'
PROBE = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST)


def overridable() -> QoSOverridingOptions:
    """Let history, depth and reliability of a topic be set by parameters."""
    return QoSOverridingOptions.with_default_policies()
