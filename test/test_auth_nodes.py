# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Authenticated frames and results between head_node and tail_node over DDS, with a rogue node on the domain.

The rogue holds no key. For every request it sniffs it replays the request, sends its payload unsealed and
sealed with wrong keys, and answers the vehicle first with forged detections; it replays every real result.
The vehicle must publish none of it and the edge compute none of it, each rejection counted by reason. Then
the keys rotate (add, activate, remove) while a camera streams, and no valid frame is rejected.
"""

import os
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
from conftest import DEMO_PACKAGE
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage

from splitee_ros.codec.auth import REQUEST, RESULT, TRAILER, KeyRing, Sealer
from splitee_ros.codec.envelope import FORMAT, Envelope, Status, encode_envelope
from splitee_ros.data.bag import IMAGE_TOPIC
from splitee_ros.data.synth import sample_frames
from splitee_ros.model.package import ModelPackage
from splitee_ros.model.postprocess import Detections
from splitee_ros.ros import qos
from splitee_ros.ros.convert import message_context, msg_to_detections
from splitee_ros.ros.qos import BOTTLENECK_TOPIC, RESULT_TOPIC
from splitee_ros.ros.telemetry import frame_key
from splitee_ros.tools import keys
from splitee_ros.tools.harness import Camera, Collector, NodeProcess, node_env

pytestmark = [pytest.mark.ros, pytest.mark.timeout(600)]
FORGED_BOX = [1.0, 2.0, 3.0, 4.0]
RELIABLE_50 = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
VEHICLE = '/'  # both nodes run in the root namespace: the vehicle is the tail's own ('')


def key_id(sealed: bytes) -> int:
    return TRAILER.unpack(sealed[-TRAILER.size :])[2]


class Rogue:
    """A node without keys on the same domain: sniffs, replays and forges."""

    def __init__(self, node) -> None:
        self.lock = threading.Lock()
        self.own: set[bytes] = set()  # what it published itself (it also hears its own topics)
        self.requests: list[tuple[tuple, int]] = []  # (frame key, key id) of the genuine requests heard
        self.results: list[tuple[tuple, int]] = []
        self.forging = True
        self.wrong_key = Sealer(KeyRing({2: os.urandom(32)}, 2))  # the id the test rotates to, another key
        self.unknown_key = Sealer(KeyRing({9: os.urandom(32)}, 9))
        overridden = RELIABLE_50
        self.to_edge = node.create_publisher(CompressedImage, BOTTLENECK_TOPIC, overridden)
        # as the edge's writers do: the vehicle hears only writers that promise their liveliness
        self.to_vehicle = node.create_publisher(CompressedImage, RESULT_TOPIC, qos.with_liveliness(qos.DETECTIONS, 0.5))
        node.create_subscription(CompressedImage, BOTTLENECK_TOPIC, self._on_request, overridden)
        node.create_subscription(CompressedImage, RESULT_TOPIC, self._on_result, qos.DETECTIONS)

    def _publish(self, publisher, header, payload_format: str, data: bytes) -> None:
        with self.lock:
            self.own.add(data)
        publisher.publish(CompressedImage(header=header, format=payload_format, data=data))

    def _heard(self, data: bytes, log: list, header) -> bool:
        with self.lock:
            if data in self.own:
                return False
            log.append((frame_key(header), key_id(data)))
            return self.forging

    def _on_request(self, msg: CompressedImage) -> None:
        sealed = bytes(msg.data)
        if not self._heard(sealed, self.requests, msg.header):
            return
        payload = sealed[: -TRAILER.size]
        request_context = message_context(REQUEST, VEHICLE, msg.header, msg.format)
        detections = Detections(np.array([FORGED_BOX], np.float32), np.array([0.99], np.float32), np.array([0]))
        forged = encode_envelope(Envelope(Status.OK, 0, detections))
        result_context = message_context(RESULT, VEHICLE, msg.header, FORMAT)
        self._publish(self.to_vehicle, msg.header, FORMAT, forged)  # unsealed
        self._publish(self.to_vehicle, msg.header, FORMAT, self.wrong_key.seal(forged, result_context))
        for data in (sealed, payload, self.wrong_key.seal(payload, request_context),
                     self.unknown_key.seal(payload, request_context)):  # fmt: skip
            self._publish(self.to_edge, msg.header, msg.format, data)  # a replay, unsealed, two wrong keys

    def _on_result(self, msg: CompressedImage) -> None:
        sealed = bytes(msg.data)
        if self._heard(sealed, self.results, msg.header):
            self._publish(self.to_vehicle, msg.header, msg.format, sealed)  # the genuine result, once more


def auth_counts(counts: dict[str, str]) -> dict[str, int]:
    return {
        k: int(v) for k, v in counts.items() if k.startswith('auth_') and k not in ('auth_key_ids', 'auth_signing_key')
    }


@pytest.fixture
def secured(ros_env, runtime_cache, tmp_path, demo_exports):
    domain = int(ros_env['ROS_DOMAIN_ID'])
    env = node_env(domain, runtime_cache)
    ring = KeyRing.generate()
    files = {'head_node': tmp_path / 'head_keys.yaml', 'tail_node': tmp_path / 'tail_keys.yaml'}
    for path in files.values():
        keys.write(ring, path)
    common = {'model': DEMO_PACKAGE, 'backend': 'onnxruntime', 'threads': 1}
    nodes = {
        'tail_node': NodeProcess('tail_node', {
            **common, 'auth_key_file': str(files['tail_node']),
            'qos_overrides./splitee/bottleneck.subscription.reliability': 'reliable',
            'qos_overrides./splitee/bottleneck.subscription.depth': 50,
        }, env, tmp_path),
        'head_node': NodeProcess('head_node', {
            **common, 'auth_key_file': str(files['head_node']), 'split_point': 'stage2', 'codec': 'int8+zstd3',
            'exits_enabled': False, 'deadline_ms': 3000.0, 'image_queue_depth': 50,
            'qos_overrides./camera/image_raw.subscription.reliability': 'reliable',
            'qos_overrides./camera/image_raw.subscription.depth': 50,
            'qos_overrides./splitee/bottleneck.publisher.reliability': 'reliable',
        }, env, tmp_path, {'image': IMAGE_TOPIC}),
    }  # fmt: skip
    collector = Collector(domain)
    try:
        ready = collector.wait_for_subscribers({IMAGE_TOPIC: 1, BOTTLENECK_TOPIC: 1}, 300,
                                               publishers={'perception/detections': 1, RESULT_TOPIC: 1})  # fmt: skip
        assert ready, '\n'.join(f'--- {name}\n{node.log_tail()}' for name, node in nodes.items())
        yield collector, nodes, ring, files
    finally:
        for node in nodes.values():
            node.stop()
        collector.close()


def test_the_vehicle_and_edge_rotate_keys_live_and_believe_only_each_other(secured):
    collector, nodes, ring, files = secured
    class_names = ModelPackage.load(DEMO_PACKAGE).config.class_names
    rogue = Rogue(collector.node)
    camera = Camera(collector.node, sample_frames(3, seed=5), IMAGE_TOPIC)

    # 1. Rotation while the camera streams (the rogue only listens): add a key everywhere, sign with it,
    #    remove the old one. Not one message is rejected, and the edge answers frames signed with either key.
    rogue.forging = False
    camera.start(0.25)
    try:
        added = ring.with_new_key(activate=False)
        steps = [(added, '1 2', 1), (replace(added, active=2), '1 2', 2), (KeyRing({2: added.keys[2]}, 2), '2', 2)]
        for new_ring, ids, signing in steps:
            for path in files.values():
                keys.write(new_ring, path)
            for node in files:
                counts = collector.wait_for_health(node, lambda c, ids=ids, signing=signing: (
                    c.get('auth_key_ids') == ids and c.get('auth_signing_key') == str(signing)))  # fmt: skip
                assert counts.get('auth_key_ids') == ids, (node, counts)
            time.sleep(1.0)  # frames of each step
    finally:
        camera.stop()
    assert collector.wait_for_results(camera.sent, 120), collector.outcomes()
    assert all(collector.result_counts[key] == 1 for key in camera.sent)
    for node in files:  # the latest report, a second after the last frame was answered
        counts = collector.wait_for_health(node, lambda c: int(c.get('answered', c.get('edge', 0))) > 0)
        assert auth_counts(counts) == {}, (node, counts)
    head_frames = collector.head_frames()
    assert {used for _, used in rogue.requests} == {1, 2} and {used for _, used in rogue.results} == {1, 2}
    for used in (1, 2):
        signed = {key for key, key_used in rogue.requests if key_used == used}
        assert any(head_frames[key][0] == 'edge' for key in signed), (used, collector.outcomes())

    # 2. The rogue forges, replays, strips and signs with wrong keys, both ways: none of it is published by the
    #    vehicle or computed by the edge; every kind is rejected and counted by reason.
    rogue.forging = True
    phase_one = list(camera.sent)
    camera.sent.clear()
    camera.stream(0.5, count=6)
    assert collector.wait_for_results(camera.sent, 120), (collector.outcomes(), nodes['head_node'].log_tail())
    assert all(collector.result_counts[key] == 1 for key in camera.sent)
    outcomes = {collector.head_frames()[key][0] for key in camera.sent}
    assert 'edge' in outcomes and outcomes <= {'edge', 'fallback'}, collector.outcomes()
    for key in camera.sent:  # nothing of the rogue's reached perception/detections
        boxes = msg_to_detections(collector.results[key][1], class_names).boxes
        assert not np.any(np.all(np.isclose(boxes, FORGED_BOX), axis=1)), boxes
    head_expected = {'auth_unsealed', 'auth_bad_tag', 'auth_replayed'}
    tail_expected = {'auth_unsealed', 'auth_bad_tag', 'auth_unknown_key', 'auth_replayed'}
    head = collector.wait_for_health('head_node', lambda c: head_expected <= set(auth_counts(c)))
    tail = collector.wait_for_health('tail_node', lambda c: tail_expected <= set(auth_counts(c)))
    assert head_expected <= set(auth_counts(head)), head
    assert tail_expected <= set(auth_counts(tail)), tail
    answered = sum(int(tail.get(k, 0)) for k in ('answered', 'busy', 'expired'))
    assert answered <= len(phase_one) + len(camera.sent), tail  # one answer per real frame: no copy was computed
    assert not any(k.startswith('rejected') and int(v) for k, v in tail.items()), tail  # nor decoded
    for node in nodes.values():
        assert node.alive(), node.log_tail()
