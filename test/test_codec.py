# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Codec round trips (property tests) and the strict frame decoder's checks."""

import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from splitee_ros.codec.frame import (
    CRC_OFFSET,
    HEADER,
    FrameDecoder,
    FrameError,
    Reason,
    WireSpec,
    encode_frame,
    frame_crc,
    model_id_of,
)
from splitee_ros.codec.learned import learned_codecs, load_tables, read_tables
from splitee_ros.codec.quantize import pack_bits, unpack_bits
from splitee_ros.codec.registry import CODECS, codec_by_name
from splitee_ros.errors import ConfigError
from splitee_ros.model.rate import RateLevels, export_tables

MODEL_ID = model_id_of(b'model: test\n')


def decoder_for(shape, codecs=None) -> FrameDecoder:
    spec = WireSpec(MODEL_ID, (tuple(shape),))
    if codecs is not None:
        spec = WireSpec(MODEL_ID, (tuple(shape),), codecs=codecs)
    return FrameDecoder(spec)


@st.composite
def tensors(draw):
    """Tensors of rank 0-4 in float16/32/64, with magnitudes from 1e-3 to 1e4 and an offset."""
    dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=7))
    magnitude = draw(st.sampled_from([1e-3, 1.0, 60.0, 1e4]))
    if dtype is np.float16:
        magnitude = min(magnitude, 1e3)
    unit = draw(hnp.arrays(np.float64, shape, elements=st.floats(-1, 1, allow_nan=False)))
    offset = draw(st.floats(-magnitude, magnitude, allow_nan=False))
    return (unit * magnitude + offset).astype(dtype)


@settings(max_examples=300, deadline=None)
@given(values=tensors(), codec_name=st.sampled_from(sorted(CODECS)))
def test_round_trip_within_the_stated_bound(values, codec_name):
    codec = codec_by_name(codec_name)
    frame = encode_frame(values, codec, MODEL_ID, 0, sequence=41)
    decoded = decoder_for(values.shape).decode(frame)
    assert decoded.sequence == 41
    assert decoded.codec == codec
    assert decoded.tensor.dtype == values.dtype
    assert decoded.tensor.shape == values.shape
    if codec.lossless:
        np.testing.assert_array_equal(decoded.tensor, values)
    else:
        error = np.abs(decoded.tensor.astype(np.float64) - values.astype(np.float64))
        assert error.max(initial=0) <= codec.error_bound(values) * (1 + 1e-6) + np.finfo(values.dtype).tiny


@settings(max_examples=200, deadline=None)
@given(bits=st.integers(1, 8), codes=st.lists(st.integers(0, 255), max_size=300))
def test_bit_packing_round_trips(bits, codes):
    values = np.array(codes, np.uint8) & ((1 << bits) - 1)
    packed = pack_bits(values, bits)
    assert len(packed) == -(-len(values) // 8) * bits
    np.testing.assert_array_equal(unpack_bits(packed, bits, len(values)), values)


def test_fewer_bits_give_fewer_bytes_and_larger_errors():
    values = np.random.default_rng(0).normal(size=(1, 16, 30, 40)).astype(np.float32)
    sizes, errors = [], []
    for name in ('raw', 'fp16', 'int8', 'int6', 'int4'):
        frame = encode_frame(values, codec_by_name(name), MODEL_ID, 0, 0)
        sizes.append(len(frame))
        errors.append(np.abs(decoder_for(values.shape).decode(frame).tensor - values).max())
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] > 4 * 16 * 30 * 40 and sizes[2] < 16 * 30 * 40 + 400
    assert errors == sorted(errors)


def test_calibration_ranges_clip_and_are_flagged():
    values = np.linspace(-10, 10, 2 * 3 * 4, dtype=np.float32).reshape(1, 2, 3, 4)
    clip = np.array([[-1.0, 1.0], [0.0, 5.0]], np.float32)
    frame = encode_frame(values, codec_by_name('int8+zstd3'), MODEL_ID, 0, 0, clip=clip)
    decoded = decoder_for(values.shape).decode(frame)
    assert decoded.flags == 1
    expected = np.stack([np.clip(values[:, 0], -1, 1), np.clip(values[:, 1], 0, 5)], axis=1)
    np.testing.assert_allclose(decoded.tensor, expected, atol=5 / 255 / 2 + 1e-6)


@pytest.fixture(scope='module')
def learned_codecs_of_a_split():
    torch.manual_seed(0)
    levels = RateLevels(6, gains=[1.0, 0.5])
    with torch.no_grad():  # priors that are not centred on zero: medians matter
        for prior in levels.priors:
            prior.quantiles += torch.tensor([-3.0, 0.25, 3.0]).view(1, 1, 3) + 1.5
    return learned_codecs(load_tables(export_tables({0: levels})))


def test_learned_codec_round_trips_integer_symbols_at_every_rate_level(learned_codecs_of_a_split):
    fine, coarse = learned_codecs_of_a_split
    assert (fine.name, coarse.name) == ('learned', 'learned.1') and coarse.codec_id == fine.codec_id + 1
    for codec, gain in ((fine, 1.0), (coarse, 0.5)):
        table = codec.for_split(0)._table
        np.testing.assert_allclose(table.gain, gain)
        medians = table.medians.reshape(1, 6, 1, 1)
        symbols = np.random.default_rng(1).integers(-20, 21, size=(1, 6, 9, 11)).astype(np.float32)
        values = (symbols + medians) / gain  # on the level's grid: a step of 1 / gain
        decoder = decoder_for(values.shape, {codec.codec_id: codec})
        frame = encode_frame(values, codec, MODEL_ID, 0, 5)
        decoded = decoder.decode(frame).tensor
        np.testing.assert_array_equal(np.rint(decoded * gain - medians), symbols)
        np.testing.assert_allclose(decoded, values, atol=1e-4)
        assert struct.unpack_from('<H', frame, 18)[0] == 0  # no quantisation parameters
        noisy = values + np.random.default_rng(2).uniform(-0.45, 0.45, size=values.shape).astype(np.float32) / gain
        decoded = decoder.decode(encode_frame(noisy, codec, MODEL_ID, 0, 6)).tensor
        assert np.abs(decoded - noisy).max() <= codec.error_bound(noisy)


def test_learned_codec_writes_compressai_entropy_bottleneck_bytes(learned_codecs_of_a_split, tmp_path):
    """The numpy tables and the bare rANS extension code exactly as CompressAI's own module does."""
    levels = RateLevels(6, gains=[1.0, 0.5])
    with torch.no_grad():
        levels.priors[1].quantiles += 2.0
    np.savez(tmp_path / 'tables.npz', **export_tables({0: levels}))
    codecs = learned_codecs(read_tables(tmp_path / 'tables.npz'))
    values = np.random.default_rng(3).normal(0, 4, size=(2, 6, 5, 7)).astype(np.float32)
    for level, codec in enumerate(codecs):
        gain = levels.gain(level).detach()
        with torch.no_grad():
            strings = levels.priors[level].compress(torch.from_numpy(values) * gain)
            expected_values = levels.priors[level].decompress(strings, values.shape[2:]) / gain
        _, body = codec.for_split(0).encode(values)
        assert body == b''.join(struct.pack('<I', len(s)) + s for s in strings)
        decoded = codec.for_split(0).decode(np.zeros((0, 2), np.float32), body, values.shape, np.dtype(np.float32))
        np.testing.assert_allclose(decoded, expected_values.numpy(), rtol=1e-6, atol=1e-6)


def test_learned_tables_that_do_not_fit_together_are_refused():
    arrays = export_tables({0: RateLevels(4, gains=[1.0])})
    with pytest.raises(ConfigError, match='lack'):
        load_tables({key: value for key, value in arrays.items() if not key.endswith('offset')})
    with pytest.raises(ConfigError, match='unexpected entry'):
        load_tables({**arrays, '0.weights': np.zeros(1)})
    with pytest.raises(ConfigError, match='CDF length'):
        load_tables({**arrays, '0.0.cdf_length': arrays['0.0.cdf_length'] + 10_000})
    with pytest.raises(ConfigError, match='gains'):
        load_tables({**arrays, '0.0.gain': -arrays['0.0.gain']})


def seal(frame: bytearray) -> bytes:
    struct.pack_into('<I', frame, CRC_OFFSET, frame_crc(frame))
    return bytes(frame)


def forged(field_offset: int, fmt: str, value, reseal: bool = True):
    def change(frame: bytes) -> bytes:
        data = bytearray(frame)
        struct.pack_into(fmt, data, field_offset, value)
        return seal(data) if reseal else bytes(data)

    return change


SHAPE = (1, 4, 6, 8)
VALID = encode_frame(np.random.default_rng(3).normal(size=SHAPE).astype(np.float32), CODECS['int8'], MODEL_ID, 0, 9)


@pytest.mark.parametrize(
    ('mutate', 'reason'),
    [
        (lambda f: f[:20], Reason.TRUNCATED),
        (lambda f: f[:-1], Reason.BAD_LENGTH),
        (lambda f: f + b'\0', Reason.BAD_LENGTH),
        (forged(0, '4s', b'JPEG'), Reason.BAD_MAGIC),
        (forged(4, 'B', 2), Reason.BAD_VERSION),
        (forged(5, 'B', 0x80), Reason.BAD_FLAGS),
        (forged(6, 'B', 0x0F), Reason.UNKNOWN_CODEC),
        (forged(7, 'B', 9), Reason.BAD_DTYPE),
        (forged(8, '8s', b'othermod'), Reason.WRONG_MODEL),
        (forged(16, 'B', 1), Reason.UNKNOWN_SPLIT),
        (forged(17, 'B', 3), Reason.BAD_RANK),
        (forged(24, '<I', 10**6), Reason.BAD_LENGTH),
        (forged(32 + 4, '<I', 5), Reason.BAD_SHAPE),
        (forged(18, '<H', 3), Reason.BAD_LENGTH),
        (forged(32 + 16, '<f', float('inf')), Reason.BAD_PARAMS),  # offset of channel 0
        (forged(32 + 16 + 4, '<f', 0.0), Reason.BAD_PARAMS),  # scale of channel 0
        (forged(32 + 16 + 4, '<f', float('nan')), Reason.BAD_PARAMS),
        (lambda f: f[:-1] + bytes([f[-1] ^ 1]), Reason.BAD_CRC),
        (forged(6, 'B', CODECS['int8+zstd3'].codec_id), Reason.BAD_PAYLOAD),
    ],
)
def test_decoder_names_the_first_bad_field(mutate, reason):
    decoder = decoder_for(SHAPE)
    decoder.decode(VALID)  # the unmutated frame is fine
    with pytest.raises(FrameError) as error:
        decoder.decode(mutate(VALID))
    assert error.value.reason is reason


def test_decoder_refuses_work_beyond_its_bound():
    spec = WireSpec(MODEL_ID, ((1, 64, 512, 512),), max_bytes=1 << 20)
    header = HEADER.pack(b'SPLT', 1, 0, CODECS['int8+zstd3'].codec_id, 1, MODEL_ID, 0, 4, 64, 0, 10, 0)
    frame = bytearray(header + struct.pack('<4I', 1, 64, 512, 512) + bytes(8 * 64) + bytes(10))
    with pytest.raises(FrameError) as error:
        FrameDecoder(spec).decode(seal(frame))
    assert error.value.reason is Reason.TOO_LARGE
    with pytest.raises(FrameError) as error:
        FrameDecoder(spec).decode(bytes(2 << 20))
    assert error.value.reason is Reason.TOO_LARGE


@settings(max_examples=500, deadline=None)
@given(data=st.one_of(st.binary(max_size=400), st.binary(max_size=400).map(lambda tail: VALID[:32] + tail)))
def test_arbitrary_bytes_raise_only_frame_errors(data):
    with pytest.raises(FrameError):
        decoder_for(SHAPE).decode(data)
