# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""QoS per topic (DESIGN §5); every publisher and subscription accepts QoS overrides by parameter.

Override, e.g.: `--ros-args -p qos_overrides./splitee/bottleneck.publisher.depth:=3`.

Two policies know time and life. A bottleneck lives as long as its frame's deadline (`with_lifespan`): the
head's writer never resends a frame that is past it, and an edge reader with a lifespan drops one that
arrives past it (against the sender's clock: the hosts keep time with NTP or PTP). The edge's result writers
assert their liveliness (`with_liveliness`) and the vehicle's result reader requests a lease: Fast DDS reports
a writer lost when the *reader's* lease passes without an assertion (`bench/faults_bench.py` measures how soon
the vehicle notices a killed edge), and matches only writers whose lease is no longer than the reader's.
"""

from __future__ import annotations

import copy

from rclpy.duration import Duration
from rclpy.qos import HistoryPolicy, LivelinessPolicy, QoSProfile, ReliabilityPolicy
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
PROBE_ECHO_BYTES = 8  # a reply carries the probe's header and its first bytes (the token): probes time the uplink
PROBE = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST)


def with_lifespan(profile: QoSProfile, seconds: float) -> QoSProfile:
    """`profile` whose samples expire `seconds` after they were published (0: never)."""
    timed = copy.copy(profile)
    timed.lifespan = Duration(nanoseconds=round(seconds * 1e9))
    return timed


def with_liveliness(profile: QoSProfile, lease_s: float) -> QoSProfile:
    """`profile` with automatic liveliness: a writer asserts it within `lease_s`, a reader requires it."""
    alive = copy.copy(profile)
    alive.liveliness = LivelinessPolicy.AUTOMATIC
    alive.liveliness_lease_duration = Duration(nanoseconds=round(lease_s * 1e9))
    return alive


def overridable() -> QoSOverridingOptions:
    """Let history, depth and reliability of a topic be set by parameters."""
    return QoSOverridingOptions.with_default_policies()
