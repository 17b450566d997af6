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
from splitee_ros.pipeline.frames import DispatchLead, LiveEdges, Outcome, Pending, PendingFrames
from splitee_ros.pipeline.head import HeadPipeline, HeadSettings
from splitee_ros.pipeline.request import RequestFormat
from splitee_ros.pipeline.tail import RejectedError, TailPipeline
from splitee_ros.runtime.base import make_runtime


def pending(key, sent, deadline, result='fallback'):
    return Pending(key, sent, deadline, lambda: result)


def test_the_deadline_thread_leads_by_its_recent_wake_up_delays_within_its_bound():
    lead = DispatchLead(max_s=0.02, samples=100)
    for _ in range(DispatchLead.WARM_SAMPLES - 1):
        lead.record(0.0)
    assert lead.lead_s == 0.02  # too little measured (cold code, a new node): as early as it may
    lead.record(0.0)
    assert lead.lead_s == 0.0  # on time
    for n in range(100):
        lead.record(0.001 if n % 20 else 0.015)  # mostly 1 ms late, one in twenty 15 ms
    assert lead.lead_s == pytest.approx(0.015)  # the 95th percentile
    for _ in range(100):
        lead.record(0.050)  # a stalled CPU
    assert lead.lead_s == 0.02  # never more than its bound
    for _ in range(100):
        lead.record(-0.001)  # early wake-ups count as on time
    assert lead.lead_s == 0.0
    short = DispatchLead(max_s=0.02, samples=5)  # a window shorter than the warm-up still warms when full
    for _ in range(5):
        short.record(0.001)
    assert short.lead_s == pytest.approx(0.001)
    never = DispatchLead(max_s=0.0)
    never.record(0.3)
    assert never.lead_s == 0.0
    with pytest.raises(ValueError, match='>= 0'):
        DispatchLead(max_s=-1.0)


def test_live_edges_survive_fast_dds_counting_a_lost_writer_twice():
    edges = LiveEdges()
    assert edges.count is None  # nothing heard
    assert not edges.update(1) and edges.count == 1
    assert edges.update(0) and edges.count == 0  # the last edge lost
    assert not edges.update(-1) and edges.count == 0  # its end counted again (seen in CI): still none, lost once
    assert not edges.update(0) and edges.count == 1  # a restarted edge, reported one low: alive
    assert not edges.update(1) and edges.count == 2  # a second edge
    assert not edges.update(0) and edges.count == 1  # one of them lost: the other still serves
    assert edges.update(-1) and edges.count == 0  # both lost
    straight = LiveEdges()  # a count that falls straight from one to -1 still loses the edge, once
    assert not straight.update(1) and straight.update(-1) and straight.count == 0


def test_an_edge_answer_lost_to_the_lead_is_counted():
    import time

    frames = PendingFrames()
    soon = time.monotonic() + 60.0
    frames.add(pending((3, 0, 'cam'), 0.0, soon))
    assert [p.key for p in frames.expire(soon)] == [(3, 0, 'cam')]  # the lead: fallen back before its deadline
    assert frames.resolve((3, 0, 'cam'))[0] is Outcome.LATE  # the edge answered before the deadline, too late
    assert frames.counts['late'] == 1 and frames.counts['late_within_lead'] == 1


def test_a_frame_that_will_not_be_sent_is_due_at_once_and_a_done_one_is_not_waiting():
    frames = PendingFrames()
    superseded, sent = (0, 0, 'cam'), (0, 1, 'cam')
    frames.add(pending(superseded, 0.0, 10.0))
    frames.add(pending(sent, 0.0, 10.2))
    assert frames.waiting(superseded) and frames.waiting(sent)
    frames.due_now(superseded, 3.0)
    assert frames.next_deadline() == 3.0
    assert [p.key for p in frames.expire(3.0)] == [superseded]  # its fallback goes out now, not at 10.0
    assert not frames.waiting(superseded) and frames.waiting(sent)  # the sender skips a frame that fell back
    frames.due_now(superseded, 4.0)  # done already: nothing changes
    frames.due_now(sent, 11.0)  # never later than its deadline
    assert frames.next_deadline() == 10.2
    assert frames.resolve(sent)[0] is Outcome.EDGE and not frames.waiting(sent)
    assert dict(frames.counts) == {'fallback': 1, 'edge': 1}


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
    refused = PendingFrames()
    refused.add(pending((7, 0, 'cam'), 0.0, 1.0))
    outcome, frame = refused.resolve((7, 0, 'cam'), refused=True)  # the edge was busy: fall back now
    assert outcome is Outcome.FALLBACK and frame.fallback() == 'fallback' and len(refused) == 0
    assert refused.expire(2.0) == [] and refused.resolve((7, 0, 'cam'))[0] is Outcome.LATE
    assert dict(refused.counts) == {'refused_by_edge': 1, 'fallback': 1, 'late': 1}
    checks = PendingFrames()
    checks.add(Pending((5, 0, 'cam'), 0.0, 1.0, lambda: 'never', check=True))
    checks.add(Pending((5, 1, 'cam'), 0.0, 1.0, lambda: 'never', check=True))
    assert checks.resolve((5, 0, 'cam'))[0] is Outcome.EDGE and len(checks.expire(2.0)) == 1
    assert dict(checks.counts) == {'exit_checks': 1, 'exit_checks_unanswered': 1}  # neither an answer nor a fallback
    for n in range(5):  # the edge never answers: the oldest are pushed out as fallbacks, none kept forever
        overflow = frames.add(pending((1, n, 'cam'), 0.0, 99.0))
        assert len(frames) <= 3 and len(overflow) == (1 if n >= 3 else 0)
    assert frames.add(pending(d, 0.0, 99.0))[0].key == (1, 2, 'cam')


@given(st.text(max_size=80))
def test_the_request_format_parser_accepts_only_its_two_kinds(text):
    try:
        request = RequestFormat.parse(text)
    except ValueError:
        return
    assert request.kind in ('splitee/1', 'jpeg') and request.text() == text  # one spelling per request
    assert request.frame_size is None or all(0 < side <= 16384 for side in request.frame_size)


@given(
    st.one_of(st.none(), st.tuples(st.integers(1, 16384), st.integers(1, 16384))),
    st.floats(-1.0, 1000.0), st.floats(0.0, 1000.0),
)  # fmt: skip
def test_a_request_format_round_trips_with_its_budget(frame_size, budget_s, link_s):
    kind = 'jpeg' if frame_size is None else 'splitee/1'
    plain = RequestFormat(kind, frame_size)
    assert RequestFormat.parse(plain.text()) == plain and plain.edge_deadline(5.0) == float('inf')
    timed = plain.with_budget(budget_s, link_s)
    assert RequestFormat.parse(timed.text()) == timed
    assert 0 <= timed.budget_ms <= 600_000 and 0 <= timed.link_ms <= 600_000
    assert 5.0 <= timed.edge_deadline(5.0) <= 5.0 + timed.budget_ms / 1e3  # the link's time comes off the budget


def test_the_edge_deadline_is_arrival_plus_budget_less_the_link():
    request = RequestFormat.parse('splitee/1;h=480;w=640;budget_ms=180;link_ms=30')
    assert request.frame_size == (480, 640) and request.edge_deadline(10.0) == pytest.approx(10.15)
    bad = (
        'splitee/1;h=480;w=640;budget_ms=180',
        'jpeg;h=4;w=4',
        'jpeg;budget_ms=-1;link_ms=0',
        'splitee/2;h=1;w=1',
        'jpeg;budget_ms=1;budget_ms=1;link_ms=0',
        'jpeg;budget_ms=٣;link_ms=0',
        'jpeg;budget_ms=9999999;link_ms=0',
    )
    for text in bad:
        with pytest.raises(ValueError, match=r'not a request format|out of range'):
            RequestFormat.parse(text)


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
    assert offload.outcome is None and offload.request == RequestFormat('splitee/1', (480, 640))
    assert len(offload.fallback()) == len(exit_step.detections)  # the fallback is the best exit's result
    answer = edge.step(offload.request.with_budget(0.1, 0.01).text(), offload.payload)
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
    whole = edge.step(jpeg.request.text(), jpeg.payload)
    decoded = cv2.imdecode(np.frombuffer(jpeg.payload, np.uint8), cv2.IMREAD_COLOR)
    expected = head.run_full(decoded)  # the edge runs the whole model on exactly the frame the JPEG holds
    np.testing.assert_array_equal(whole.detections.labels, expected.labels)
    np.testing.assert_allclose(whole.detections.boxes, expected.boxes, atol=1e-3)


def test_edge_rejects_malformed_messages_with_a_reason(demo):
    package, _, tail = demo
    edge = TailPipeline(tail, package.wire_spec(), max_payload_bytes=64 << 10)
    code = np.zeros(tail.spec.split('stage1').code_shape, np.float32)
    stage1 = tail.split_names.index('stage1')  # the split's index on the wire
    good = encode_frame(code, CODECS['int8+zstd3'], package.model_id, stage1, 7)
    cases = {
        'too_large': ('splitee/1;h=480;w=640', bytes(65 << 10)),
        'bad_format': ('splitee/2;h=480;w=640', good),
        'bad_image': ('jpeg', b'\xff\xd8 not really'),
        'wrong_model': ('splitee/1;h=480;w=640', encode_frame(code, CODECS['int8+zstd3'], b'other-id', stage1, 7)),
        'bad_crc': ('splitee/1;h=480;w=640', good[:-1] + bytes([good[-1] ^ 1])),
    }
    for reason, (payload_format, data) in cases.items():
        with pytest.raises(RejectedError) as error:
            edge.step(payload_format, data)
        assert error.value.reason == reason
    assert edge.step('splitee/1;h=480;w=640', good).info['split'] == 'stage1'


def test_the_edge_runs_a_batch_of_requests_as_it_runs_them_one_at_a_time(demo):
    package, head, tail = demo
    pipeline = HeadPipeline(head, {c.name: c for c in package.codecs().values()}, package.model_id)
    edge = TailPipeline(tail, package.wire_spec(), max_payload_bytes=1 << 20)
    frames = sample_frames(3, seed=4400)
    steps = [pipeline.step(f, HeadSettings(split='stage2', exit_threshold=1.0), n) for n, f in enumerate(frames)]
    works = [edge.decode(step.request.text(), step.payload) for step in steps]
    assert {work.batch_key for work in works} == {'stage2'} and [w.info['sequence'] for w in works] == [0, 1, 2]
    for work, batched in zip(works, edge.run(works), strict=True):
        alone = edge.step(work.request.text(), steps[work.info['sequence']].payload).detections
        np.testing.assert_array_equal(batched.labels, alone.labels)
        np.testing.assert_allclose(batched.boxes, alone.boxes, atol=1e-2)
    image = edge.decode('jpeg', cv2.imencode('.jpg', frames[0])[1].tobytes())
    assert image.batch_key == 'full' and image.frame_size == frames[0].shape[:2]
    with pytest.raises(ValueError, match='a batch runs one graph'):
        edge.run([works[0], image])
