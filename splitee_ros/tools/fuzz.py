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
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from splitee_ros.codec.frame import CRC_OFFSET, HEADER, frame_crc

_PARAMS_COUNT_OFFSET, _RANK_OFFSET, _LENGTH_OFFSET = 18, 17, 24
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
class TailFuzzReport:
    """What a live fuzz run of tail_node saw."""

    sent: collections.Counter[str] = field(default_factory=collections.Counter)  # kinds of request sent
    answers: collections.Counter[str] = field(default_factory=collections.Counter)  # (valid|fuzzed)/status
    valid_unanswered: int = 0
    answered_twice: int = 0
    undecodable_answers: int = 0  # result envelopes that do not decode (e.g. a non-finite number)
    rejected_counted: dict[str, int] = field(default_factory=dict)  # the tail's own counters
    rss_mb: list[float] = field(default_factory=list)  # at each quarter of the run, then at the end
    warm_up: float = 0.25  # the share of the run after which the memory must stay within 5%
    alive: bool = True
    seconds: float = 0.0

    @property
    def rss_growth(self) -> float:
        """Growth of the resident memory from the end of the warm-up (the first quarter) to the end."""
        return self.rss_mb[-1] / self.rss_mb[0] - 1 if len(self.rss_mb) > 1 and self.rss_mb[0] else 0.0

    def as_dict(self) -> dict:
        """JSON-friendly."""
        return {
            'sent': dict(self.sent), 'answers': dict(self.answers), 'valid_unanswered': self.valid_unanswered,
            'answered_twice': self.answered_twice, 'undecodable_answers': self.undecodable_answers,
            'rejected_counted': self.rejected_counted, 'rss_mb': [round(v, 1) for v in self.rss_mb],
            'rss_growth_after_warm_up': round(self.rss_growth, 4), 'alive': self.alive,
            'seconds': round(self.seconds, 1),
        }  # fmt: skip


def _rss_mb(pid: int) -> float:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    return 0.0


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
            report.rss_mb.append(_rss_mb(tail_pid))
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
    report.rss_mb.append(_rss_mb(tail_pid))
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
