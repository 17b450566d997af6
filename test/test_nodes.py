# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""head_node, tail_node and monitor_node as separate processes over Fast DDS, fed by a replayed bag.

One run walks through the cases in order (starting the nodes costs more than the cases): the edge path with
a split change mid-stream, the exit path, malformed input, and a stopped and restarted tail.
"""

import threading
import time

import cv2
import numpy as np
import pytest
from conftest import DEMO_PACKAGE
from sensor_msgs.msg import CompressedImage, Image

from splitee_ros.codec.frame import FrameDecoder, encode_frame
from splitee_ros.data.bag import IMAGE_TOPIC, read_camera_frames
from splitee_ros.data.synth_dataset import SynthConfig, make_synthetic_dataset
from splitee_ros.model.package import ModelPackage
from splitee_ros.model.postprocess import Detections
from splitee_ros.ros.convert import msg_to_detections
from splitee_ros.runtime.base import make_runtime
from splitee_ros.tools.harness import Collector, NodeProcess, node_env
from splitee_ros.tools.player import PlayOptions, play

FRAMES = 8
CODEC = 'int8+zstd3'
EXIT_SPLIT = 'stage2'  # where the shipped package has an exit (the deepest split has one)
pytestmark = [pytest.mark.ros, pytest.mark.timeout(900)]  # node start-ups and six replays on a busy machine


@pytest.fixture(scope='module')
def drive(tmp_path_factory):
    folder = tmp_path_factory.mktemp('drive')
    make_synthetic_dataset(folder, SynthConfig(seed=77, drives=1, frames=FRAMES, fps=4, image_format='jpg'))
    frames = list(read_camera_frames(folder / 'camera.bag'))
    keys = [(f.stamp_ns // 10**9, f.stamp_ns % 10**9, f.frame_id) for f in frames]
    return folder / 'camera.bag', frames, keys


@pytest.fixture(scope='module')
def offline(runtime_cache):
    """The same package on the same backend in this process: what every node result must equal."""
    package = ModelPackage.load(DEMO_PACKAGE)
    runtime = make_runtime(DEMO_PACKAGE, 'onnxruntime', 'both', full=True, cache=runtime_cache)
    codecs = {c.name: c for c in package.codecs().values()}
    decoder = FrameDecoder(package.wire_spec())

    def edge(image, split: str) -> Detections:
        code = runtime.run_head(split, image).code
        frame = decoder.decode(encode_frame(code, codecs[CODEC], package.model_id, runtime.split_names.index(split), 1))
        return runtime.run_tail(split, frame.tensor, image.shape[:2])

    def best_exit(image, split: str) -> Detections:
        result = runtime.run_head(split, image)
        return result.exit_detections(result.best_exit())

    def whole(image, jpeg_quality: int | None = None) -> Detections:
        if jpeg_quality is not None:  # what the edge sees in image offload
            image = cv2.imdecode(cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])[1], 1)
        return runtime.run_full(image)

    return package, edge, best_exit, whole


def assert_same(received: Detections, expected: Detections) -> None:
    assert len(received) == len(expected)
    order_r, order_e = np.lexsort(received.boxes.T), np.lexsort(expected.boxes.T)
    np.testing.assert_array_equal(received.labels[order_r], expected.labels[order_e])
    np.testing.assert_allclose(received.scores[order_r], expected.scores[order_e], atol=1e-5)
    np.testing.assert_allclose(received.boxes[order_r], expected.boxes[order_e], atol=1e-3)


def replay(collector: Collector, bag, keys, timeout_s: float = 120.0, rate: float = 1.0) -> None:
    options = PlayOptions(rate=rate, topics=(IMAGE_TOPIC,), wait_for_subscribers_s=60.0)
    play(bag, options, node=collector.node)
    assert collector.wait_for_results(keys, timeout_s), (
        f'missing results: {sorted(set(keys) - set(collector.results))}; outcomes {collector.outcomes()}'
    )


@pytest.fixture
def system(ros_env, runtime_cache, tmp_path, demo_exports):
    domain = int(ros_env['ROS_DOMAIN_ID'])
    env = node_env(domain, runtime_cache)
    common = {'model': DEMO_PACKAGE, 'backend': 'onnxruntime', 'threads': 1}
    # Best effort and keep-last-1 (the defaults for images and codes: fresh data wins) may lose a frame on a
    # loaded host; the test counts every frame, so it makes both topics reliable and deeper through the nodes'
    # QoS override parameters.
    tail_parameters = {
        **common, 'qos_overrides./splitee/bottleneck.subscription.reliability': 'reliable',
        'qos_overrides./splitee/bottleneck.subscription.depth': 10,
    }  # fmt: skip
    head_parameters = {
        **common, 'split_point': 'stage2', 'codec': CODEC, 'exits_enabled': False, 'deadline_ms': 3000.0,
        'qos_overrides./camera/image_raw.subscription.reliability': 'reliable',
        'qos_overrides./camera/image_raw.subscription.depth': 50,
        'qos_overrides./splitee/bottleneck.publisher.reliability': 'reliable',
        # a replay's frames all fit in the head's queue: none is dropped, however long the machine stalls
        'image_queue_depth': 2 * FRAMES,
    }  # fmt: skip
    nodes = {
        'tail_node': NodeProcess('tail_node', tail_parameters, env, tmp_path),
        'head_node': NodeProcess('head_node', head_parameters, env, tmp_path, {'image': IMAGE_TOPIC}),
        'monitor_node': NodeProcess('monitor_node', {'probe_hz': 5.0, 'adaptation_enabled': False}, env, tmp_path),
    }
    collector = Collector(domain)
    try:
        topics = {IMAGE_TOPIC: 1, 'splitee/bottleneck': 1, 'splitee/probe': 1}
        ready = collector.wait_for_subscribers(topics, 180, publishers={'perception/detections': 1})
        assert ready, '\n'.join(f'--- {name}\n{node.log_tail()}' for name, node in nodes.items())
        yield collector, nodes, env, tmp_path, tail_parameters
    finally:
        for node in nodes.values():
            node.stop()
        collector.close()


def test_head_tail_and_monitor_over_dds(system, drive, offline):
    collector, nodes, env, log_folder, tail_parameters = system
    bag, frames, keys = drive
    package, edge, best_exit, whole = offline
    images = dict(zip(keys, (f.image for f in frames), strict=True))

    # 1. Edge path, with the split changed mid-stream through SetParameters: one result per frame, none dropped.
    def switch_after_the_first_answer() -> None:  # mid-stream, whenever the stream started
        if collector.wait_for_results(keys[:1], 120):
            collector.set_parameters('head_node', {'split_point': 'stage1'})

    switcher = threading.Thread(target=switch_after_the_first_answer)
    switcher.start()
    replay(collector, bag, keys, rate=0.5)  # 4 s of frames: time for the switch to land mid-stream
    switcher.join()
    head = collector.head_frames()
    # answered by the edge, or by the fallback where this machine stalled a frame (the edge answers busy or
    # expired at once when it cannot make the frame's budget)
    assert {outcome for outcome, _ in head.values()} <= {'edge', 'fallback'}, collector.outcomes()
    assert 'edge' in {outcome for outcome, _ in head.values()}, collector.outcomes()
    assert all(count == 1 for count in collector.result_counts.values()) and set(collector.results) == set(keys)
    assert collector.outcomes().get('dropped', 0) == 0
    splits = [head[key][1]['split'] for key in keys]
    switched = splits.index('stage1')  # from the switch on, every frame runs the new split
    assert splits[0] == 'stage2' and splits[switched:] == ['stage1'] * (FRAMES - switched), splits
    for key in (key for key in keys if head[key][0] == 'edge'):
        received = msg_to_detections(collector.results[key][1], package.config.class_names)
        assert_same(received, edge(images[key], head[key][1]['split']))
    assert sum(len(collector.results[k][1].detections) for k in keys) > 0

    # 2. Exit path: every exit taken at threshold 0, its detections those of the best exit offline; with every
    #    exit checked by the edge, each frame still has one answer (the exit's) and a check of it.
    settings = {'split_point': EXIT_SPLIT, 'exits_enabled': True, 'exit_threshold': 0.0, 'exit_check_share': 1.0}
    assert all(r.successful for r in collector.set_parameters('head_node', settings))
    collector.clear()
    replay(collector, bag, keys)
    head = collector.head_frames()
    assert {outcome for outcome, _ in head.values()} == {'exit'}, collector.outcomes()
    assert all(count == 1 for count in collector.result_counts.values())
    for key in keys:
        received = msg_to_detections(collector.results[key][1], package.config.class_names)
        assert_same(received, best_exit(images[key], EXIT_SPLIT))

    # every exit is checked: answered by the edge, or skipped while the uplink was busy with the previous check,
    # or unanswered within its wait (counted each)
    def checks_of(values):
        names = ('exit_checks', 'exit_checks_skipped', 'exit_checks_unanswered')
        return sum(int(values.get(name, 0)) for name in names)

    health = collector.wait_for_health('head_node', lambda values: checks_of(values) >= FRAMES, 60)
    assert checks_of(health) == FRAMES, health
    checked = int(health.get('exit_checks', 0))
    assert checked >= 1 and collector.wait_for_outcomes('exit_check', checked, 30), (health, collector.outcomes())
    agreements = [float(values['agreement']) for values in collector.values_of('exit_check')]
    assert len(agreements) == checked and all(0.0 <= a <= 1.0 for a in agreements)
    assert all(r.successful for r in collector.set_parameters('head_node', {'exit_check_share': 0.0}))

    # The two baselines: the whole model on the vehicle, and JPEG frames to the edge's whole model.
    for mode, outcome, quality in (('local', 'local', None), ('offload-image', 'edge', 80)):
        assert all(r.successful for r in collector.set_parameters('head_node', {'mode': mode, 'jpeg_quality': 80}))
        collector.clear()
        replay(collector, bag, keys)
        # every frame is answered by that mode, or by its fallback if this machine stalled it past its deadline
        # (the edge answers busy at once when it cannot finish in time)
        frames = collector.head_frames()
        assert {kind for kind, _ in frames.values()} <= {outcome, 'fallback'}, collector.outcomes()
        answered = [key for key in keys if frames.get(key, ('',))[0] == outcome]
        assert answered, collector.outcomes()
        for key in answered:
            received = msg_to_detections(collector.results[key][1], package.config.class_names)
            assert_same(received, whole(images[key], quality))
    assert all(r.successful for r in collector.set_parameters('head_node', {'mode': 'split'}))

    # 3. Bad parameter values are refused, the running values kept.
    refused = collector.set_parameters('head_node', {'split_point': 'nowhere', 'codec': 'gzip'})
    assert not any(r.successful for r in refused) and 'split_point must be one of' in refused[0].reason

    # 4. Malformed bottlenecks and images are rejected and counted; valid frames are still served.
    assert all(r.successful for r in collector.set_parameters('head_node', {'exits_enabled': False}))
    collector.clear()
    bottleneck_pub = collector.node.create_publisher(CompressedImage, 'splitee/bottleneck', 10)
    image_pub = collector.node.create_publisher(Image, IMAGE_TOPIC, 10)
    garbage = [b'', b'SPLT' + bytes(40), np.random.default_rng(0).bytes(3000)]
    for index, data in enumerate(garbage):
        message = CompressedImage(format='splitee/1;h=480;w=640', data=data)
        message.header.frame_id = f'garbage/{index}'
        bottleneck_pub.publish(message)
        broken = Image(height=480, width=640, encoding='bgr8', step=100, data=bytes(100 * 480))
        broken.header.frame_id = f'broken/{index}'
        image_pub.publish(broken)
        time.sleep(0.3)
    replay(collector, bag, keys)
    assert collector.outcomes('tail_node').get('rejected', 0) == len(garbage)
    assert collector.outcomes('head_node').get('rejected', 0) == len(garbage)
    served = {outcome for outcome, _ in collector.head_frames().values()}
    assert 'edge' in served and served <= {'edge', 'fallback'}, collector.outcomes()

    # 4b. Frames that wait in the head's queue past their deadline, or whose head ends after it, are dropped,
    #     counted by reason, and get no detections message (a fallback would be late). At a 1 ms deadline every
    #     frame behind another's inference (many ms on any CPU) has expired by the time the head reaches it, and
    #     every head overruns it: no frame is answered.
    assert all(r.successful for r in collector.set_parameters('head_node', {'deadline_ms': 1.0}))
    collector.clear()
    play(bag, PlayOptions(rate=100.0, topics=(IMAGE_TOPIC,), wait_for_subscribers_s=60.0), node=collector.node)
    assert collector.wait_for_answers(keys, 60), collector.outcomes()
    head = collector.head_frames()
    assert {outcome for outcome, _ in head.values()} == {'dropped'}, collector.outcomes()
    reasons = [values.get('reason') for _, values in head.values()]
    expired = reasons.count('expired_in_queue')
    assert expired >= 1 and set(reasons) <= {'expired_in_queue', 'expired_in_head'}, reasons
    assert all(float(values['head_ms']) > 0 for _, values in head.values() if values['reason'] == 'expired_in_head')
    assert not collector.results  # a dropped frame has no detections message
    # health is periodic: a message sent mid-burst counts only the drops so far, so wait for one that has them all
    counted = collector.wait_for_health('head_node', lambda v: int(v.get('dropped_expired_in_queue', 0)) >= expired)
    assert int(counted.get('dropped_expired_in_queue', 0)) >= expired, counted

    # 5. Tail stopped: the head learns it from the edge's liveliness and answers every frame with its fallback
    #    at once, sending nothing and waiting for no deadline; restarted: the edge is used again.
    deadline_ms = 3000.0
    settings = {'exits_enabled': True, 'exit_threshold': 1.0, 'deadline_ms': deadline_ms}
    assert all(r.successful for r in collector.set_parameters('head_node', settings))
    nodes['tail_node'].stop()
    assert collector.wait_for_subscribers({'splitee/bottleneck': 0}, 30, at_most=True)
    lost = collector.wait_for_health('head_node', lambda values: values.get('edges_alive') == '0')
    assert lost.get('edges_alive') == '0' and int(lost.get('edge_lost', 0)) >= 1, lost
    collector.clear()
    replay(collector, bag, keys)
    head = collector.head_frames()
    assert {outcome for outcome, _ in head.values()} == {'fallback'}, collector.outcomes()
    assert {values.get('reason') for _, values in head.values()} == {'no live edge'}, head
    latencies = [float(values['latency_ms']) for _, values in head.values()]
    assert max(latencies) < deadline_ms, latencies  # at once: the head's own time, never the deadline
    for key in keys:  # the fallback is the best local exit
        assert_same(
            msg_to_detections(collector.results[key][1], package.config.class_names), best_exit(images[key], EXIT_SPLIT)
        )
    nodes['tail_node'] = NodeProcess('tail_node', tail_parameters, env, log_folder)
    assert collector.wait_for_subscribers({'splitee/bottleneck': 1}, 120), nodes['tail_node'].log_tail()
    # the head finds the new tail in its own time: replay until the edge answers every frame of a replay
    for _ in range(10):
        collector.clear()
        replay(collector, bag, keys)
        assert all(count == 1 for count in collector.result_counts.values())
        outcomes = [collector.head_frames()[key][0] for key in keys]
        assert set(outcomes) <= {'edge', 'fallback'}, outcomes
        if set(outcomes) == {'edge'}:
            break
    assert set(outcomes) == {'edge'}, (outcomes, nodes['tail_node'].log_tail())

    # 6. The monitor measured the link and both nodes report health on /diagnostics.
    names = {status.name for array in collector.diagnostics for status in array.status}
    assert {'splitee: head_node', 'splitee: tail_node', 'splitee: link', 'splitee: stages'} <= names
    link = [
        s
        for a in collector.diagnostics
        for s in a.status
        if s.name == 'splitee: link' and s.message != 'no probe replies'
    ]
    assert link and float({v.key: v.value for v in link[-1].values}['rtt_ms']) > 0
    for node in nodes.values():
        assert node.alive(), node.log_tail()
