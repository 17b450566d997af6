# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Fuzz the strict decoder with 100,000+ random and mutated frames."""

import collections
import struct
import tracemalloc

import numpy as np
import torch

from splitee_ros.codec.frame import CRC_OFFSET, FrameDecoder, FrameError, WireSpec, encode_frame, frame_crc, model_id_of
from splitee_ros.codec.learned import learned_codecs, load_tables
from splitee_ros.codec.registry import CODECS_BY_ID
from splitee_ros.model.rate import RateLevels, export_tables

FRAMES = 100_000
MODEL_ID = model_id_of(b'fuzz model\n')
SHAPES = ((1, 4, 6, 8), (1, 3, 5, 5))
MAX_BYTES = 256 << 10


def seal(data: bytearray) -> bytes:
    struct.pack_into('<I', data, CRC_OFFSET, frame_crc(data))
    return bytes(data)


def valid_frames(codecs) -> list[bytes]:
    rng = np.random.default_rng(0)
    frames = []
    for split_index, shape in enumerate(SHAPES):
        for codec in codecs.values():
            values = (rng.normal(size=shape) * rng.uniform(0.1, 20)).astype(np.float32)
            frames.append(encode_frame(values, codec, MODEL_ID, split_index, int(rng.integers(2**32))))
    return frames


def mutate(frame: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """One random mutation; about half of them recompute the CRC so that deeper checks are reached."""
    kind = int(rng.integers(11))
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
        struct.pack_into('<I', data, 24, int(rng.choice([0, 1, len(frame), 2**31, 2**32 - 1, rng.integers(2**32)])))
        return 'forged length', seal(data) if rng.integers(2) else bytes(data)
    if kind == 6:
        dimension = int(rng.integers(4))
        struct.pack_into('<I', data, 32 + 4 * dimension, int(rng.choice([0, 1, 2**31, rng.integers(2**32)])))
        return 'forged shape', seal(data)
    if kind == 7:
        data[17] = int(rng.integers(256))
        return 'forged rank', seal(data)
    if kind == 8:
        struct.pack_into('<H', data, 18, int(rng.integers(2**16)))
        return 'forged params count', seal(data)
    if kind == 9:
        data[8:16] = rng.bytes(8)
        return 'wrong model id', seal(data)
    body_start = len(frame) - struct.unpack_from('<I', frame, 24)[0]
    data[body_start:] = rng.bytes(len(frame) - body_start)
    return 'random body+crc', seal(data)


def test_fuzzed_frames_raise_only_frame_errors_within_the_memory_bound():
    torch.manual_seed(0)
    tables = export_tables({index: RateLevels(shape[1], [1.0, 0.5]) for index, shape in enumerate(SHAPES)})
    codecs = {**CODECS_BY_ID, **{codec.codec_id: codec for codec in learned_codecs(load_tables(tables))}}
    decoder = FrameDecoder(WireSpec(MODEL_ID, SHAPES, max_bytes=MAX_BYTES, codecs=codecs))
    seeds = valid_frames({codec.name: codec for codec in codecs.values()})
    rng = np.random.default_rng(2026)
    outcomes: collections.Counter = collections.Counter()
    mutations: collections.Counter = collections.Counter()
    unexpected = []
    peak = 0
    tracemalloc.start()
    try:
        for _ in range(FRAMES):
            kind, data = mutate(seeds[int(rng.integers(len(seeds)))], rng)
            mutations[kind] += 1
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            try:
                decoder.decode(data)
                outcomes['decoded'] += 1
            except FrameError as error:
                outcomes[error.reason.value] += 1
            except Exception as error:  # anything else is a defect: collect and report it
                unexpected.append((kind, type(error).__name__, str(error)[:200]))
            peak = max(peak, tracemalloc.get_traced_memory()[1] - before)
    finally:
        tracemalloc.stop()
    print(f'\nfuzz: {FRAMES} frames; peak decoder allocation {peak} B (bound {MAX_BYTES} B)')
    print('fuzz mutations:', dict(sorted(mutations.items())))
    print('fuzz outcomes:', dict(sorted(outcomes.items())))
    assert unexpected == []
    assert sum(outcomes.values()) == FRAMES
    assert peak <= MAX_BYTES
    # the mutations reach every check, and some survive them (a flipped bit in a lossy body is still a frame)
    assert len(outcomes) >= 14 and outcomes['decoded'] > 0
