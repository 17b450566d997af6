# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Fuzzing what the edge takes from the network: mutated wire frames, request formats and images.

`mutate_frame` makes one structured mutation of a valid frame (about half keep a valid CRC, so that the
decoder's deeper checks are reached); `fuzz_request` adds bad format strings, JPEG garbage and a
decompression bomb. `fuzz_tail` sends them over DDS to a running tail_node, valid requests interleaved, and
checks that it serves on: every valid request answered once (ok, or busy when it cannot keep up), every
malformed one rejected with a reason and counted, nothing non-finite published, and its memory bounded.
The offline decoder fuzz (`test/test_codec_fuzz.py`), the short live run (`test/test_live_fuzz.py`) and the
long one (`bench/live_fuzz.py`) share these.
"""

from __future__ import annotations

import collections
import struct
import threading
import time
from dataclasses import dataclass, field, fields

import cv2
import numpy as np

from splitee_ros.codec.frame import CRC_OFFSET, HEADER, frame_crc

_PARAMS_COUNT_OFFSET, _RANK_OFFSET, _LENGTH_OFFSET = 18, 17, 24
SETTLE_WAIT_S = 60.0  # after the last message: the head's queue is bounded, its frames end by their deadlines
EXTREME_PARAMETERS = (np.nan, np.inf, -np.inf, 0.0, -1.0, 1e38, -1e38, 1e-38)


def seal(data: bytearray) -> bytes:
    """The frame with its CRC recomputed."""
    struct.pack_into('<I', data, CRC_OFFSET, frame_crc(data))
    return bytes(data)


def mutate_frame(frame: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """One random mutation of a valid frame, and its kind."""
    kind = int(rng.integers(12))
    data = bytearray(frame)
    if kind == 0:
        return 'random', rng.bytes(int(rng.integers(0, 300)))
    if kind == 1:
        return 'truncate', frame[: int(rng.integers(0, len(frame)))]
    if kind == 2:
        return 'extend', frame + rng.bytes(int(rng.integers(1, 64)))
    if kind in (3, 4):
        for _ in range(int(rng.integers(1, 9))):
            data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
        return ('bitflip', bytes(data)) if kind == 3 else ('bitflip+crc', seal(data))
    if kind == 5:
        length = int(rng.choice([0, 1, len(frame), 2**31, 2**32 - 1, int(rng.integers(2**32))]))
        struct.pack_into('<I', data, _LENGTH_OFFSET, length)
        return 'forged length', seal(data) if rng.integers(2) else bytes(data)
    if kind == 6:
        dimension = int(rng.integers(4))
        struct.pack_into(
            '<I', data, HEADER.size + 4 * dimension, int(rng.choice([0, 1, 2**31, int(rng.integers(2**32))]))
        )
        return 'forged shape', seal(data)
    if kind == 7:
        data[_RANK_OFFSET] = int(rng.integers(256))
        return 'forged rank', seal(data)
    if kind == 8:
        struct.pack_into('<H', data, _PARAMS_COUNT_OFFSET, int(rng.integers(2**16)))
        return 'forged params count', seal(data)
    if kind == 9:
        data[8:16] = rng.bytes(8)
        return 'wrong model id', seal(data)
    if kind == 10:
        return 'extreme params', _extreme_parameters(data, rng)
    declared = struct.unpack_from('<I', frame, _LENGTH_OFFSET)[0]  # a frame's body length; any number in an image
    body_start = min(max(HEADER.size, len(frame) - declared), len(frame))
    data[body_start:] = rng.bytes(len(frame) - body_start)
    return 'random body+crc', seal(data)


def _extreme_parameters(data: bytearray, rng: np.random.Generator) -> bytes:
    """NaN, infinite, zero, negative and extreme-but-finite quantisation parameters, with a valid CRC."""
    rank = data[_RANK_OFFSET]
    pairs = struct.unpack_from('<H', data, _PARAMS_COUNT_OFFSET)[0]
    start = HEADER.size + 4 * rank
    if pairs == 0 or start + 8 * pairs > len(data):  # a codec without parameters: forge a split index instead
        data[16] = int(rng.integers(256))
        return seal(data)
    values = np.frombuffer(bytes(data[start : start + 8 * pairs]), '<f4').copy()
    values[rng.integers(len(values), size=int(rng.integers(1, 4)))] = rng.choice(EXTREME_PARAMETERS)
    data[start : start + 8 * pairs] = values.astype('<f4').tobytes()
    return seal(data)


BAD_FORMATS = (
    '', 'splitee/1', 'splitee/2;h=480;w=640', 'splitee/1;h=0;w=640', 'splitee/1;h=480;w=640;budget_ms=-1;link_ms=0',
    'splitee/1;h=99999999;w=640', 'jpeg;budget_ms=10', 'png', 'splitee/1;h=480;w=640;h=480', 'x' * 5000,
)  # fmt: skip


def decompression_bomb() -> bytes:
    """A small PNG that decodes to a huge image (16384 x 16384 pixels of zeros)."""
    ok, png = cv2.imencode('.png', np.zeros((16384, 16384), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok, 'OpenCV could not encode the bomb'
    return png.tobytes()


def fuzz_request(frame: bytes, frame_format: str, rng: np.random.Generator, bomb: bytes) -> tuple[str, str, bytes]:
    """One malformed request: (kind, format string, payload)."""
    choice = int(rng.integers(10))
    if choice == 0:
        return 'bad format', str(rng.choice(BAD_FORMATS)), frame
    if choice == 1:
        return 'jpeg garbage', 'jpeg;budget_ms=1000;link_ms=0', rng.bytes(int(rng.integers(0, 2000)))
    if choice == 2:
        return 'decompression bomb', 'jpeg;budget_ms=1000;link_ms=0', bomb
    kind, mutated = mutate_frame(frame, rng)
    return kind, frame_format, mutated


@dataclass
class FuzzReport:
    """What a live fuzz run sent, and how the node it fuzzed fared: alive, and its memory."""

    sent: collections.Counter[str] = field(default_factory=collections.Counter)  # by kind
    rss_mb: list[float] = field(default_factory=list)  # at each quarter of the run, then at the end
    alive: bool = True
    seconds: float = 0.0

    @property
    def rss_growth(self) -> float:
        """Growth of the resident memory from the end of the warm-up (the first quarter) to the end."""
        return self.rss_mb[-1] / self.rss_mb[0] - 1 if len(self.rss_mb) > 1 and self.rss_mb[0] else 0.0

    def as_dict(self) -> dict:
        """JSON-friendly: every field, with the memory rounded and its growth after warm-up."""
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        values = {
            name: dict(value) if isinstance(value, collections.Counter) else value for name, value in values.items()
        }
        values |= {'rss_mb': [round(v, 1) for v in self.rss_mb], 'seconds': round(self.seconds, 1)}
        return {**values, 'rss_growth_after_warm_up': round(self.rss_growth, 4)}


@dataclass
class TailFuzzReport(FuzzReport):
    """What a live fuzz run of tail_node saw."""

    answers: collections.Counter[str] = field(default_factory=collections.Counter)  # (valid|fuzzed)/status
    valid_unanswered: int = 0
    answered_twice: int = 0
    undecodable_answers: int = 0  # result envelopes that do not decode (e.g. a non-finite number)
    rejected_counted: dict[str, int] = field(default_factory=dict)  # the tail's own counters


def fuzz_tail(
    collector, tail_pid: int, valid: list[tuple[str, bytes]], class_count: int, messages: int, seed: int = 0,
    valid_every: int = 4, rate_hz: float = 200.0,
) -> TailFuzzReport:  # fmt: skip
    """Send `messages` requests to the tail_node that `collector` sees, one valid in `valid_every`.

    `valid` holds (format, payload) of well-formed requests; the fuzzed ones are made from them. Each request
    gets its own header stamp, so its answer is found by it.
    """
    from diagnostic_msgs.msg import DiagnosticStatus
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage
    from std_msgs.msg import Header

    from splitee_ros.codec.envelope import EnvelopeError, decode_envelope
    from splitee_ros.ros.qos import BOTTLENECK_TOPIC, RESULT_TOPIC
    from splitee_ros.ros.telemetry import status_values
    from splitee_ros.tools.harness import rss_mb

    rng = np.random.default_rng(seed)
    bomb = decompression_bomb()
    report = TailFuzzReport()
    answers: dict[int, list[bytes]] = {}
    lock = threading.Lock()

    def on_result(msg: CompressedImage) -> None:
        with lock:
            answers.setdefault(msg.header.stamp.nanosec + msg.header.stamp.sec * 10**9, []).append(bytes(msg.data))

    node = collector.node
    reliable = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
    publisher = node.create_publisher(CompressedImage, BOTTLENECK_TOPIC, reliable)
    subscription = node.create_subscription(CompressedImage, RESULT_TOPIC, on_result, reliable)
    if not collector.wait_for_subscribers({BOTTLENECK_TOPIC: 1}, 60, publishers={RESULT_TOPIC: 1}):
        raise RuntimeError('tail_node is not serving')
    started = time.monotonic()
    kinds: dict[int, str] = {}
    for index in range(messages):
        if index and index % max(1, messages // 4) == 0:  # every input kind has been seen by the first
            report.rss_mb.append(rss_mb(tail_pid))
        request_format, payload = valid[index % len(valid)]
        kind = 'valid'
        if index % valid_every:
            kind, request_format, payload = fuzz_request(payload, request_format, rng, bomb)
        stamp = index + 1  # nanoseconds of a fake stamp: the key of its answer
        header = Header(frame_id='fuzz')
        header.stamp.sec, header.stamp.nanosec = 0, stamp
        publisher.publish(CompressedImage(header=header, format=request_format, data=payload))
        kinds[stamp] = kind
        report.sent[kind] += 1
        time.sleep(max(0.0, started + (index + 1) / rate_hz - time.monotonic()))
    deadline = time.monotonic() + 60 + messages / 50
    while time.monotonic() < deadline:
        with lock:
            if all(stamp in answers for stamp, kind in kinds.items() if kind == 'valid'):
                break
        time.sleep(0.2)
    time.sleep(2.0)  # the last rejections
    report.seconds = time.monotonic() - started
    report.rss_mb.append(rss_mb(tail_pid))
    with lock:
        received = dict(answers)
    for stamp, kind in kinds.items():
        replies = received.get(stamp, [])
        group = 'valid' if kind == 'valid' else 'fuzzed'
        if not replies:
            report.answers[f'{group}/none'] += 1
            report.valid_unanswered += kind == 'valid'
            continue
        report.answered_twice += len(replies) > 1
        try:
            status = decode_envelope(replies[0], class_count).status.name.lower()
        except EnvelopeError:
            report.undecodable_answers += 1
            continue
        report.answers[f'{group}/{status}'] += 1
    with collector.lock:
        statuses = [s for array in collector.diagnostics for s in array.status if s.name == 'splitee: tail_node']
    if statuses:
        last: DiagnosticStatus = statuses[-1]
        report.rejected_counted = {k: int(v) for k, v in status_values(last).items() if k.startswith('rejected_')}
    node.destroy_subscription(subscription)
    node.destroy_publisher(publisher)
    return report


# ---- the vehicle's inputs: camera images and edge results ------------------------------------------------
BAD_ENCODINGS = ('16UC1', 'yuv422', 'bayer_rggb8', '', 'x' * 300)


def malformed_image(image: np.ndarray, rng: np.random.Generator) -> tuple[str, dict]:
    """One camera image the head must reject: (kind, the fields of a sensor_msgs/Image)."""
    height, width = image.shape[:2]
    data = np.ascontiguousarray(image).tobytes()
    fields = {'height': height, 'width': width, 'encoding': 'bgr8', 'step': width * 3, 'data': data}
    kind = int(rng.integers(6))
    if kind == 0:
        return 'bad encoding', {**fields, 'encoding': str(rng.choice(BAD_ENCODINGS))}
    if kind == 1:
        return 'step too small', {**fields, 'step': int(rng.integers(0, width * 3))}
    if kind == 2:
        cut = int(rng.integers(0, len(data)))
        return 'data size mismatch', {**fields, 'data': data[:cut] if rng.integers(2) else data + bytes(cut + 1)}
    if kind == 3:
        return 'empty', {**fields, 'height': 0, 'width': int(rng.integers(0, 2)) * width, 'data': b''}
    if kind == 4:  # dimensions that promise gigabytes, with a few bytes
        side = int(rng.choice([65535, 2**31 - 1, 2**32 - 1]))
        return 'huge dimensions', {**fields, 'height': side, 'width': side, 'step': side * 3, 'data': data[:64]}
    return 'wrong step for the data', {**fields, 'step': width * 3 + int(rng.integers(1, 64))}


def malformed_result(genuine: bytes, rng: np.random.Generator, class_count: int) -> tuple[str, bytes]:
    """One result envelope the head must not publish, made from a genuine one: (kind, bytes)."""
    from splitee_ros.codec import envelope
    from splitee_ros.codec.envelope import Envelope, Status, encode_envelope
    from splitee_ros.model.postprocess import Detections

    def resealed(data: bytearray) -> bytes:
        struct.pack_into('<I', data, envelope.CRC_OFFSET, envelope.envelope_crc(data))
        return bytes(data)

    kind = int(rng.integers(6))
    count = 3
    boxes = np.tile(np.array([[10, 10, 50, 60]], np.float32), (count, 1))
    ok = bytearray(encode_envelope(Envelope(Status.OK, 1, Detections(boxes, np.full(count, 0.9, np.float32),
                                                                      np.zeros(count, np.int64)))))  # fmt: skip
    if kind == 0:  # NaN, infinite or negative coordinates, scores outside [0, 1]
        value = float(rng.choice([np.nan, np.inf, -np.inf, -5.0, 2.0, 1e30]))
        offset = envelope.HEADER.size + 4 * int(rng.integers(0, 5 * count))
        struct.pack_into('<f', ok, offset, value)
        return 'non-finite or negative detections', resealed(ok)
    if kind == 1:  # more detections claimed than the format allows, or than the bytes hold
        struct.pack_into('<I', ok, 12, int(rng.choice([envelope.MAX_DETECTIONS + 1, 2**31, count + 1])))
        return 'huge detection count', resealed(ok)
    if kind == 2:
        struct.pack_into('<H', ok, envelope.HEADER.size + 20 * count, class_count + int(rng.integers(0, 1000)))
        return 'unknown class', resealed(ok)
    if kind == 3:
        return 'random bytes', rng.bytes(int(rng.integers(0, 400)))
    if kind == 4:
        data = bytearray(genuine)
        data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
        return 'bit flip', bytes(data)
    return 'truncated', genuine[: int(rng.integers(0, len(genuine)))]


def huge_result(class_count: int) -> bytes:
    """A well-formed envelope with the most detections the format allows (about 220 KB)."""
    from splitee_ros.codec.envelope import MAX_DETECTIONS, Envelope, Status, encode_envelope
    from splitee_ros.model.postprocess import Detections

    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 400, (MAX_DETECTIONS, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + 10], axis=1)
    scores = rng.uniform(0, 1, MAX_DETECTIONS).astype(np.float32)
    labels = rng.integers(0, class_count, MAX_DETECTIONS)
    return encode_envelope(Envelope(Status.OK, 1, Detections(boxes, scores, labels)))


@dataclass
class HeadFuzzReport(FuzzReport):
    """What a live fuzz run of head_node saw (`sent` by images/<kind> and results/<kind>)."""

    valid_frames: int = 0
    valid_answered_once: int = 0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)  # of the valid frames
    answered_twice: int = 0
    foreign_answers: int = 0  # detections published for a frame the camera never sent
    non_finite_published: int = 0
    counted: dict[str, int] = field(default_factory=dict)  # the head's rejection counters at the end
    settled: bool = False  # every valid frame answered or dropped, and told, within SETTLE_WAIT_S of the last


def fuzz_head(
    collector, head_pid: int, images: list[np.ndarray], class_count: int, messages: int, seed: int = 0,
    valid_every: int = 4, rate_hz: float = 50.0, image_topic: str = '/camera/image_raw',
) -> HeadFuzzReport:  # fmt: skip
    """Send `messages` inputs to the head_node that `collector` sees: camera images and edge results.

    One in `valid_every` is a valid camera image (with a fresh stamp); the others are malformed images,
    malformed result envelopes (for frames waiting at the edge, so that only the decoder stands between them
    and perception/detections), results for frames never sent, duplicates of genuine results at once and
    later, and envelopes with the most detections the format allows for frames never sent. Needs a tail_node
    serving the head (the genuine results it duplicates are that tail's).
    """
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage, Image
    from std_msgs.msg import Header

    from splitee_ros.ros import qos
    from splitee_ros.ros.convert import bgr_to_image
    from splitee_ros.ros.qos import BOTTLENECK_TOPIC, RESULT_TOPIC
    from splitee_ros.tools.harness import rss_mb

    rng = np.random.default_rng(seed)
    report = HeadFuzzReport()
    node = collector.node
    reliable = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
    image_pub = node.create_publisher(Image, image_topic, reliable)
    result_pub = node.create_publisher(CompressedImage, RESULT_TOPIC, qos.with_liveliness(qos.DETECTIONS, 0.5))
    lock = threading.Lock()
    genuine: collections.deque[CompressedImage] = collections.deque(maxlen=64)  # the tail's latest results
    requested: collections.deque[Header] = collections.deque(maxlen=64)  # frames waiting at the edge
    own: set[bytes] = set()

    def on_result(msg: CompressedImage) -> None:
        with lock:
            if bytes(msg.data) not in own:
                genuine.append(msg)

    def on_request(msg: CompressedImage) -> None:
        with lock:
            requested.append(msg.header)

    subscriptions = [node.create_subscription(CompressedImage, RESULT_TOPIC, on_result, qos.DETECTIONS),
                     node.create_subscription(CompressedImage, BOTTLENECK_TOPIC, on_request, reliable)]  # fmt: skip
    if not collector.wait_for_subscribers({image_topic: 1, BOTTLENECK_TOPIC: 1}, 120):
        raise RuntimeError('head_node and tail_node are not serving')
    huge = huge_result(class_count)
    valid_keys: list[tuple[int, int, str]] = []
    late: list[CompressedImage] = []

    def publish_result(kind: str, header, data: bytes) -> None:
        with lock:
            own.add(data)
        result_pub.publish(CompressedImage(header=header, format='splitee-result/1', data=data))
        report.sent[f'results/{kind}'] += 1

    started = time.monotonic()
    for index in range(messages):
        if index and index % max(1, messages // 4) == 0:
            report.rss_mb.append(rss_mb(head_pid))
        image = images[index % len(images)]
        if index % valid_every == 0:
            stamp = node.get_clock().now().to_msg()
            image_pub.publish(bgr_to_image(image, Header(stamp=stamp, frame_id='camera')))
            valid_keys.append((stamp.sec, stamp.nanosec, 'camera'))
            report.sent['images/valid'] += 1
        elif index % 2:
            kind, fields = malformed_image(image, rng)
            header = Header(stamp=node.get_clock().now().to_msg(), frame_id='fuzz')
            image_pub.publish(Image(header=header, is_bigendian=0, **fields))
            report.sent[f'images/{kind}'] += 1
        else:
            with lock:
                waiting = requested[-1] if requested else None
                last = genuine[-1] if genuine else None
            choice = int(rng.integers(5))
            if choice <= 1 and waiting is not None and last is not None:
                kind, data = malformed_result(bytes(last.data), rng, class_count)
                publish_result(kind, waiting, data)
            elif choice == 2 and last is not None:
                result_pub.publish(last)  # a duplicate, at once (its bytes are the tail's: not added to `own`)
                late.append(last)
                report.sent['results/duplicate'] += 1
            elif choice == 3 and late:
                result_pub.publish(late.pop(0))  # a late duplicate, long after its frame was answered
                report.sent['results/late duplicate'] += 1
            else:
                never = Header(frame_id=str(rng.choice(['camera', 'fuzz', ''])))
                never.stamp.sec, never.stamp.nanosec = int(rng.integers(1, 2**31)), int(rng.integers(0, 10**9))
                publish_result('never sent' if choice != 4 else 'huge, never sent', never,
                               last.data.tobytes() if choice != 4 and last is not None else huge)  # fmt: skip
        time.sleep(max(0.0, started + (index + 1) / rate_hz - time.monotonic()))
    report.settled = collector.wait_for_answers(valid_keys, SETTLE_WAIT_S, told=True)
    time.sleep(2.0)
    report.seconds = time.monotonic() - started
    report.rss_mb.append(rss_mb(head_pid))
    with collector.lock:
        results = dict(collector.results)
        counts = dict(collector.result_counts)
    frames = collector.head_frames()
    report.valid_frames = len(valid_keys)
    report.valid_answered_once = sum(counts.get(key) == 1 for key in valid_keys)
    report.answered_twice = sum(count > 1 for count in counts.values())
    report.outcomes.update(frames[key][0] for key in valid_keys if key in frames)
    report.foreign_answers = len(set(results) - set(valid_keys))
    for _, message in results.values():
        values = [d.bbox.center.position.x for d in message.detections] + [d.bbox.size_x for d in message.detections]
        values += [r.hypothesis.score for d in message.detections for r in d.results]
        report.non_finite_published += not np.isfinite(values).all()
    kept = ('rejected', 'unknown_edge', 'duplicate_edge', 'late', 'edge', 'fallback', 'dropped')  # its own account
    counters = collector.health('head_node').items()
    report.counted = {k: int(v) for k, v in counters if k.startswith(kept) and v.isdigit()}  # counts, not gauges
    for subscription in subscriptions:
        node.destroy_subscription(subscription)
    node.destroy_publisher(image_pub)
    node.destroy_publisher(result_pub)
    return report


def fuzz_parameters(collector, node: str, table) -> dict[str, object]:
    """Set every parameter of `node` through SetParameters with wrong types and out-of-range values.

    Returns counts: attempts, refused, and accepted (each one a defect, named in `accepted_values`).
    """
    from splitee_ros.ros.params import PACKAGE_DEFAULT

    wrong_by_type: dict[type, list] = {bool: [1, 'yes', 0.5], int: ['8', 1.5, True, [1]], float: ['0.5', True, [0.5]],
                                       str: [3, 2.5, True, ['a']], list: ['a', 3, True]}  # fmt: skip
    counts: collections.Counter[str] = collections.Counter()
    accepted: list[str] = []
    for spec in table:
        default = spec.default
        if default is PACKAGE_DEFAULT:  # the package's operating point: a float threshold or a name
            default = 0.5 if spec.value_range is not None else ''
        values = list(wrong_by_type[type(default)])
        if spec.value_range is not None:
            low, high = spec.value_range
            step = 1 if type(default) is int else 0.5
            values += [type(default)(low - step), type(default)(high + step)]
            values += [float('nan'), float('inf')] if type(default) is float else []
        if spec.choices is not None:
            values.append('not-a-choice')
        for value in values:
            counts['attempts'] += 1
            results = collector.set_parameters(node, {spec.name: value})
            if results and not results[0].successful:
                counts['refused'] += 1
            else:
                counts['accepted'] += 1
                accepted.append(f'{spec.name}={value!r}')
    return {**counts, 'accepted_values': accepted}


FORGED_PROBE_IDS = ('probe/monitor_node/99999999999', 'probe/other_monitor/1', 'probe/monitor_node/-1',
                    'probe/monitor_node/1e9', '', 'x' * 200, 'probe/monitor_node/\u0663')  # fmt: skip


def fuzz_probe_replies(collector, messages: int, seed: int = 0, rate_hz: float = 100.0) -> collections.Counter[str]:
    """Send `messages` forged, duplicated and reordered probe replies to the monitor_node `collector` sees.

    Forged replies name probes never sent, other monitors, garbage ids, or a probe still waiting but without
    its token; duplicates and late copies repeat the edge's genuine replies. Returns what was sent, by kind.
    """
    from sensor_msgs.msg import CompressedImage
    from std_msgs.msg import Header

    from splitee_ros.ros import qos
    from splitee_ros.ros.qos import PROBE_REPLY_TOPIC, PROBE_TOPIC

    rng = np.random.default_rng(seed)
    node = collector.node
    probes: collections.deque[CompressedImage] = collections.deque(maxlen=32)  # appends are atomic
    replies: collections.deque[CompressedImage] = collections.deque(maxlen=32)
    subscriptions = [
        node.create_subscription(CompressedImage, topic, lambda msg, heard=heard: heard.append(msg), qos.PROBE)
        for topic, heard in ((PROBE_TOPIC, probes), (PROBE_REPLY_TOPIC, replies))
    ]
    publisher = node.create_publisher(CompressedImage, PROBE_REPLY_TOPIC, qos.PROBE)
    heard_by = time.monotonic() + 60.0  # a probe and a reply heard first, so that every kind of forgery is sent
    while not (probes and replies) and time.monotonic() < heard_by:
        time.sleep(0.05)
    sent: collections.Counter[str] = collections.Counter()
    started = time.monotonic()
    for index in range(messages):
        probe = probes[-1] if probes else None
        reply = replies[int(rng.integers(len(replies)))] if replies else None
        choice = int(rng.integers(5))
        if choice == 0 and probe is not None:  # a probe still waiting, answered first, without its token
            publisher.publish(
                CompressedImage(header=probe.header, format=probe.format, data=rng.bytes(len(probe.data)))
            )
            sent['forged token'] += 1
        elif choice in (1, 2) and reply is not None:  # the edge's reply again: at once, or long after (reordered)
            publisher.publish(reply)
            sent['duplicate or reordered'] += 1
        else:
            frame_id = str(rng.choice(FORGED_PROBE_IDS))
            publisher.publish(CompressedImage(header=Header(frame_id=frame_id), format='probe', data=rng.bytes(16)))
            sent['forged id'] += 1
        time.sleep(max(0.0, started + (index + 1) / rate_hz - time.monotonic()))
    for subscription in subscriptions:
        node.destroy_subscription(subscription)
    node.destroy_publisher(publisher)
    return sent
