# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The learned entropy codec: CompressAI's EntropyBottleneck (factorized prior) range-codes the code.

As in Entropic Student, the bottleneck code is rounded to integers around the prior's medians and range
coded with the prior's CDF tables. A split point has several rate levels (variable-rate coding with gains, as
in Cui et al.'s gained compression): level k scales the code by a learned per-channel gain before rounding
(a small gain: coarse steps, few bytes) and codes it with a prior of its own; the decoder divides by the gain.
One encoder/decoder serves every level, so a level is a codec (`learned`, `learned.1`, ...), not a new model.
The tables are trained with the model and stored in the model package (`save_tables` / `load_tables`), so
both ends agree.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from splitee_ros.codec.entropy import EntropyError
from splitee_ros.codec.quantize import output_rounding
from splitee_ros.codec.registry import LEARNED_QUANTIZER_ID
from splitee_ros.errors import UnknownNameError

CODEC_ID = LEARNED_QUANTIZER_ID << 4
_SIZED_BUFFERS = ('_quantized_cdf', '_offset', '_cdf_length')
_LENGTH = struct.Struct('<I')


def entropy_bottleneck(channels: int):
    """A fresh CompressAI EntropyBottleneck (imported here: only this codec needs CompressAI)."""
    from compressai.entropy_models import EntropyBottleneck

    return EntropyBottleneck(channels)


class RateLevels(torch.nn.Module):
    """The rate levels of one split: a prior and a per-channel gain (log-parametrised) for each level."""

    def __init__(self, channels: int, gains: Sequence[float]) -> None:
        """One level per initial gain, finest first."""
        super().__init__()
        self.priors = torch.nn.ModuleList(entropy_bottleneck(channels) for _ in gains)
        self.log_gains = torch.nn.Parameter(
            torch.log(torch.tensor(gains, dtype=torch.float32))[:, None].repeat(1, channels)
        )

    def __len__(self) -> int:
        """Number of levels."""
        return len(self.priors)

    def gain(self, level: int) -> torch.Tensor:
        """The gains of `level`, shaped (1, C, 1, 1) for a code (N, C, H, W)."""
        return self.log_gains[level].exp()[None, :, None, None]

    def forward(self, code: torch.Tensor, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The code as the decoder sees it at `level` (training: uniform noise for rounding), and its likelihoods."""
        gain = self.gain(level)
        noisy, likelihoods = self.priors[level](code * gain)
        return noisy / gain, likelihoods

    def aux_loss(self) -> torch.Tensor:
        """The priors' quantile loss (CompressAI's auxiliary loss)."""
        return sum(prior.loss() for prior in self.priors)


def save_tables(levels: Mapping[int, RateLevels]) -> dict[str, torch.Tensor]:
    """Every split's priors (CDF tables included) and gains, keyed '<split index>.<level>.<name>'."""
    state = {}
    for split_index, split_levels in levels.items():
        for level, prior in enumerate(split_levels.priors):
            prior.update(force=True)
            state |= {f'{split_index}.{level}.{key}': value for key, value in prior.state_dict().items()}
            state[f'{split_index}.{level}.gain'] = split_levels.log_gains[level].detach().exp().clone()
    return state


@dataclass(frozen=True)
class Table:
    """One split's tables at one rate level: the prior and the per-channel gain."""

    prior: torch.nn.Module
    gain: np.ndarray  # (C,) float32


def load_tables(state: Mapping[str, torch.Tensor]) -> dict[tuple[int, int], Table]:
    """Rebuild what `save_tables` saved, keyed (split index, level).

    Tables of one level without gains (keys '<split index>.<name>', the first format) load as level 0, gain 1.
    """
    grouped: dict[tuple[int, int], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        parts = key.split('.', 2)
        split, level, name = (
            (parts[0], parts[1], parts[2]) if parts[1].isdigit() else (parts[0], '0', key.split('.', 1)[1])
        )
        grouped.setdefault((int(split), int(level)), {})[name] = value
    tables = {}
    for (split_index, level), entries in sorted(grouped.items()):
        channels = entries['quantiles'].shape[0]
        gain = entries.pop('gain', torch.ones(channels)).float().numpy()
        prior = entropy_bottleneck(channels)
        for name in _SIZED_BUFFERS:  # the CDF tables' sizes depend on the trained prior
            getattr(prior, name).resize_(entries[name].shape)
        prior.load_state_dict(entries)
        tables[split_index, level] = Table(prior.eval(), gain)
    return tables


def learned_codecs(tables: Mapping[tuple[int, int], Table]) -> list[LearnedCodec]:
    """One codec per rate level found in `tables`."""
    return [LearnedCodec(tables, level) for level in sorted({level for _, level in tables})]


@dataclass(frozen=True)
class LearnedCodec:
    """Range coding with a learned factorized prior at one rate level; one frame body holds one string per item."""

    tables: Mapping[tuple[int, int], Table]
    level: int = 0
    split_index: int | None = None
    lossless: bool = False

    @property
    def codec_id(self) -> int:
        """`learned` is level 0; level k has id CODEC_ID | k."""
        return CODEC_ID | self.level

    @property
    def name(self) -> str:
        """`learned` (the finest level), then `learned.1`, `learned.2`, ..."""
        return 'learned' if self.level == 0 else f'learned.{self.level}'

    def for_split(self, split_index: int) -> LearnedCodec:
        """Return the codec bound to the tables of one split point."""
        if (split_index, self.level) not in self.tables:
            raise UnknownNameError(f'the learned codec {self.name} has no tables for split {split_index}')
        return LearnedCodec(self.tables, self.level, split_index)

    @property
    def _table(self) -> Table:
        if self.split_index is None:
            raise RuntimeError('call for_split() first: the tables are per split point')
        return self.tables[self.split_index, self.level]

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
        table = self._table
        scaled = np.ascontiguousarray(values * table.gain[None, :, None, None], np.float32)
        with torch.no_grad():
            strings = table.prior.compress(torch.from_numpy(scaled))
        return np.zeros((0, 2), np.float32), b''.join(_LENGTH.pack(len(s)) + s for s in strings)

    def decode(self, params: np.ndarray, body: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Split the body into its strings and range-decode them to a tensor of `shape`."""
        table = self._table
        channels = table.prior.quantiles.shape[0]
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
            decoded = table.prior.decompress(padded, shape[2:]).numpy()
        return (decoded / table.gain[None, :, None, None]).astype(dtype, copy=False)

    def error_bound(self, values: np.ndarray) -> float:
        """Rounding to integers around the medians: half a step (1 / gain), plus float rounding."""
        magnitude = float(np.max(np.abs(values))) if values.size else 0.0
        gains = [t.gain.min() for (split, level), t in self.tables.items()
                 if level == self.level and self.split_index in (None, split)]  # fmt: skip
        step = 1.0 / float(min(gains))
        return 0.5 * step + 8 * magnitude * float(np.finfo(np.float32).eps) + output_rounding(values)
