# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The codec registry: every quantiser with every entropy stage, each with a stable name and one-byte id.

Names read `<quantiser>[+<entropy>]`, e.g. `int8`, `int8+zstd3`, `fp16+lz4`; the id is
`quantiser_id << 4 | entropy_id`. The learned codec (`learned`, see `learned.py`) needs tables from a model
package and is added by `codecs_for_package`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from splitee_ros.codec.entropy import Lz4, Plain, Zstd
from splitee_ros.codec.quantize import Affine, Float16, Raw, channel_count
from splitee_ros.errors import UnknownNameError


class Quantizer(Protocol):
    """Float tensor ⇄ (parameters, body bytes)."""

    @property
    def name(self) -> str:
        """Codec-name part, e.g. int8."""

    @property
    def lossless(self) -> bool:
        """Whether a round trip returns the tensor exactly."""

    def body_size(self, shape: tuple[int, ...], dtype: np.dtype) -> int:
        """Bytes of the quantised body."""

    def quantize(self, values: np.ndarray, clip: np.ndarray | None = None) -> tuple[np.ndarray, bytes]:
        """Parameters (P, 2) and body; `clip` is an optional (channels, 2) calibration range."""

    def dequantize(self, params: np.ndarray, body: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Rebuild the tensor."""

    def error_bound(self, values: np.ndarray) -> float:
        """Largest absolute round-trip error for `values`."""


class EntropyStage(Protocol):
    """Bytes ⇄ fewer bytes, losslessly, with bounded decompression."""

    @property
    def name(self) -> str:
        """Codec-name part, e.g. zstd3 ('' for no entropy coding)."""

    def compress(self, data: bytes) -> bytes:
        """Compress."""

    def decompress(self, data: bytes, expected_size: int) -> bytes:
        """Decompress to exactly `expected_size` bytes, or raise EntropyError."""


class Codec(Protocol):
    """What a frame is coded with: a quantiser with an entropy stage (`StagedCodec`) or the learned codec."""

    @property
    def codec_id(self) -> int:
        """The frame's one-byte codec id."""

    @property
    def name(self) -> str:
        """Registry name, e.g. int8+zstd3."""

    @property
    def lossless(self) -> bool:
        """Whether decode(encode(x)) == x exactly."""

    def for_split(self, split_index: int) -> Codec:
        """The codec for one split point."""

    def params_count(self, shape: tuple[int, ...]) -> int:
        """Number of (offset, scale) pairs that a frame of this shape carries."""

    def fixed_body_size(self, shape: tuple[int, ...], dtype: np.dtype) -> int | None:
        """Exact body size when it does not depend on the content, else None."""

    def working_bytes(self, payload_length: int, shape: tuple[int, ...], dtype: np.dtype) -> int:
        """Memory that decoding may use."""

    def encode(self, values: np.ndarray, clip: np.ndarray | None = None) -> tuple[np.ndarray, bytes]:
        """Code a tensor: (params (P, 2) float32, body); `clip`: calibration ranges."""

    def decode(self, params: np.ndarray, body: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Inverse of `encode`."""

    def error_bound(self, values: np.ndarray) -> float:
        """Largest absolute error of a round trip of `values`."""


QUANTIZERS: dict[int, Quantizer] = {0: Raw(), 1: Float16(), 2: Affine(8), 3: Affine(6), 4: Affine(4)}
ENTROPY_STAGES: dict[int, EntropyStage] = {0: Plain(), 1: Lz4(), 2: Zstd(1), 3: Zstd(3), 4: Zstd(9), 5: Zstd(19)}
LEARNED_QUANTIZER_ID = 5


@dataclass(frozen=True)
class StagedCodec:
    """A quantiser followed by an entropy stage."""

    codec_id: int
    quantizer: Quantizer
    entropy: EntropyStage

    @property
    def name(self) -> str:
        """Registry name, e.g. int8+zstd3."""
        return self.quantizer.name + (f'+{self.entropy.name}' if self.entropy.name else '')

    @property
    def lossless(self) -> bool:
        """Whether decode(encode(x)) == x exactly."""
        return self.quantizer.lossless

    def for_split(self, split_index: int) -> StagedCodec:
        """The codec for one split point: the same for every split."""
        return self

    def params_count(self, shape: tuple[int, ...]) -> int:
        """Number of (offset, scale) pairs that a frame of this shape carries."""
        return channel_count(shape) if isinstance(self.quantizer, Affine) else 0

    def fixed_body_size(self, shape: tuple[int, ...], dtype: np.dtype) -> int | None:
        """Exact body size when there is no entropy stage, else None (the size depends on the content)."""
        return self.quantizer.body_size(shape, dtype) if isinstance(self.entropy, Plain) else None

    def working_bytes(self, payload_length: int, shape: tuple[int, ...], dtype: np.dtype) -> int:
        """Memory that decoding may use: the body, the decompressed body and two float copies."""
        values = int(np.prod(shape, dtype=np.int64))
        return payload_length + self.quantizer.body_size(shape, dtype) + 2 * values * max(np.dtype(dtype).itemsize, 4)

    def encode(self, values: np.ndarray, clip: np.ndarray | None = None) -> tuple[np.ndarray, bytes]:
        """Quantise and entropy-code a tensor: (params (P, 2) float32, body); `clip`: calibration ranges."""
        params, body = self.quantizer.quantize(values, clip)
        return params, self.entropy.compress(body)

    def decode(self, params: np.ndarray, body: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Inverse of `encode`; the body must decompress to exactly the quantiser's size."""
        plain = self.entropy.decompress(body, self.quantizer.body_size(shape, dtype))
        return self.quantizer.dequantize(params, plain, shape, dtype)

    def error_bound(self, values: np.ndarray) -> float:
        """Largest absolute error of a round trip of `values`."""
        return self.quantizer.error_bound(values)


CODECS: dict[str, Codec] = {}
for _quantizer_id, _quantizer in QUANTIZERS.items():
    for _entropy_id, _entropy in ENTROPY_STAGES.items():
        _codec = StagedCodec(_quantizer_id << 4 | _entropy_id, _quantizer, _entropy)
        CODECS[_codec.name] = _codec
CODECS_BY_ID: dict[int, Codec] = {codec.codec_id: codec for codec in CODECS.values()}


def codec_by_name(name: str, codecs: Mapping[str, Codec] = CODECS) -> Codec:
    """Look a codec up by name, with an error that lists the known ones."""
    if name not in codecs:
        raise UnknownNameError(f'unknown codec {name!r}; known: {", ".join(codecs)}')
    return codecs[name]
