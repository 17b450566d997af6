# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""One edge for a fleet over Fast DDS: four vehicles in their own namespaces, one of them with two cameras.

A fifth vehicle floods the edge with requests at ten times the cameras' rate: the others keep being served.

Every vehicle's frames carry the same stamps, and each vehicle sees other images: an answer that crossed to
another vehicle would carry another image's detections. The edge batches whatever is waiting, and runs the
batches in its own process or, as a thin DDS gateway, on Ray Serve deployments of the graphs.
"""

import time

import numpy as np
import pytest
from conftest import DEMO_PACKAGE
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from splitee_ros.codec.envelope import Status, decode_envelope
from splitee_ros.codec.frame import FrameDecoder, encode_frame
from splitee_ros.data.synth import sample_frames
from splitee_ros.model.package import ModelPackage
from splitee_ros.model.postprocess import Detections
from splitee_ros.ros.convert import bgr_to_image, msg_to_detections
from splitee_ros.runtime.base import make_runtime
from splitee_ros.tools.harness import Collector, NodeProcess, node_env

FRAMES = 5  # per camera
CODEC = 'int8+zstd3'
SPLIT = 'stage2'
CAMERAS = {'veh_1': ['image'], 'veh_2': ['image'], 'veh_3': ['image'], 'veh_4': ['cam_front/image', 'cam_rear/image']}
FLOODER = 'veh_5'  # a vehicle without a head that sends requests at 10x the cameras' rate
pytestmark = [pytest.mark.ros, pytest.mark.timeout(900)]  # five node start-ups on a machine that may be busy
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


def frame_id(topic: str) -> str:
    return topic.split('/')[0] if '/' in topic else 'camera'


@pytest.fixture(scope='module')
def images():
    """Other images for every camera of every vehicle."""
    streams = [(vehicle, topic) for vehicle, topics in CAMERAS.items() for topic in topics]
    return {stream: sample_frames(FRAMES, seed=5000 + 100 * index) for index, stream in enumerate(streams)}


@pytest.fixture(scope='module')
def expected(images, runtime_cache):
    """What the edge must answer for each camera's frames: the tail on the code of that very image."""
    package = ModelPackage.load(DEMO_PACKAGE)
    runtime = make_runtime(DEMO_PACKAGE, 'onnxruntime', 'both', cache=runtime_cache)
    codec = {c.name: c for c in package.codecs().values()}[CODEC]
    decoder, index = FrameDecoder(package.wire_spec()), runtime.split_names.index(SPLIT)

    def edge(image) -> Detections:
        code = runtime.run_head(SPLIT, image).code
        decoded = decoder.decode(encode_frame(code, codec, package.model_id, index, 1)).tensor
        return runtime.run_tail(SPLIT, decoded, image.shape[:2])

    return package, {stream: [edge(image) for image in frames] for stream, frames in images.items()}


def assert_same(received: Detections, expected: Detections) -> None:
    assert len(received) == len(expected)
    order_r, order_e = np.lexsort(received.boxes.T), np.lexsort(expected.boxes.T)
    np.testing.assert_array_equal(received.labels[order_r], expected.labels[order_e])
    np.testing.assert_allclose(received.boxes[order_r], expected.boxes[order_e], atol=1e-3)


@pytest.fixture(params=['onnxruntime', 'ray'])
def fleet(request, ros_env, runtime_cache, tmp_path, demo_exports):
    domain = int(ros_env['ROS_DOMAIN_ID'])
    env = node_env(domain, runtime_cache)
    common = {'model': DEMO_PACKAGE, 'backend': 'onnxruntime', 'threads': 1}
    engine = {'backend': 'onnxruntime', 'workers': 1}
    if request.param == 'ray':
        address = request.getfixturevalue('ray_cluster')
        engine = {'backend': 'ray', 'engine_address': address, 'engine_replicas': 2, 'workers': 2}
    tail_parameters = {
        **common, **engine, 'vehicles': [*CAMERAS, FLOODER], 'max_batch': 4, 'max_queue_delay_ms': 20.0,
        **{f'qos_overrides./{v}/splitee/bottleneck.subscription.reliability': 'reliable' for v in CAMERAS},
        **{f'qos_overrides./{v}/splitee/bottleneck.subscription.depth': 20 for v in CAMERAS},
    }  # fmt: skip
    nodes = {'tail_node': NodeProcess('tail_node', tail_parameters, env, tmp_path / 'edge')}
    for vehicle, topics in CAMERAS.items():
        head_parameters = {
            **common, 'image_topics': topics, 'split_point': SPLIT, 'codec': CODEC, 'exits_enabled': False,
            'deadline_ms': 5000.0, 'image_queue_depth': 2 * FRAMES,
            f'qos_overrides./{vehicle}/splitee/bottleneck.publisher.reliability': 'reliable',
            **{f'qos_overrides./{vehicle}/{topic}.subscription.reliability': 'reliable' for topic in topics},
            **{f'qos_overrides./{vehicle}/{topic}.subscription.depth': 50 for topic in topics},
        }  # fmt: skip
        nodes[vehicle] = NodeProcess('head_node', head_parameters, env, tmp_path / vehicle, {'__ns': f'/{vehicle}'})
    edge = Collector(domain)
    vehicles = {vehicle: Collector(domain, namespace=f'/{vehicle}') for vehicle in CAMERAS}
    try:
        topics = {f'/{v}/{t}': 1 for v, ts in CAMERAS.items() for t in ts} | {
            f'/{v}/splitee/bottleneck': 1 for v in CAMERAS
        }
        ready = edge.wait_for_subscribers(topics, 300, publishers={f'/{v}/splitee/edge/result': 1 for v in CAMERAS})
        assert ready, '\n'.join(f'--- {name}\n{node.log_tail()}' for name, node in nodes.items())
        yield edge, vehicles, nodes
    finally:
        for node in nodes.values():
            node.stop()
        for collector in (edge, *vehicles.values()):
            collector.close()


def test_one_edge_serves_four_vehicles_and_a_second_camera(fleet, images, expected):
    edge, vehicles, nodes = fleet
    package, answers = expected
    publishers = {
        (vehicle, topic): edge.node.create_publisher(Image, f'/{vehicle}/{topic}', RELIABLE)
        for vehicle, topics in CAMERAS.items()
        for topic in topics
    }
    split_index = package.split_names.index(SPLIT)
    code = np.zeros(package.wire_spec().split_shapes[split_index], np.float32)
    codec = {c.name: c for c in package.codecs().values()}[CODEC]
    flood = edge.node.create_publisher(CompressedImage, f'/{FLOODER}/splitee/bottleneck', RELIABLE)
    flood_answers: list[Status] = []
    edge.node.create_subscription(
        CompressedImage, f'/{FLOODER}/splitee/edge/result',
        lambda msg: flood_answers.append(decode_envelope(bytes(msg.data), len(package.config.class_names)).status),
        RELIABLE,
    )  # fmt: skip
    time.sleep(1.0)  # the publishers are matched with the heads' subscriptions
    for index in range(FRAMES):  # every camera of every vehicle, with the same stamps: 2 frames per second
        for (vehicle, topic), publisher in publishers.items():
            header = Header(frame_id=frame_id(topic))
            header.stamp.sec, header.stamp.nanosec = 1000 + index // 2, 500_000_000 * (index % 2)
            publisher.publish(bgr_to_image(images[vehicle, topic][index], header))
        for burst in range(10):  # the flooder: 20 requests per second, with time to spare
            request = CompressedImage(format='splitee/1;h=480;w=640;budget_ms=2000;link_ms=0')
            request.header.frame_id, request.header.stamp.sec = 'flood', 10 * index + burst
            request.data = encode_frame(code, codec, package.model_id, split_index, 10 * index + burst)
            flood.publish(request)
            time.sleep(0.05)

    # A request with no time left is expired at the edge, uncomputed, and answered as such.
    stale = CompressedImage(format='splitee/1;h=480;w=640;budget_ms=0;link_ms=0')
    stale.header.frame_id = 'stale'
    stale.data = encode_frame(code, codec, package.model_id, split_index, 99)
    edge.node.create_publisher(CompressedImage, '/veh_2/splitee/bottleneck', RELIABLE).publish(stale)

    for vehicle, topics in CAMERAS.items():
        keys = {
            (1000 + index // 2, 500_000_000 * (index % 2), frame_id(topic))
            for topic in topics
            for index in range(FRAMES)
        }
        collector = vehicles[vehicle]
        collector.wait_for_results(keys, 180)
        dropped = {key for key, (outcome, _) in collector.head_frames().items() if outcome == 'dropped'}
        answered = set(collector.results)
        # every frame not counted as dropped is answered exactly once, on its own vehicle's topic, with its header
        assert keys - dropped <= answered <= keys, (vehicle, keys - answered, nodes[vehicle].log_tail())
        assert all(count == 1 for count in collector.result_counts.values()), collector.result_counts
        for topic in topics:
            for index in range(FRAMES):
                key = (1000 + index // 2, 500_000_000 * (index % 2), frame_id(topic))
                outcome, _ = collector.head_frames()[key]
                if outcome != 'edge':
                    continue
                received = msg_to_detections(collector.results[key][1], package.config.class_names)
                assert_same(received, answers[vehicle, topic][index])  # this camera's image, no other's
        assert {outcome for outcome, _ in collector.head_frames().values()} <= {'edge', 'fallback'}
    assert vehicles['veh_4'].head_frames(), 'the two-camera vehicle answered nothing'
    assert edge.wait_for_outcomes('expired', 1, 30, node='tail_node'), edge.outcomes('tail_node')
    # the flood was served within its share, and the others kept being served: as a group, since how many of
    # each one's five frames made it depends on this machine's stalls (on Ray in a loaded fresh clone, one
    # vehicle's all fell back once); the bench measures each one's share
    assert flood_answers and set(flood_answers) <= {Status.OK, Status.BUSY, Status.EXPIRED}, flood_answers
    served = [values for values in edge.values_of('edge', node='tail_node') if values['vehicle'] != f'/{FLOODER}']
    heads = {vehicle: collector.outcomes() for vehicle, collector in vehicles.items()}
    assert {values['vehicle'] for values in served} <= {f'/{v}' for v in CAMERAS}, served
    assert served, (edge.outcomes('tail_node'), heads, nodes['tail_node'].log_tail())
    for node in nodes.values():
        assert node.alive(), node.log_tail()


def test_a_batch_of_tails_takes_at_most_half_again_its_frames_one_at_a_time(runtime_cache):
    """Four codes as one batch take at most 1.5x their time one at a time: the batch does no frame twice.

    Compared on the best of interleaved rounds: a stall of this shared machine lengthens some rounds of either
    kind, not the best of both. On a CPU a batch costs about its frames one at a time (bench/fleet_bench.py
    measured 1.12x the throughput), so a tight bound would test the machine's noise (a training job on one core
    put the batch at 1.12x the single frames' time in one run of ten); 1.5x still catches a batch that runs its
    frames over again or rebuilds its graph (2x and more). The speed-up itself is the bench's to measure.
    """
    runtime = make_runtime(DEMO_PACKAGE, 'onnxruntime', 'tail', threads=1, cache=runtime_cache)
    codes = [np.random.default_rng(seed).standard_normal(runtime.spec.split(SPLIT).code_shape, np.float32)
             for seed in range(4)]  # fmt: skip
    sizes = [(480, 640)] * len(codes)
    batched, one_by_one = [], []
    runtime.run_tails(SPLIT, codes, sizes)  # warm both shapes
    runtime.run_tails(SPLIT, codes[:1], sizes[:1])
    for _ in range(5):
        start = time.perf_counter()
        runtime.run_tails(SPLIT, codes, sizes)
        batched.append(time.perf_counter() - start)
        start = time.perf_counter()
        for code, size in zip(codes, sizes, strict=True):
            runtime.run_tails(SPLIT, [code], [size])
        one_by_one.append(time.perf_counter() - start)
    assert min(batched) <= 1.5 * min(one_by_one), (batched, one_by_one)
