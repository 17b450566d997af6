# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The edge's answer to a link probe: its header and token, not its payload (the probe times the uplink)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sensor_msgs.msg import CompressedImage

from splitee_ros.nodes.monitor_node import PROBE_TOKEN_BYTES
from splitee_ros.nodes.tail_node import TailNode
from splitee_ros.ros.qos import PROBE_ECHO_BYTES

pytestmark = pytest.mark.timeout(30)


def test_the_edge_echoes_a_probes_header_and_token_only():
    sent: list[CompressedImage] = []
    vehicle = SimpleNamespace(probe_replies=SimpleNamespace(publish=sent.append))
    token = bytes(range(1, PROBE_TOKEN_BYTES + 1))
    probe = CompressedImage(format='probe', data=token + bytes(65536 - PROBE_TOKEN_BYTES))
    probe.header.frame_id = 'probe/monitor_node/7'
    TailNode._echo_probe(vehicle, probe)
    (reply,) = sent
    assert reply.header.frame_id == 'probe/monitor_node/7' and reply.format == 'probe'
    assert bytes(reply.data) == token and len(reply.data) == PROBE_ECHO_BYTES  # the monitor's check still holds
