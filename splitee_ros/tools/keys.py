# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""`splitee keys`: make and rotate the key files that authenticate a vehicle and its edge (`codec.auth`).

Rotation without a dropped frame: `add` a key on every host (each still signs with the old one and now also
accepts the new), then `activate` it on every host (the nodes re-read the file within a second), then, once
every host signs with it, `remove` the old one. A file is replaced atomically, with mode 600, so that a node
never reads half of it. No command prints a key.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from splitee_ros.codec.auth import KeyRing
from splitee_ros.errors import ConfigError


def write(ring: KeyRing, path: str | Path) -> None:
    """Replace the key file at `path` with `ring`, atomically, readable by its owner only."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
    try:
        with os.fdopen(descriptor, 'w') as file:  # mkstemp creates it with mode 600
            file.write(ring.dump())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def new(path: str | Path) -> KeyRing:
    """A new key file with one fresh key; refuses to overwrite one."""
    if Path(path).exists():
        raise ConfigError(f'{path} exists; `splitee keys add` adds a key to it')
    ring = KeyRing.generate()
    write(ring, path)
    return ring


def add(path: str | Path, activate: bool) -> KeyRing:
    """Add a fresh key to the file (signing with it if `activate`)."""
    ring = KeyRing.load(path).with_new_key(activate)
    write(ring, path)
    return ring


def activate(path: str | Path, key_id: int) -> KeyRing:
    """Sign with key `key_id` from now on."""
    ring = replace(KeyRing.load(path), active=key_id)
    write(ring, path)
    return ring


def remove(path: str | Path, key_id: int) -> KeyRing:
    """Remove key `key_id` (not the one that signs)."""
    ring = KeyRing.load(path)
    if key_id not in ring.keys:
        raise ConfigError(f'{path} has no key {key_id}')
    if key_id == ring.active:
        raise ConfigError(f'key {key_id} signs; activate another first')
    ring = replace(ring, keys={k: v for k, v in ring.keys.items() if k != key_id})
    write(ring, path)
    return ring


def describe(ring: KeyRing) -> str:
    """The key ids and the signing one, never the keys."""
    return f'key ids {sorted(ring.keys)}, signing with {ring.active}'
