# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The learned entropy codec: a factorized prior's CDF tables range-code the code (CompressAI's rANS).

As in Entropic Student, the bottleneck code is rounded to integers around the prior's medians and range
coded with the prior's CDF tables. A split point has several rate levels (variable-rate coding with gains, as
in Cui et al.'s gained compression): level k scales the code by a learned per-channel gain before rounding
(a small gain: coarse steps, few bytes) and codes it with a prior of its own; the decoder divides by the gain.
One encoder/decoder serves every level, so a level is a codec (`learned`, `learned.1`, ...), not a new model.
The tables are trained with the model (`model.rate`) and stored in the model package as numpy arrays; the
coder is CompressAI's C++ extension `compressai.ans`, loaded without the rest of CompressAI, which imports
PyTorch. So a vehicle codes without PyTorch, and its bytes are those of CompressAI's EntropyBottleneck.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from splitee_ros.codec.entropy import EntropyError
from splitee_ros.codec.quantize import output_rounding
from splitee_ros.codec.registry import LEARNED_QUANTIZER_ID
from splitee_ros.errors import ConfigError, UnknownNameError

CODEC_ID = LEARNED_QUANTIZER_ID << 4
TABLE_FIELDS = ('quantized_cdf', 'cdf_length', 'offset', 'medians', 'gain')
_LENGTH = struct.Struct('<I')
_CODER_MODULE = 'compressai.ans'


@functools.cache
def rans() -> ModuleType:
    """CompressAI's rANS coder, from its extension file: importing `compressai` itself would load PyTorch."""
    if _CODER_MODULE in sys.modules:  # a training process has CompressAI already
        return sys.modules[_CODER_MODULE]
    package = importlib.util.find_spec('compressai')
    for folder in (package.submodule_search_locations or []) if package else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / f'ans{suffix}'
            if path.is_file():
                loader = importlib.machinery.ExtensionFileLoader(_CODER_MODULE, str(path))
                spec = importlib.util.spec_from_file_location(_CODER_MODULE, path, loader=loader)
                assert spec is not None  # a file location always gives a spec
                module = importlib.util.module_from_spec(spec)
                loader.exec_module(module)
                sys.modules[_CODER_MODULE] = module  # CompressAI, if imported later, finds it loaded
                return module
    raise ConfigError("the learned codec needs CompressAI's rANS extension: pip install compressai")


@dataclass(frozen=True)
class Table:
    """One split's prior at one rate level: CDF tables, the medians symbols are counted from, and the gains."""

    quantized_cdf: np.ndarray  # (C, L) int32: each channel's CDF, cdf_length[c] entries used
    cdf_length: np.ndarray  # (C,) int32
    offset: np.ndarray  # (C,) int32: the symbol of each CDF's first entry
    medians: np.ndarray  # (C,) float32
    gain: np.ndarray  # (C,) float32

    def __post_init__(self) -> None:
        """Refuse tables that do not fit together (the coder would read past them)."""
        channels = len(self.medians)
        if self.quantized_cdf.ndim != 2 or self.quantized_cdf.shape[0] != channels:
            raise ConfigError(f'learned tables: CDFs of shape {self.quantized_cdf.shape} for {channels} channels')
        for name in ('cdf_length', 'offset', 'gain'):
            if getattr(self, name).shape != (channels,):
                raise ConfigError(f'learned tables: {name} of shape {getattr(self, name).shape}, not ({channels},)')
        if not (self.cdf_length.min() > 0 and self.cdf_length.max() <= self.quantized_cdf.shape[1]):
            raise ConfigError('learned tables: a CDF length outside its table')
        if not (np.all(np.isfinite(self.medians)) and np.all(self.gain > 0) and np.all(np.isfinite(self.gain))):
            raise ConfigError('learned tables: non-finite medians or gains that are not positive')

    @property
    def channels(self) -> int:
        """Channels of the code these tables code."""
        return len(self.medians)

    @functools.cached_property
    def coder_arguments(self) -> tuple[list[list[int]], list[int], list[int]]:
        """The CDFs, their lengths and offsets as the coder takes them (converted once)."""
        return self.quantized_cdf.tolist(), self.cdf_length.tolist(), self.offset.tolist()


def load_tables(arrays: Mapping[str, np.ndarray]) -> dict[tuple[int, int], Table]:
    """The tables in `arrays` (keys '<split index>.<level>.<field>', as `model.rate.export_tables` writes them)."""
    grouped: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        split, level, name = key.split('.', 2) if key.count('.') == 2 else ('', '', key)
        if not (split.isdigit() and level.isdigit() and name in TABLE_FIELDS):
            raise ConfigError(f'learned tables: unexpected entry {key!r}')
        grouped.setdefault((int(split), int(level)), {})[name] = np.asarray(value)
    tables = {}
    for split_level, fields in sorted(grouped.items()):
        missing = [name for name in TABLE_FIELDS if name not in fields]
        if missing:
            raise ConfigError(f'learned tables of split {split_level[0]}, level {split_level[1]} lack {missing}')
        tables[split_level] = Table(
            quantized_cdf=fields['quantized_cdf'].astype(np.int32), cdf_length=fields['cdf_length'].astype(np.int32),
            offset=fields['offset'].astype(np.int32), medians=fields['medians'].astype(np.float32),
            gain=fields['gain'].astype(np.float32),
        )  # fmt: skip
    return tables


def read_tables(path: Path) -> dict[tuple[int, int], Table]:
    """Load a package's tables file (`.npz`, no pickles)."""
    with np.load(path, allow_pickle=False) as arrays:
        return load_tables(dict(arrays))


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
        if values.shape[1] != table.channels:
            raise ValueError(f'shape {values.shape} does not fit the learned tables of {table.channels} channels')
        scaled = values.astype(np.float32) * table.gain[None, :, None, None]
        symbols = np.round(scaled - table.medians[None, :, None, None]).astype(np.int32)  # as CompressAI rounds
        indexes = _channel_indexes(values.shape[1:])
        encoder = rans().RansEncoder()
        strings = [encoder.encode_with_indexes(item.reshape(-1).tolist(), indexes, *table.coder_arguments)
                   for item in symbols]  # fmt: skip
        return np.zeros((0, 2), np.float32), b''.join(_LENGTH.pack(len(s)) + s for s in strings)

    def decode(self, params: np.ndarray, body: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Split the body into its strings and range-decode them to a tensor of `shape`."""
        table = self._table
        if len(shape) != 4 or shape[1] != table.channels:
            raise EntropyError(f'shape {shape} does not fit the learned tables of {table.channels} channels')
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
        indexes = _channel_indexes(shape[1:])
        decoder = rans().RansDecoder()
        symbols = np.array(
            [decoder.decode_with_indexes(s + bytes(self._padding(len(s), per_item)), indexes, *table.coder_arguments)
             for s in strings], np.int32,
        ).reshape(shape)  # fmt: skip
        decoded = symbols.astype(np.float32) + table.medians[None, :, None, None]
        tensor: np.ndarray = (decoded / table.gain[None, :, None, None]).astype(dtype, copy=False)
        return tensor

    def error_bound(self, values: np.ndarray) -> float:
        """Rounding to integers around the medians: half a step (1 / gain), plus float rounding."""
        magnitude = float(np.max(np.abs(values))) if values.size else 0.0
        gains = [t.gain.min() for (split, level), t in self.tables.items()
                 if level == self.level and self.split_index in (None, split)]  # fmt: skip
        step = 1.0 / float(min(gains))
        return 0.5 * step + 8 * magnitude * float(np.finfo(np.float32).eps) + output_rounding(values)


@functools.lru_cache(maxsize=16)
def _channel_indexes(item_shape: tuple[int, ...]) -> list[int]:
    """Each value's CDF: its channel's, for one (C, H, W) item in C order."""
    channels, *spatial = item_shape
    indexes: list[int] = np.repeat(np.arange(channels, dtype=np.int32), int(np.prod(spatial, dtype=np.int64))).tolist()
    return indexes
