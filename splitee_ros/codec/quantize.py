# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Quantisers: float tensors to bytes and back, vectorised with numpy.

Each quantiser turns a tensor into (parameters, body bytes) and back. Affine quantisers work per channel:
axis 1 of a tensor of rank >= 2 (N, C, ...), the whole tensor for rank 0 or 1. Their parameters are one
(offset, scale) pair per channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLOAT16_MAX = float(np.finfo(np.float16).max)


def output_rounding(values: np.ndarray) -> float:
    """Half a unit in the last place of the tensor's dtype at its largest magnitude.

    This is what casting a decoded float32 tensor back to that dtype may cost.
    """
    if values.size == 0:
        return 0.0
    largest = np.max(np.abs(values)).astype(values.dtype)
    return float(np.spacing(largest)) / 2


def channel_count(shape: tuple[int, ...]) -> int:
    """Number of quantisation channels of a tensor of this shape."""
    return shape[1] if len(shape) >= 2 else 1


def _by_channel(values: np.ndarray) -> np.ndarray:
    """View a tensor as (channels, values per channel)."""
    if values.ndim >= 2:
        return np.moveaxis(values, 1, 0).reshape(values.shape[1], -1)
    return values.reshape(1, -1)


def _from_channels(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if len(shape) >= 2:
        moved = (shape[1], shape[0], *shape[2:])
        return np.moveaxis(rows.reshape(moved), 0, 1)
    return rows.reshape(shape)


@dataclass(frozen=True)
class Raw:
    """The tensor's own bytes, little-endian: lossless."""

    name: str = 'raw'
    lossless: bool = True

    def body_size(self, shape: tuple[int, ...], dtype: np.dtype) -> int:
        """Bytes of the body for a tensor of `shape` and `dtype`."""
        return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize

    def quantize(self, values: np.ndarray, clip: np.ndarray | None = None) -> tuple[np.ndarray, bytes]:
        """Return empty parameters and the little-endian bytes (no clipping: lossless)."""
        return np.zeros((0, 2), np.float32), np.ascontiguousarray(values, values.dtype.newbyteorder('<')).tobytes()

    def dequantize(self, params: np.ndarray, body: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Rebuild the tensor from its bytes."""
        return np.frombuffer(body, np.dtype(dtype).newbyteorder('<')).astype(dtype).reshape(shape)

    def error_bound(self, values: np.ndarray) -> float:
        """Largest absolute error after a round trip."""
        return 0.0


@dataclass(frozen=True)
class Float16:
    """Half precision; values beyond the float16 range are clipped to it."""

    name: str = 'fp16'
    lossless: bool = False

    def body_size(self, shape: tuple[int, ...], dtype: np.dtype) -> int:
        """Two bytes per value."""
        return int(np.prod(shape, dtype=np.int64)) * 2

    def quantize(self, values: np.ndarray, clip: np.ndarray | None = None) -> tuple[np.ndarray, bytes]:
        """Return empty parameters and the float16 bytes (calibration ranges do not apply)."""
        half = np.clip(values, -FLOAT16_MAX, FLOAT16_MAX).astype('<f2')
        return np.zeros((0, 2), np.float32), half.tobytes()

    def dequantize(self, params: np.ndarray, body: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Widen the float16 values to `dtype`."""
        return np.frombuffer(body, '<f2').astype(dtype).reshape(shape)

    def error_bound(self, values: np.ndarray) -> float:
        """Half a float16 unit in the last place of the largest value, plus any clipping."""
        if values.size == 0:
            return 0.0
        largest = float(np.max(np.abs(values.astype(np.float64))))
        clipped = max(0.0, largest - FLOAT16_MAX)
        return clipped + float(np.spacing(np.float16(min(largest, FLOAT16_MAX)))) / 2 + 2.0**-25


@dataclass(frozen=True)
class Affine:
    """Affine quantisation per channel to `bits` bits, packed densely (8 values in `bits` bytes)."""

    bits: int
    lossless: bool = False

    @property
    def name(self) -> str:
        """Codec-name part, e.g. int8."""
        return f'int{self.bits}'

    @property
    def levels(self) -> int:
        """Highest quantised value."""
        return (1 << self.bits) - 1

    def body_size(self, shape: tuple[int, ...], dtype: np.dtype) -> int:
        """Packed bytes: values padded to a multiple of 8, then `bits` bytes per 8 values."""
        count = int(np.prod(shape, dtype=np.int64))
        return -(-count // 8) * self.bits

    def quantize(self, values: np.ndarray, clip: np.ndarray | None = None) -> tuple[np.ndarray, bytes]:
        """Return (offset, scale) per channel and the packed codes; `clip` is an optional (channels, 2) range."""
        rows = _by_channel(values.astype(np.float32, copy=False))
        if clip is not None:
            low, high = clip[:, 0].astype(np.float32), clip[:, 1].astype(np.float32)
            rows = np.clip(rows, low[:, None], high[:, None])
        elif rows.shape[1]:
            low, high = rows.min(axis=1), rows.max(axis=1)
        else:
            low = high = np.zeros(rows.shape[0], np.float32)
        scale = ((high - low) / np.float32(self.levels)).astype(np.float32)
        scale[scale <= 0] = np.float32(1.0)  # a constant channel: every code is 0
        codes = rows - low[:, None]
        np.divide(codes, scale[:, None], out=codes)  # not a reciprocal: it overflows for subnormal scales
        np.rint(codes, out=codes)
        np.clip(codes, 0, self.levels, out=codes)
        return np.stack([low, scale], axis=1), pack_bits(codes.astype(np.uint8).reshape(-1), self.bits)

    def dequantize(self, params: np.ndarray, body: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Unpack the codes and map them back with each channel's offset and scale."""
        count = int(np.prod(shape, dtype=np.int64))
        codes = unpack_bits(body, self.bits, count).reshape(channel_count(shape), -1)
        low, scale = params[:, 0].astype(np.float32), params[:, 1].astype(np.float32)
        rows = codes.astype(np.float32)
        rows *= scale[:, None]
        rows += low[:, None]
        return _from_channels(rows, shape).astype(dtype, copy=False)

    def error_bound(self, values: np.ndarray) -> float:
        """Half a quantisation step of the widest channel (no clipping range), plus float32 rounding."""
        if values.size == 0:
            return 0.0
        rows = _by_channel(values.astype(np.float32))
        spread = rows.max(axis=1).astype(np.float64) - rows.min(axis=1)
        magnitude = float(np.max(np.abs(values.astype(np.float64))))
        float32 = np.finfo(np.float32)
        rounding = 4 * magnitude * float(float32.eps) + float(float32.smallest_subnormal)
        return float(spread.max()) / self.levels / 2 + rounding + output_rounding(values)


_SHIFTS = {bits: (np.arange(8, dtype=np.uint64) * np.uint64(bits)) for bits in range(1, 9)}


def pack_bits(codes: np.ndarray, bits: int) -> bytes:
    """Pack uint8 codes below 2**bits: each group of 8 codes becomes `bits` little-endian bytes."""
    if bits == 8:
        padded = np.zeros(-(-codes.size // 8) * 8, np.uint8)
        padded[: codes.size] = codes
        return padded.tobytes()
    padded = np.zeros(-(-codes.size // 8) * 8, np.uint64)
    padded[: codes.size] = codes
    words: np.ndarray = np.bitwise_or.reduce(padded.reshape(-1, 8) << _SHIFTS[bits], axis=1).astype('<u8')
    return words.view(np.uint8).reshape(-1, 8)[:, :bits].tobytes()


def unpack_bits(body: bytes, bits: int, count: int) -> np.ndarray:
    """Inverse of `pack_bits`: the first `count` codes."""
    if bits == 8:
        return np.frombuffer(body, np.uint8)[:count]
    groups = np.zeros((len(body) // bits, 8), np.uint8)
    groups[:, :bits] = np.frombuffer(body, np.uint8).reshape(-1, bits)
    words = groups.view('<u8').reshape(-1, 1)
    codes: np.ndarray = (words >> _SHIFTS[bits]) & np.uint64((1 << bits) - 1)
    return codes.reshape(-1)[:count].astype(np.uint8)
