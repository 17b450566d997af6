# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The edge's reply to one request: the result envelope, and its strict decoder.

The edge answers every request it takes on the requesting vehicle's own result topic, in a
`sensor_msgs/CompressedImage` with format `splitee-result/1` and the request's header (stamp and frame_id
identify the frame end to end). Besides the detections it says why there are none: the edge was saturated
(`busy`: fall back now, not at the deadline), the frame's deadline had passed before it could be computed
(`expired`), or the request was malformed (`rejected`, with the reason).

Layout, version 1 (all little-endian):

| offset | size | field |
|---|---|---|
| 0 | 4 | magic `SPLR` |
| 4 | 1 | version (1) |
| 5 | 1 | status: 0 ok, 1 busy, 2 expired, 3 rejected |
| 6 | 1 | length D of the detail text (UTF-8; the rejection's reason) |
| 7 | 1 | flags (none defined: 0) |
| 8 | 4 | the request's frame sequence number (0 for an image) |
| 12 | 4 | number N of detections |
| 16 | 4 | queue_ms: float32, time the request waited at the edge |
| 20 | 4 | compute_ms: float32, time the edge computed (decode and model) |
| 24 | 4 | CRC32C of the whole envelope, computed with these four bytes set to zero |
| 28 | 16 N | boxes: x1, y1, x2, y2 float32 per detection, in the camera frame's pixels (x1 <= x2, y1 <= y2, >= 0) |
| 28 + 16 N | 4 N | scores: float32, in [0, 1] |
| 28 + 20 N | 2 N | class indices: uint16 |
| 28 + 22 N | D | detail |
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import numpy as np

from splitee_ros.codec.checksum import CRC_SIZE, crc32c_of_record
from splitee_ros.errors import RejectedInputError
from splitee_ros.model.postprocess import Detections

MAGIC = b'SPLR'
VERSION = 1
FORMAT = 'splitee-result/1'  # CompressedImage.format of an envelope
HEADER = struct.Struct('<4sBBBBIIffI')
CRC_OFFSET = HEADER.size - CRC_SIZE
MAX_DETECTIONS = 10_000
MAX_DETAIL_BYTES = 255  # its length is one byte of the header; longer details are cut
BYTES_PER_DETECTION = 22


class Status(enum.IntEnum):
    """What the edge did with a request."""

    OK = 0  # computed: the detections are the edge's answer
    BUSY = 1  # not taken: the edge is saturated (or the vehicle is over its fair share)
    EXPIRED = 2  # not computed: its deadline passed while it waited
    REJECTED = 3  # malformed: the detail names the reason


class EnvelopeError(RejectedInputError):
    """An envelope the vehicle cannot use; `reason` names the check that failed."""


@dataclass(frozen=True)
class Envelope:
    """One reply of the edge."""

    status: Status
    sequence: int
    detections: Detections
    queue_ms: float = 0.0
    compute_ms: float = 0.0
    detail: str = ''

    @property
    def edge_ms(self) -> float:
        """The edge's whole time for the request: what the round trip holds besides the network."""
        return self.queue_ms + self.compute_ms


def encode_envelope(envelope: Envelope) -> bytes:
    """The bytes of `envelope`; ValueError for what the format cannot carry."""
    detections = envelope.detections
    count = len(detections)
    if count > MAX_DETECTIONS:
        raise ValueError(f'{count} detections exceed {MAX_DETECTIONS}')
    labels = np.asarray(detections.labels)
    if count and (labels.min() < 0 or labels.max() > 0xFFFF):
        raise ValueError('class indices must be in 0..65535')
    if envelope.status is not Status.OK and count:
        raise ValueError(f'a {envelope.status.name.lower()} reply carries no detections')
    detail = envelope.detail.encode()[:MAX_DETAIL_BYTES].decode(errors='ignore').encode()  # whole characters only
    header = HEADER.pack(
        MAGIC, VERSION, int(envelope.status), len(detail), 0, envelope.sequence & 0xFFFFFFFF, count,
        envelope.queue_ms, envelope.compute_ms, 0,
    )  # fmt: skip
    data = bytearray(header)
    data += np.ascontiguousarray(detections.boxes, '<f4').reshape(count, 4).tobytes()
    data += np.ascontiguousarray(detections.scores, '<f4').reshape(count).tobytes()
    data += labels.astype('<u2').reshape(count).tobytes()
    data += detail
    struct.pack_into('<I', data, CRC_OFFSET, envelope_crc(data))
    return bytes(data)


def envelope_crc(data: bytes | bytearray) -> int:
    """CRC32C of an envelope with its CRC field taken as zero."""
    return crc32c_of_record(data, HEADER.size)


def decode_envelope(data: bytes, class_count: int) -> Envelope:
    """Check every field, then decode; EnvelopeError for anything that is not a valid envelope of this model."""
    if len(data) < HEADER.size:
        raise EnvelopeError('truncated', f'{len(data)} bytes is shorter than the {HEADER.size}-byte header')
    magic, version, status, detail_length, flags, sequence, count, queue_ms, compute_ms, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise EnvelopeError('bad_magic', f'magic {magic!r}')
    if version != VERSION:
        raise EnvelopeError('bad_version', f'version {version}, this decoder reads {VERSION}')
    if status not in Status._value2member_map_:
        raise EnvelopeError('bad_status', f'status {status}')
    if flags:
        raise EnvelopeError('bad_flags', f'unknown flag bits {flags:#04x}')
    if count > MAX_DETECTIONS or (count and status != Status.OK):
        raise EnvelopeError('bad_count', f'{count} detections with status {Status(status).name.lower()}')
    expected = HEADER.size + BYTES_PER_DETECTION * count + detail_length
    if len(data) != expected:
        raise EnvelopeError('bad_length', f'fields describe {expected} bytes, the envelope has {len(data)}')
    if envelope_crc(data) != crc:
        raise EnvelopeError('bad_crc', 'CRC32C mismatch')
    if not (np.isfinite([queue_ms, compute_ms]).all() and queue_ms >= 0 and compute_ms >= 0):
        raise EnvelopeError('bad_times', f'queue_ms {queue_ms}, compute_ms {compute_ms}')
    offset = HEADER.size
    boxes = np.frombuffer(data, '<f4', 4 * count, offset).reshape(count, 4)
    scores = np.frombuffer(data, '<f4', count, offset + 16 * count)
    labels = np.frombuffer(data, '<u2', count, offset + 20 * count)
    if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
        raise EnvelopeError('bad_detections', 'boxes and scores must be finite')
    if count and not ((boxes >= 0).all() and (boxes[:, 2:] >= boxes[:, :2]).all()):
        raise EnvelopeError('bad_detections', 'boxes are x1 <= x2, y1 <= y2, within the frame (not negative)')
    if count and not ((scores >= 0).all() and (scores <= 1).all()):
        raise EnvelopeError('bad_detections', 'scores must be in [0, 1]')
    if count and int(labels.max()) >= class_count:
        raise EnvelopeError('bad_detections', f'class index {int(labels.max())} of {class_count} classes')
    try:
        detail = data[offset + BYTES_PER_DETECTION * count :].decode()
    except UnicodeDecodeError as error:
        raise EnvelopeError('bad_detail', str(error)) from None
    detections = Detections(boxes.astype(np.float32), scores.astype(np.float32), labels.astype(np.int64))
    return Envelope(Status(status), sequence, detections, float(queue_ms), float(compute_ms), detail)
