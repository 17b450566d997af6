# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The wire frame of a bottleneck tensor, and its strict decoder.

Layout, version 1 (all little-endian):

| offset | size | field |
|---|---|---|
| 0 | 4 | magic `SPLT` |
| 4 | 1 | version (1) |
| 5 | 1 | flags: bit 0 = quantised with calibration clipping ranges; other bits must be 0 |
| 6 | 1 | codec id (`registry.Codec.codec_id`) |
| 7 | 1 | dtype of the tensor: 1 float32, 2 float16, 3 float64 |
| 8 | 8 | model id: the first 8 bytes of the SHA-256 of the model package's manifest |
| 16 | 1 | split index (position in the model package's list of split points) |
| 17 | 1 | rank R (at most 8) |
| 18 | 2 | P, the number of quantisation parameter pairs (0, or one per channel) |
| 20 | 4 | frame sequence number |
| 24 | 4 | payload length L (bytes of the body) |
| 28 | 4 | CRC32C of the whole frame, computed with these four bytes set to zero |
| 32 | 4 R | shape, uint32 each |
| 32 + 4 R | 8 P | quantisation parameters: (offset, scale) float32 pairs |
| 32 + 4 R + 8 P | L | body: the quantised tensor, entropy-coded |

The decoder checks every field against the model package's `WireSpec` before it allocates anything, and
raises `FrameError` with a `Reason` for the first field that is wrong.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from splitee_ros.codec.checksum import CRC_SIZE, crc32c_of_record
from splitee_ros.codec.entropy import EntropyError
from splitee_ros.codec.registry import CODECS_BY_ID, Codec
from splitee_ros.errors import RejectedInputError

MAGIC = b'SPLT'
VERSION = 1
MAX_RANK = 8
FLAG_CLIPPED = 0x01
KNOWN_FLAGS = FLAG_CLIPPED
HEADER = struct.Struct('<4sBBBB8sBBHIII')
CRC_OFFSET = HEADER.size - CRC_SIZE
DTYPES: dict[int, np.dtype] = {1: np.dtype(np.float32), 2: np.dtype(np.float16), 3: np.dtype(np.float64)}
DTYPE_CODES = {dtype: code for code, dtype in DTYPES.items()}
MAX_SCALE = 1e30


class Reason(enum.Enum):
    """Why a frame was rejected."""

    TRUNCATED = 'truncated'
    TOO_LARGE = 'too_large'
    BAD_MAGIC = 'bad_magic'
    BAD_VERSION = 'bad_version'
    BAD_FLAGS = 'bad_flags'
    UNKNOWN_CODEC = 'unknown_codec'
    BAD_DTYPE = 'bad_dtype'
    WRONG_MODEL = 'wrong_model'
    UNKNOWN_SPLIT = 'unknown_split'
    BAD_RANK = 'bad_rank'
    BAD_LENGTH = 'bad_length'
    BAD_SHAPE = 'bad_shape'
    BAD_PARAMS = 'bad_params'
    BAD_CRC = 'bad_crc'
    BAD_PAYLOAD = 'bad_payload'


class FrameError(RejectedInputError):
    """A frame that the decoder rejects; `reason` says which check failed (a `Reason`)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        """Keep the reason code and a human-readable detail."""
        super().__init__(reason.value, detail)
        self.reason: Reason = reason  # type: ignore[assignment]  # the enum, whose value is the counter's name


def model_id_of(manifest: bytes) -> bytes:
    """The model id carried in frames: the first 8 bytes of SHA-256 of the manifest."""
    return hashlib.sha256(manifest).digest()[:8]


@dataclass(frozen=True)
class WireSpec:
    """What the decoder accepts: one model, its split points' code shapes, and a memory bound."""

    model_id: bytes
    split_shapes: tuple[tuple[int, ...], ...]  # by split index, batch included
    max_bytes: int = 64 << 20  # bound on a frame and on the decoder's working memory
    codecs: Mapping[int, Codec] = field(default_factory=lambda: dict(CODECS_BY_ID))


@dataclass(frozen=True)
class Frame:
    """A decoded frame."""

    sequence: int
    split_index: int
    codec: Codec
    flags: int
    tensor: np.ndarray


def encode_frame(
    values: np.ndarray,
    codec: Codec,
    model_id: bytes,
    split_index: int,
    sequence: int,
    clip: np.ndarray | None = None,
) -> bytes:
    """Encode one tensor into a frame."""
    dtype = np.dtype(values.dtype)
    if dtype not in DTYPE_CODES:
        raise ValueError(f'dtype {dtype} cannot be framed; use one of {", ".join(map(str, DTYPES.values()))}')
    if values.ndim > MAX_RANK:
        raise ValueError(f'rank {values.ndim} exceeds {MAX_RANK}')
    params, body = codec.for_split(split_index).encode(values, clip)
    params = np.ascontiguousarray(params, '<f4')
    flags = FLAG_CLIPPED if clip is not None and params.size else 0
    header = HEADER.pack(
        MAGIC, VERSION, flags, codec.codec_id, DTYPE_CODES[dtype], model_id, split_index, values.ndim,
        len(params), sequence & 0xFFFFFFFF, len(body), 0,
    )  # fmt: skip
    shape = struct.pack(f'<{values.ndim}I', *values.shape)
    frame = bytearray(header + shape + params.tobytes() + body)
    struct.pack_into('<I', frame, CRC_OFFSET, frame_crc(frame))
    return bytes(frame)


def frame_crc(frame: bytes | bytearray) -> int:
    """CRC32C of a frame with its CRC field taken as zero."""
    return crc32c_of_record(frame, HEADER.size)


class FrameDecoder:
    """Decode frames of one model package, rejecting anything that does not fit it."""

    def __init__(self, spec: WireSpec) -> None:
        """Decode against `spec`."""
        self.spec = spec

    def decode(self, data: bytes) -> Frame:
        """Validate every field, then decode; raise FrameError for a bad frame."""
        spec = self.spec
        if len(data) > spec.max_bytes:
            raise FrameError(Reason.TOO_LARGE, f'frame of {len(data)} bytes exceeds {spec.max_bytes}')
        if len(data) < HEADER.size:
            raise FrameError(Reason.TRUNCATED, f'{len(data)} bytes is shorter than the {HEADER.size}-byte header')
        (magic, version, flags, codec_id, dtype_code, model_id, split_index, rank, params_count, sequence,
         payload_length, crc) = HEADER.unpack_from(data)  # fmt: skip
        if magic != MAGIC:
            raise FrameError(Reason.BAD_MAGIC, f'magic {magic!r}')
        if version != VERSION:
            raise FrameError(Reason.BAD_VERSION, f'version {version}, this decoder reads {VERSION}')
        if flags & ~KNOWN_FLAGS:
            raise FrameError(Reason.BAD_FLAGS, f'unknown flag bits {flags & ~KNOWN_FLAGS:#04x}')
        if codec_id not in spec.codecs:
            raise FrameError(Reason.UNKNOWN_CODEC, f'codec id {codec_id:#04x}')
        if dtype_code not in DTYPES:
            raise FrameError(Reason.BAD_DTYPE, f'dtype code {dtype_code}')
        if model_id != spec.model_id:
            raise FrameError(Reason.WRONG_MODEL, f'model id {model_id.hex()}, expected {spec.model_id.hex()}')
        if split_index >= len(spec.split_shapes):
            raise FrameError(Reason.UNKNOWN_SPLIT, f'split index {split_index} of {len(spec.split_shapes)}')
        expected_shape = spec.split_shapes[split_index]
        if rank != len(expected_shape):
            raise FrameError(Reason.BAD_RANK, f'rank {rank}, split {split_index} has rank {len(expected_shape)}')
        shape_end = HEADER.size + 4 * rank
        total = shape_end + 8 * params_count + payload_length
        if total != len(data):
            raise FrameError(Reason.BAD_LENGTH, f'fields describe {total} bytes, the frame has {len(data)}')
        shape = struct.unpack_from(f'<{rank}I', data, HEADER.size)
        if shape != tuple(expected_shape):
            raise FrameError(Reason.BAD_SHAPE, f'shape {shape}, split {split_index} expects {tuple(expected_shape)}')
        codec = spec.codecs[codec_id].for_split(split_index)
        if params_count != codec.params_count(shape):
            raise FrameError(
                Reason.BAD_PARAMS, f'{params_count} parameter pairs, {codec.name} needs {codec.params_count(shape)}'
            )
        dtype = DTYPES[dtype_code]
        fixed_size = codec.fixed_body_size(shape, dtype)
        if fixed_size is not None and payload_length != fixed_size:
            raise FrameError(Reason.BAD_LENGTH, f'{codec.name} body of {payload_length} bytes, expected {fixed_size}')
        if codec.working_bytes(payload_length, shape, dtype) > spec.max_bytes:
            raise FrameError(Reason.TOO_LARGE, f'decoding {shape} {dtype} would need more than {spec.max_bytes} bytes')
        if frame_crc(data) != crc:
            raise FrameError(Reason.BAD_CRC, 'CRC32C mismatch')
        params = np.frombuffer(data, '<f4', 2 * params_count, shape_end).reshape(params_count, 2)
        if params_count and not (
            np.isfinite(params).all() and (params[:, 1] > 0).all() and (params[:, 1] < MAX_SCALE).all()
        ):
            raise FrameError(Reason.BAD_PARAMS, 'offsets must be finite and scales in (0, 1e30)')
        body = data[shape_end + 8 * params_count :]
        try:
            tensor = codec.decode(params, body, shape, dtype)
        except EntropyError as error:
            raise FrameError(Reason.BAD_PAYLOAD, str(error)) from error
        return Frame(sequence=sequence, split_index=split_index, codec=codec, flags=flags, tensor=tensor)
