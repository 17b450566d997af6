# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The nodes' logic without ROS: deadlines and outcomes, head settings, the edge's rejections."""

import cv2
import numpy as np
import pytest
from conftest import DEMO_PACKAGE
from hypothesis import given
from hypothesis import strategies as st

from splitee_ros.codec.frame import encode_frame
from splitee_ros.codec.registry import CODECS
from splitee_ros.data.synth import sample_frames
from splitee_ros.model.package import ModelPackage
from splitee_ros.pipeline.frames import Outcome, Pending, PendingFrames
from splitee_ros.pipeline.head import (
    HeadPipeline,
    HeadSettings,
    bottleneck_format,
    parse_bottleneck_format,
)
from splitee_ros.pipeline.tail import RejectedError, TailPipeline
from splitee_ros.runtime.base import make_runtime


def pending(key, sent, deadline, result='fallback'):
    return Pending(key, sent, deadline, lambda: result)


def test_each_frame_gets_exactly_one_outcome():
    frames = PendingFrames(limit=3)
    a, b, c, d = ((0, n, 'cam') for n in range(4))
    for key in (a, b, c):
        assert frames.add(pending(key, 0.0, 1.0)) == []
    outcome, answered = frames.resolve(a)
    assert outcome is Outcome.EDGE and answered.key == a  # edge result in time
    assert [p.key for p in frames.expire(0.5)] == []
    assert [p.key for p in frames.expire(1.0)] == [b, c]  # deadline passed: fallback
    outcome, late = frames.resolve(b)  # the edge answered after the fallback: counted, not published
    assert outcome is Outcome.LATE and late.key == b and late.sent_at == 0.0  # its round trip still measures
    assert frames.resolve(b) == (Outcome.REJECTED, None)  # a duplicate of a late answer
    assert frames.resolve(a) == (Outcome.REJECTED, None)  # a duplicate of an answer in time
    assert frames.resolve((9, 9, 'x')) == (Outcome.REJECTED, None)  # never sent
    frames.count(Outcome.EXIT)
    assert dict(frames.counts) == {
        'edge': 1, 'fallback': 2, 'late': 1, 'unknown_edge_results': 1, 'duplicate_edge_results': 2, 'exit': 1,
    }  # fmt: skip
    checks = PendingFrames()
    checks.add(Pending((5, 0, 'cam'), 0.0, 1.0, lambda: 'never', check=True))
    checks.add(Pending((5, 1, 'cam'), 0.0, 1.0, lambda: 'never', check=True))
    assert checks.resolve((5, 0, 'cam'))[0] is Outcome.EDGE and len(checks.expire(2.0)) == 1
    assert dict(checks.counts) == {'exit_checks': 1, 'exit_checks_unanswered': 1}  # neither an answer nor a fallback
    for n in range(5):  # the edge never answers: the oldest are pushed out as fallbacks, none kept forever
        overflow = frames.add(pending((1, n, 'cam'), 0.0, 99.0))
        assert len(frames) <= 3 and len(overflow) == (1 if n >= 3 else 0)
    assert frames.add(pending(d, 0.0, 99.0))[0].key == (1, 2, 'cam')


@given(st.text(max_size=60))
def test_bottleneck_format_parser_accepts_only_its_own_format(text):
    try:
        height, width = parse_bottleneck_format(text)
    except ValueError:
        return
    assert text.startswith('splitee/1;') and 0 < height <= 16384 and 0 < width <= 16384
    assert sorted(part.split('=')[0] for part in text.split(';')[1:] if '=' in part) == ['h', 'w']


@given(st.integers(1, 16384), st.integers(1, 16384))
def test_bottleneck_format_round_trips(height, width):
    assert parse_bottleneck_format(bottleneck_format((height, width))) == (height, width)


@pytest.fixture(scope='module')
def demo(runtime_cache):
    package = ModelPackage.load(DEMO_PACKAGE)
    head = make_runtime(DEMO_PACKAGE, 'onnxruntime', 'head', full=True, cache=runtime_cache)
    tail = make_runtime(DEMO_PACKAGE, 'onnxruntime', 'tail', full=True, cache=runtime_cache)
    return package, head, tail


def test_head_settings_are_checked(demo):
    package, head, _ = demo
    pipeline = HeadPipeline(head, {c.name: c for c in package.codecs().values()}, package.model_id)
    pipeline.check(HeadSettings(split='stage1', codec='int4+lz4'))
    for bad, message in (
        ({'mode': 'cloud'}, 'mode must be'),
        ({'split': 'neck'}, 'split_point must be'),
        ({'codec': 'gzip'}, 'codec must be'),
    ):
        with pytest.raises(ValueError, match=message):
            pipeline.check(HeadSettings(**{'split': 'stage1', **bad}))


def test_head_decisions_and_edge_results(demo):
    package, head, tail = demo
    codecs = {c.name: c for c in package.codecs().values()}
    pipeline = HeadPipeline(head, codecs, package.model_id)
    edge = TailPipeline(tail, package.wire_spec(), max_payload_bytes=1 << 20)
    image = sample_frames(1, seed=4200)[0]
    exit_step = pipeline.step(image, HeadSettings(split='stage2', exit_threshold=0.0), 1)
    assert exit_step.outcome is Outcome.EXIT and exit_step.info['exit'] in ('stem', 'stage1', 'stage2')
    offload = pipeline.step(image, HeadSettings(split='stage2', exit_threshold=1.0), 2)
    assert offload.outcome is None and offload.payload_format == 'splitee/1;h=480;w=640'
    assert len(offload.fallback()) == len(exit_step.detections)  # the fallback is the best exit's result
    answer = edge.step(offload.payload_format, offload.payload)
    assert answer.info['split'] == 'stage2' and answer.info['sequence'] == 2
    checked = pipeline.step(image, HeadSettings(split='stage2', exit_threshold=0.0), 5, check_exit=True)
    assert (
        checked.outcome is Outcome.EXIT
        and checked.payload == pipeline.step(image, HeadSettings(split='stage2', exit_threshold=1.0), 5).payload
    )  # an exit checked by the edge: answered at once, and its code goes to the edge as well
    assert pipeline.step(image, HeadSettings(split='stage2', exit_threshold=1.0), 6, check_exit=True).outcome is None
    local = pipeline.step(image, HeadSettings(split='stage2', mode='local'), 3)
    assert local.outcome is Outcome.LOCAL
    jpeg = pipeline.step(image, HeadSettings(split='stage2', mode='offload-image'), 4)
    whole = edge.step(jpeg.payload_format, jpeg.payload)
    decoded = cv2.imdecode(np.frombuffer(jpeg.payload, np.uint8), cv2.IMREAD_COLOR)
    expected = head.run_full(decoded)  # the edge runs the whole model on exactly the frame the JPEG holds
    np.testing.assert_array_equal(whole.detections.labels, expected.labels)
    np.testing.assert_allclose(whole.detections.boxes, expected.boxes, atol=1e-3)


def test_edge_rejects_malformed_messages_with_a_reason(demo):
    package, _, tail = demo
    edge = TailPipeline(tail, package.wire_spec(), max_payload_bytes=64 << 10)
    code = np.zeros(tail.spec.split('stage1').code_shape, np.float32)
    good = encode_frame(code, CODECS['int8+zstd3'], package.model_id, 1, 7)
    cases = {
        'too_large': ('splitee/1;h=480;w=640', bytes(65 << 10)),
        'bad_format': ('splitee/2;h=480;w=640', good),
        'bad_image': ('jpeg', b'\xff\xd8 not really'),
        'wrong_model': ('splitee/1;h=480;w=640', encode_frame(code, CODECS['int8+zstd3'], b'other-id', 1, 7)),
        'bad_crc': ('splitee/1;h=480;w=640', good[:-1] + bytes([good[-1] ^ 1])),
    }
    for reason, (payload_format, data) in cases.items():
        with pytest.raises(RejectedError) as error:
            edge.step(payload_format, data)
        assert error.value.reason == reason
    assert edge.step('splitee/1;h=480;w=640', good).info['split'] == 'stage1'
