# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Offline regression: a recorded bottleneck bag replays into the edge and reproduces its answers."""

import threading

import numpy as np
import pytest
from conftest import DEMO_PACKAGE
from sensor_msgs.msg import CompressedImage

from splitee_ros.codec.envelope import Status, decode_envelope
from splitee_ros.data.compressed_bag import CompressedMessage, read_compressed_messages, write_compressed_bag
from splitee_ros.data.synth import sample_frames
from splitee_ros.model.package import ModelPackage
from splitee_ros.pipeline.head import HeadPipeline, HeadSettings
from splitee_ros.pipeline.tail import TailPipeline
from splitee_ros.ros import qos
from splitee_ros.ros.qos import BOTTLENECK_TOPIC, RESULT_TOPIC
from splitee_ros.runtime.base import make_runtime
from splitee_ros.tools.harness import Collector, NodeProcess, node_env, poll_until
from splitee_ros.tools.player import PlayOptions, play

pytestmark = [pytest.mark.ros, pytest.mark.timeout(400)]
FRAMES = 6
START_NS = 1_700_000_000 * 10**9


def recorded_bottlenecks(cache) -> list[CompressedMessage]:
    """What head_node would have sent for sample frames (codes at two splits), as a recording holds it."""
    package = ModelPackage.load(DEMO_PACKAGE)
    head = HeadPipeline(make_runtime(DEMO_PACKAGE, 'onnxruntime', 'head', cache=cache),
                        {c.name: c for c in package.codecs().values()}, package.model_id)  # fmt: skip
    messages = []
    for index, image in enumerate(sample_frames(FRAMES, seed=4242)):
        settings = HeadSettings(split=('stage1', 'stage2')[index % 2], codec='int8+zstd3', exits_enabled=False)
        step = head.step(image, settings, index + 1)
        request = step.request.with_budget(30.0, 0.0)  # as sent with 30 s left: no deadline pressure at replay
        messages.append(CompressedMessage(START_NS + index * 200_000_000, 'camera', request.text(), step.payload))
    return messages


def test_a_recorded_bottleneck_bag_replays_into_the_edge_and_reproduces_its_answers(ros_env, tmp_path, runtime_cache):
    recorded = recorded_bottlenecks(runtime_cache)
    bag = tmp_path / 'bottleneck.bag'
    assert write_compressed_bag(bag, f'/{BOTTLENECK_TOPIC}', recorded) == FRAMES
    assert list(read_compressed_messages(bag, f'/{BOTTLENECK_TOPIC}')) == recorded  # the reader gives it back

    tail = TailPipeline(make_runtime(DEMO_PACKAGE, 'onnxruntime', 'tail', cache=runtime_cache),
                        ModelPackage.load(DEMO_PACKAGE).wire_spec(), 4 << 20)  # fmt: skip
    expected = {m.stamp_ns: tail.step(m.format, m.data).detections for m in recorded}

    domain = int(ros_env['ROS_DOMAIN_ID'])
    parameters = {'model': DEMO_PACKAGE, 'qos_overrides./splitee/bottleneck.subscription.reliability': 'reliable',
                  'qos_overrides./splitee/bottleneck.subscription.depth': 10}  # fmt: skip
    node = NodeProcess('tail_node', parameters, node_env(domain, runtime_cache), tmp_path)
    collector = Collector(domain)
    answers: dict[int, list] = {}
    lock = threading.Lock()

    def on_result(msg: CompressedImage) -> None:
        with lock:
            answers.setdefault(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec, []).append(bytes(msg.data))

    collector.node.create_subscription(CompressedImage, RESULT_TOPIC, on_result, qos.DETECTIONS)
    try:
        options = PlayOptions(wait_for_subscribers_s=180)  # the tail subscribes once configured and active
        assert play(bag, options, node=collector.node) == FRAMES, node.log_tail()
        assert poll_until(lambda: len(answers) == FRAMES, 120), (sorted(answers), node.log_tail())
        for stamp, envelopes in answers.items():
            assert len(envelopes) == 1, stamp  # one answer per request
            answer = decode_envelope(envelopes[0], len(ModelPackage.load(DEMO_PACKAGE).config.class_names))
            # computed, however long this machine stalls: each request has 30 s left, and an idle edge takes one
            assert answer.status is Status.OK, (stamp, answer.status, answer.detail)
            np.testing.assert_allclose(answer.detections.boxes, expected[stamp].boxes, atol=1e-3)
            np.testing.assert_allclose(answer.detections.scores, expected[stamp].scores, atol=1e-4)
            np.testing.assert_array_equal(answer.detections.labels, expected[stamp].labels)
    finally:
        node.stop()
        collector.close()
