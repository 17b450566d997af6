# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""SHA-256 of a file: what pins a package's weights to its model id and keys a cached TensorRT engine."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for block in iter(lambda: stream.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()
