# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The edge's result envelope: round trips, and a strict decoder that raises only EnvelopeError."""

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitee_ros.codec.envelope import (
    CRC_OFFSET,
    HEADER,
    Envelope,
    EnvelopeError,
    Status,
    decode_envelope,
    encode_envelope,
    envelope_crc,
)
from splitee_ros.model.postprocess import Detections

CLASSES = 5


def detections(count: int, seed: int = 0) -> Detections:
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0, 600, (count, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + rng.uniform(1, 40, (count, 2)).astype(np.float32)], axis=1)
    return Detections(boxes, rng.uniform(0, 1, count).astype(np.float32), rng.integers(0, CLASSES, count))


def seal(data: bytearray) -> bytes:
    struct.pack_into('<I', data, CRC_OFFSET, envelope_crc(data))
    return bytes(data)


@settings(max_examples=200, deadline=None)
@given(count=st.integers(0, 50), sequence=st.integers(0, 2**32 - 1), queue=st.floats(0, 1e4), seed=st.integers(0, 99))
def test_an_answer_round_trips(count, sequence, queue, seed):
    sent = Envelope(Status.OK, sequence, detections(count, seed), queue_ms=queue, compute_ms=12.5)
    received = decode_envelope(encode_envelope(sent), CLASSES)
    assert (received.status, received.sequence, received.compute_ms) == (Status.OK, sequence, 12.5)
    assert received.queue_ms == pytest.approx(queue, rel=1e-6)
    np.testing.assert_array_equal(received.detections.boxes, sent.detections.boxes)
    np.testing.assert_array_equal(received.detections.scores, sent.detections.scores)
    np.testing.assert_array_equal(received.detections.labels, sent.detections.labels)


@pytest.mark.parametrize('status', [Status.BUSY, Status.EXPIRED, Status.REJECTED])
def test_a_refusal_carries_its_reason_and_no_detections(status):
    received = decode_envelope(encode_envelope(Envelope(status, 7, Detections.empty(), detail='bad_crc: müde')), 5)
    assert (received.status, received.sequence, received.detail, len(received.detections)) == (
        status, 7, 'bad_crc: müde', 0,
    )  # fmt: skip
    with pytest.raises(ValueError, match='carries no detections'):
        encode_envelope(Envelope(status, 7, detections(1)))


VALID = encode_envelope(Envelope(Status.OK, 3, detections(4), 1.0, 2.0))


def changed(offset: int, fmt: str, value) -> bytes:
    data = bytearray(VALID)
    struct.pack_into(fmt, data, offset, value)
    return seal(data)


@pytest.mark.parametrize(
    ('data', 'reason'),
    [
        (VALID[:10], 'truncated'),
        (b'XXXX' + VALID[4:], 'bad_magic'),
        (changed(4, '<B', 2), 'bad_version'),
        (changed(5, '<B', 9), 'bad_status'),
        (changed(7, '<B', 1), 'bad_flags'),
        (changed(5, '<B', Status.BUSY), 'bad_count'),  # a refusal with detections
        (changed(12, '<I', 2**31), 'bad_count'),
        (changed(12, '<I', 5), 'bad_length'),
        (VALID + b'x', 'bad_length'),
        (VALID[:-1] + bytes([VALID[-1] ^ 1]), 'bad_crc'),
        (changed(16, '<f', float('nan')), 'bad_times'),
        (changed(20, '<f', -1.0), 'bad_times'),
        (changed(HEADER.size, '<f', float('inf')), 'bad_detections'),
        (changed(HEADER.size + 20 * 4, '<H', CLASSES), 'bad_detections'),
        (changed(HEADER.size, '<f', -1.0), 'bad_detections'),  # a negative coordinate
        (changed(HEADER.size, '<f', 1e6), 'bad_detections'),  # x1 beyond x2
        (changed(HEADER.size + 16 * 4, '<f', 1.5), 'bad_detections'),  # a score above 1
    ],
)
def test_the_decoder_names_the_first_wrong_field(data, reason):
    with pytest.raises(EnvelopeError) as error:
        decode_envelope(data, CLASSES)
    assert error.value.reason == reason


def test_a_long_detail_is_cut_between_characters():
    detail = 'ü' * 200  # 400 bytes: a cut at 255 would fall inside a character
    received = decode_envelope(encode_envelope(Envelope(Status.REJECTED, 3, Detections.empty(), detail=detail)), 5)
    assert received.detail == 'ü' * 127 and len(received.detail.encode()) == 254


def test_a_detail_that_is_not_utf8_is_rejected():
    data = bytearray(encode_envelope(Envelope(Status.REJECTED, 1, Detections.empty(), detail='ab')))
    data[-2:] = b'\xff\xfe'
    with pytest.raises(EnvelopeError, match='bad_detail'):
        decode_envelope(seal(data), CLASSES)


@settings(max_examples=500, deadline=None)
@given(data=st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(lambda tail: VALID[:28] + tail)))
def test_arbitrary_bytes_raise_only_envelope_errors(data):
    with pytest.raises(EnvelopeError):
        decode_envelope(data, CLASSES)


def test_mutated_envelopes_raise_only_envelope_errors():
    rng = np.random.default_rng(2026)
    decoded = 0
    for _ in range(5000):
        data = bytearray(VALID)
        for _ in range(int(rng.integers(1, 6))):
            data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
        try:
            decode_envelope(seal(data) if rng.integers(2) else bytes(data), CLASSES)
            decoded += 1
        except EnvelopeError:
            pass
    assert decoded > 0  # a flipped bit in a box survives every check: the CRC is there against the link's errors
