# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Fuzz the strict decoder with 100,000+ random and mutated frames."""

import collections
import tracemalloc

import numpy as np
import torch

from splitee_ros.codec.frame import FrameDecoder, FrameError, WireSpec, encode_frame, model_id_of
from splitee_ros.codec.learned import learned_codecs, load_tables
from splitee_ros.codec.registry import CODECS_BY_ID
from splitee_ros.model.rate import RateLevels, export_tables
from splitee_ros.tools.fuzz import mutate_frame

FRAMES = 100_000
MODEL_ID = model_id_of(b'fuzz model\n')
SHAPES = ((1, 4, 6, 8), (1, 3, 5, 5))
MAX_BYTES = 256 << 10


def valid_frames(codecs) -> list[bytes]:
    rng = np.random.default_rng(0)
    frames = []
    for split_index, shape in enumerate(SHAPES):
        for codec in codecs.values():
            values = (rng.normal(size=shape) * rng.uniform(0.1, 20)).astype(np.float32)
            frames.append(encode_frame(values, codec, MODEL_ID, split_index, int(rng.integers(2**32))))
    return frames


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
            kind, data = mutate_frame(seeds[int(rng.integers(len(seeds)))], rng)
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
