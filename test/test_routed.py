# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Vehicle and edge across a routed network: two subnets, a router namespace between them, no multicast.

A vehicle reaches an edge site through routers, which do not forward DDS's multicast discovery. Here each host
has a route to the other's subnet through the router and none for 224.0.0.0/4; the nodes find each other as
static peers (`ROS_STATIC_PEERS`, with automatic discovery kept on their own host). The camera starts only
once the edge's subscription to the vehicle's bottleneck has been discovered across the router; the test then
asserts that the edge serves the vehicle's frames, each answered once.
"""

from __future__ import annotations

import pytest

from splitee_ros.tools.netns import routed_hosts, run_two_hosts, unavailable_reason

pytestmark = [
    pytest.mark.ros,
    pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason())),
    pytest.mark.timeout(400),
]

FPS, SECONDS = 4.0, 10.0
DEADLINE_MS = 1500.0  # generous: the test is about reaching the edge, not about its speed on a shared machine


def test_the_router_forwards_unicast_and_no_multicast():
    with routed_hosts('91') as (vehicle, edge):
        assert not vehicle.routes_multicast() and not edge.routes_multicast()
        assert vehicle.address.rsplit('.', 1)[0] != edge.address.rsplit('.', 1)[0]  # two subnets


def test_the_edge_serves_a_vehicle_across_a_router(tmp_path, runtime_cache, demo_exports):
    common = {'backend': 'onnxruntime', 'threads': 1}
    head = {**common, 'mode': 'split', 'deadline_ms': DEADLINE_MS, 'input_type': 'compressed',
            'image_queue_depth': 8, 'qos_overrides./image/compressed.subscription.reliability': 'reliable',
            'qos_overrides./image/compressed.subscription.depth': 50}  # fmt: skip
    camera = ['--fps', str(FPS), '--duration', str(SECONDS)]
    run = run_two_hosts([(0.0, 20.0)], head, common, None, camera, tmp_path,
                        env={'SPLITEE_CACHE': str(runtime_cache)}, routed=True)  # fmt: skip
    record = run.record
    published = {key for key, _, _ in record['published']}
    outcomes = {key: outcome for _, outcome, key, _ in record['telemetry'] if outcome != 'late'}
    dropped = {key for key, outcome in outcomes.items() if outcome == 'dropped'}
    assert len(published) == int(FPS * SECONDS)
    assert {key: record['results'].get(key) for key in published - dropped} == dict.fromkeys(published - dropped, 1), (
        run.logs['head_node'][-3000:]
    )
    served = [key for key in published if outcomes.get(key) == 'edge']
    assert len(served) >= 0.5 * len(published), (outcomes, run.logs['tail_node'][-3000:])
