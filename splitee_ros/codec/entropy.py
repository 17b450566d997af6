# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Lossless entropy stages after quantisation; decompression never returns more than the expected size."""

from __future__ import annotations

import io
from dataclasses import dataclass

import lz4.block
import zstandard


class EntropyError(ValueError):
    """A body does not decompress to exactly the expected number of bytes."""


@dataclass(frozen=True)
class Plain:
    """No entropy coding."""

    name: str = ''

    def compress(self, data: bytes) -> bytes:
        """Return `data` unchanged."""
        return data

    def decompress(self, data: bytes, expected_size: int) -> bytes:
        """Return `data`, which must have the expected size."""
        if len(data) != expected_size:
            raise EntropyError(f'body has {len(data)} bytes, expected {expected_size}')
        return data


@dataclass(frozen=True)
class Zstd:
    """Zstandard at a compression level."""

    level: int

    @property
    def name(self) -> str:
        """Codec-name part, e.g. zstd3."""
        return f'zstd{self.level}'

    def compress(self, data: bytes) -> bytes:
        """Compress without a checksum (the frame has its own CRC)."""
        return zstandard.ZstdCompressor(level=self.level, write_checksum=False).compress(data)

    def decompress(self, data: bytes, expected_size: int) -> bytes:
        """Decompress, reading at most one byte more than expected, whatever the stream header claims."""
        try:
            declared = zstandard.frame_content_size(data)
        except zstandard.ZstdError as error:
            raise EntropyError(f'zstd: {error}') from error
        if declared != expected_size:
            raise EntropyError(f'zstd frame declares {declared} bytes, expected {expected_size}')
        try:
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
                output = reader.read(expected_size + 1)
        except zstandard.ZstdError as error:
            raise EntropyError(f'zstd: {error}') from error
        if len(output) != expected_size:
            raise EntropyError(f'zstd body decompressed to {len(output)} bytes or more, expected {expected_size}')
        return output


@dataclass(frozen=True)
class Lz4:
    """LZ4 block format (sizes come from the frame header, not from the block)."""

    name: str = 'lz4'

    def compress(self, data: bytes) -> bytes:
        """Compress as one LZ4 block without a size prefix."""
        compressed: bytes = lz4.block.compress(data, store_size=False)
        return compressed

    def decompress(self, data: bytes, expected_size: int) -> bytes:
        """Decompress into a buffer of exactly the expected size."""
        try:
            output: bytes = lz4.block.decompress(data, uncompressed_size=expected_size)
        except lz4.block.LZ4BlockError as error:
            raise EntropyError(f'lz4: {error}') from error
        if len(output) != expected_size:
            raise EntropyError(f'lz4 body decompressed to {len(output)} bytes, expected {expected_size}')
        return output
