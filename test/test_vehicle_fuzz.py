# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Live fuzzing of the vehicle's inputs over DDS, valid frames interleaved, and of every node's parameters.

head_node takes camera images and edge results from the network; monitor_node takes probe replies; every
node takes SetParameters. The short runs here; the long ones are `bench/vehicle_fuzz.py`. Each fuzzed input is
rejected and counted by reason, every valid frame is answered once, nothing non-finite is published, no node
dies, and no wrong parameter value is taken.
"""

import math

import pytest
from conftest import DEMO_PACKAGE

from splitee_ros.data.bag import IMAGE_TOPIC
from splitee_ros.data.synth import sample_frames
from splitee_ros.model.package import ModelPackage
from splitee_ros.ros.parameter_table import TABLES
from splitee_ros.tools.fuzz import fuzz_head, fuzz_parameters, fuzz_probe_replies
from splitee_ros.tools.harness import Collector, NodeProcess, node_env

pytestmark = [pytest.mark.ros, pytest.mark.timeout(900)]
DEEP = 1000  # the fuzzed topics are reliable and this deep: every message sent arrives, so each can be counted


def vehicle_and_edge(domain: int, cache, folder, depth: int = DEEP):
    env = node_env(domain, cache)
    common = {'model': DEMO_PACKAGE, 'backend': 'onnxruntime', 'threads': 1}
    head = {
        **common, 'split_point': 'stage2', 'exits_enabled': False, 'deadline_ms': 5000.0, 'image_queue_depth': 100,
        'qos_overrides./camera/image_raw.subscription.reliability': 'reliable',
        'qos_overrides./camera/image_raw.subscription.depth': depth,
        'qos_overrides./splitee/edge/result.subscription.depth': depth,
        'qos_overrides./splitee/bottleneck.publisher.reliability': 'reliable',
    }  # fmt: skip
    tail = {**common, 'qos_overrides./splitee/bottleneck.subscription.reliability': 'reliable'}
    return {
        'tail_node': NodeProcess('tail_node', tail, env, folder),
        'head_node': NodeProcess('head_node', head, env, folder, {'image': IMAGE_TOPIC}),
        'monitor_node': NodeProcess('monitor_node', {'probe_hz': 20.0, 'adaptation_enabled': False}, env, folder),
    }


def test_the_vehicle_serves_on_through_fuzzed_images_results_probes_and_parameters(ros_env, runtime_cache, tmp_path,
                                                                                   demo_exports):  # fmt: skip
    domain = int(ros_env['ROS_DOMAIN_ID'])
    nodes = vehicle_and_edge(domain, runtime_cache, tmp_path)
    collector = Collector(domain)
    try:
        assert collector.wait_until_active(['tail_node', 'head_node'], 300), nodes['head_node'].log_tail()
        class_count = len(ModelPackage.load(DEMO_PACKAGE).config.class_names)

        # Camera images and edge results: one valid frame in four.
        report = fuzz_head(collector, nodes['head_node'].process.pid, sample_frames(3, seed=31), class_count,
                           messages=240, seed=3, rate_hz=20.0)  # fmt: skip
        details = report.as_dict()
        assert report.valid_frames == 60 and report.valid_answered_once == report.valid_frames, details
        assert set(report.outcomes) <= {'edge', 'fallback'} and report.outcomes['edge'] >= 1, details
        assert report.answered_twice == 0 and report.foreign_answers == 0, details
        assert report.non_finite_published == 0, details
        images = sum(n for kind, n in report.sent.items() if kind.startswith('images/') and kind != 'images/valid')
        results = sum(n for kind, n in report.sent.items() if kind.startswith('results/'))

        def image_rejections(values: dict[str, str]) -> int:
            return sum(int(v) for k, v in values.items() if k.startswith('rejected_image_'))

        def result_rejections(values: dict[str, str]) -> int:
            kept = ('unknown_edge_results', 'duplicate_edge_results')
            return sum(int(v) for k, v in values.items() if k.startswith('rejected_result_') or k in kept)

        counted = collector.wait_for_health(
            'head_node', lambda v: image_rejections(v) == images and result_rejections(v) == results
        )
        assert image_rejections(counted) == images, (counted, details)  # every malformed image, by reason
        assert result_rejections(counted) == results, (counted, details)  # every forged result, by reason
        assert len([k for k in counted if k.startswith('rejected_result_')]) >= 2, counted

        # Probe replies: forged, duplicated, reordered; the link estimate stays a measurement.
        sent = fuzz_probe_replies(collector, messages=200, seed=5, rate_hz=100.0)
        # probes are best effort (depth 5): a busy monitor may lose some of the flood, so every kind of forgery
        # must be counted, not every message
        kinds = ('probe_replies_foreign', 'probe_replies_forged', 'probe_replies_unknown')
        link = collector.wait_for_health(
            'monitor_node', lambda v: all(int(v.get(kind, 0)) >= 1 for kind in kinds), status='splitee: link'
        )
        assert all(int(link.get(kind, 0)) >= 1 for kind in kinds), (link, sent)
        assert 'rtt_ms' in link and math.isfinite(float(link['rtt_ms'])) and float(link['rtt_ms']) >= 0, link

        # Parameters: every one, with wrong types and out-of-range values; none is taken.
        for node in ('head_node', 'tail_node', 'monitor_node'):
            outcome = fuzz_parameters(collector, node, TABLES[node])
            assert outcome.get('accepted', 0) == 0, (node, outcome['accepted_values'])
            assert outcome['refused'] == outcome['attempts'] > 0, (node, outcome)
        for name, process in nodes.items():
            assert process.alive(), (name, process.log_tail())
    finally:
        for process in nodes.values():
            process.stop()
        collector.close()
