# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The learned entropy codec: CompressAI's EntropyBottleneck (factorized prior) range-codes the code.

As in Entropic Student, the bottleneck code is rounded to integers around the prior's medians and range
coded with the prior's CDF tables. The tables are trained with the model and stored in the model package
(`save_tables` / `load_tables`), one EntropyBottleneck per split point, so both ends agree.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from splitee_ros.codec.entropy import EntropyError
from splitee_ros.codec.quantize import output_rounding
from splitee_ros.codec.registry import LEARNED_QUANTIZER_ID

CODEC_ID = LEARNED_QUANTIZER_ID << 4
_SIZED_BUFFERS = ('_quantized_cdf', '_offset', '_cdf_length')
_LENGTH = struct.Struct('<I')


def entropy_bottleneck(channels: int):
    """A fresh CompressAI EntropyBottleneck (imported here: only this codec needs CompressAI)."""
    from compressai.entropy_models import EntropyBottleneck

    return EntropyBottleneck(channels)


def save_tables(bottlenecks: Mapping[int, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """State of every split's EntropyBottleneck, CDF tables included, keyed '<split index>.<name>'."""
    state = {}
    for split_index, bottleneck in bottlenecks.items():
        bottleneck.update(force=True)
        state |= {f'{split_index}.{key}': value for key, value in bottleneck.state_dict().items()}
    return state


def load_tables(state: Mapping[str, torch.Tensor]) -> dict[int, torch.nn.Module]:
    """Rebuild the EntropyBottlenecks saved by `save_tables`."""
    by_split: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        split, _, name = key.partition('.')
        by_split.setdefault(int(split), {})[name] = value
    bottlenecks = {}
    for split_index, split_state in sorted(by_split.items()):
        bottleneck = entropy_bottleneck(split_state['quantiles'].shape[0])
        for name in _SIZED_BUFFERS:  # the CDF tables' sizes depend on the trained prior
            getattr(bottleneck, name).resize_(split_state[name].shape)
        bottleneck.load_state_dict(split_state)
        bottlenecks[split_index] = bottleneck.eval()
    return bottlenecks


@dataclass(frozen=True)
class LearnedCodec:
    """Range coding with a learned factorized prior; one frame body holds one string per batch item."""

    bottlenecks: Mapping[int, torch.nn.Module]
    split_index: int | None = None
    codec_id: int = CODEC_ID
    name: str = 'learned'
    lossless: bool = False

    def for_split(self, split_index: int) -> LearnedCodec:
        """Return the codec bound to the tables of one split point."""
        if split_index not in self.bottlenecks:
            raise KeyError(f'the learned codec has no tables for split {split_index}')
        return LearnedCodec(self.bottlenecks, split_index)

    @property
    def _bottleneck(self) -> torch.nn.Module:
        if self.split_index is None:
            raise RuntimeError('call for_split() first: the tables are per split point')
        return self.bottlenecks[self.split_index]

    def params_count(self, shape: tuple[int, ...]) -> int:
        """No quantisation parameters: the medians are part of the tables."""
        return 0

    def fixed_body_size(self, shape: tuple[int, ...], dtype: np.dtype) -> int | None:
        """The body's size depends on the content."""
        return None

    def working_bytes(self, payload_length: int, shape: tuple[int, ...], dtype: np.dtype) -> int:
        """Memory that decoding may use: the padded body, symbol indexes and the output tensors."""
        values = int(np.prod(shape, dtype=np.int64))
        return payload_length + self._padding(payload_length, values) + 24 * values

    @staticmethod
    def _padding(payload_length: int, values: int) -> int:
        """Zero bytes after the strings: CompressAI's range decoder does not check the end of its input.

        Past the end it reads zeros, which end every bypass run; the reads are bounded by the number of
        symbols plus 30 words per byte of input (the longest bypass runs garbage can encode).
        """
        return 4 * (values + 16) + 128 * payload_length

    def encode(self, values: np.ndarray, clip: np.ndarray | None = None) -> tuple[np.ndarray, bytes]:
        """Range-code a (N, C, H, W) tensor; the body is N length-prefixed strings."""
        if values.ndim != 4:
            raise ValueError(f'the learned codec codes (N, C, H, W) tensors, got shape {values.shape}')
        with torch.no_grad():
            strings = self._bottleneck.compress(torch.from_numpy(np.ascontiguousarray(values, np.float32)))
        return np.zeros((0, 2), np.float32), b''.join(_LENGTH.pack(len(s)) + s for s in strings)

    def decode(self, params: np.ndarray, body: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Split the body into its strings and range-decode them to a tensor of `shape`."""
        channels = self._bottleneck.quantiles.shape[0]
        if len(shape) != 4 or shape[1] != channels:
            raise EntropyError(f'shape {shape} does not fit the learned tables of {channels} channels')
        strings, offset = [], 0
        for _ in range(shape[0]):
            if offset + _LENGTH.size > len(body):
                raise EntropyError('learned body ends inside a string length')
            (length,) = _LENGTH.unpack_from(body, offset)
            offset += _LENGTH.size
            if offset + length > len(body):
                raise EntropyError(f'learned string of {length} bytes runs past the body')
            strings.append(body[offset : offset + length])
            offset += length
        if offset != len(body):
            raise EntropyError(f'{len(body) - offset} bytes after the last learned string')
        per_item = int(np.prod(shape[1:], dtype=np.int64))
        padded = [s + bytes(self._padding(len(s), per_item)) for s in strings]
        with torch.no_grad():
            decoded = self._bottleneck.decompress(padded, shape[2:])
        return decoded.numpy().astype(dtype, copy=False)

    def error_bound(self, values: np.ndarray) -> float:
        """Rounding to integers around the medians: half a unit, plus float rounding."""
        magnitude = float(np.max(np.abs(values))) if values.size else 0.0
        return 0.5 + 4 * magnitude * float(np.finfo(np.float32).eps) + output_rounding(values)
