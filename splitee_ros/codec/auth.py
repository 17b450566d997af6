# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Authenticated requests and results: a keyed MAC with a key id, a sequence and a time window against replays.

Anyone on the DDS domain can publish on a vehicle's topics. With authentication on, every message between a
vehicle and its edge (a bottleneck frame or a JPEG request, a result envelope) is *sealed*: a 40-byte trailer
follows its bytes in the `CompressedImage` data, and the receiver opens it before it decodes anything.

Trailer, version 1 (little-endian):

| offset | size | field |
|---|---|---|
| 0 | 4 | magic `SPLA` |
| 4 | 1 | version (1) |
| 5 | 1 | key id (1..255) |
| 6 | 2 | reserved (0) |
| 8 | 8 | sequence: the sender's counter, at least its clock in ns (a restarted sender continues above) |
| 16 | 8 | sent: the sender's wall clock, ns since the epoch |
| 24 | 16 | tag: HMAC-SHA256, truncated to 128 bits |

The tag covers a domain label, the message's context (its kind, the vehicle's namespace, the header's stamp
and frame_id, the format string: so a sealed message is valid only as what, where and for which frame it was
sent), the trailer up to the tag, and the payload. The receiver accepts a message once: its `sent` time must
lie within `window_s` of the receiver's clock (hosts keep time with NTP or PTP) and its sequence must not have
been seen from that stream within the window. Keys are read from a file with key ids, so that a new key can be
added everywhere, then made the one that signs, then the old one removed, without dropping a frame.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from splitee_ros.errors import ConfigError, RejectedInputError

MAGIC = b'SPLA'
VERSION = 1
TRAILER = struct.Struct('<4sBBHQQ16s')
TAG_SIZE = 16
TAG_OFFSET = TRAILER.size - TAG_SIZE
DOMAIN = b'splitee-auth/1\x00'
MIN_KEY_BYTES = 16  # 128-bit keys at least
REQUEST = 'request'
RESULT = 'result'
AUTH_REASONS = ('auth_unsealed', 'auth_unknown_key', 'auth_bad_tag', 'auth_stale', 'auth_replayed')


class AuthError(RejectedInputError):
    """A message that does not prove it comes from a holder of the keys.

    Its reasons: `auth_unsealed`, `auth_unknown_key`, `auth_bad_tag`, `auth_stale`, `auth_replayed`.
    """


@dataclass(frozen=True)
class KeyRing:
    """The keys a node holds, by key id, and the one it signs with. Its repr never shows a key."""

    keys: Mapping[int, bytes] = field(repr=False)
    active: int

    def __post_init__(self) -> None:
        """A ring that can sign and whose keys are long enough."""
        if self.active not in self.keys:
            raise ConfigError(f'active key id {self.active} is not among the key ids {sorted(self.keys)}')
        for key_id, key in self.keys.items():
            if not 1 <= key_id <= 255:
                raise ConfigError(f'key id {key_id} is not in 1..255')
            if len(key) < MIN_KEY_BYTES:
                raise ConfigError(f'key {key_id} has {len(key)} bytes; at least {MIN_KEY_BYTES} are needed')

    @classmethod
    def load(cls, path: str | Path) -> KeyRing:
        """Read a key file (`active: 2` and `keys: {1: <hex>, 2: <hex>}`); ConfigError naming what is wrong.

        The file must not be readable by group or others (as ssh asks of a private key).
        """
        path = Path(path)
        try:
            mode = path.stat().st_mode
            text = path.read_text()
        except OSError as error:
            raise ConfigError(f'key file {path}: {error.strerror or error}') from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f'key file {path} is open to group or others (mode {stat.S_IMODE(mode):o}); chmod 600 it')
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f'key file {path} is not YAML: {error}') from None
        if (
            not isinstance(document, dict)
            or set(document) != {'active', 'keys'}
            or not isinstance(document['keys'], dict)
        ):
            raise ConfigError(f'key file {path} must hold `active` and `keys` (key id: hex) and nothing else')
        keys: dict[int, bytes] = {}
        for key_id, text_key in document['keys'].items():
            if not isinstance(key_id, int) or isinstance(key_id, bool) or not isinstance(text_key, str):
                raise ConfigError(f'key file {path}: key ids are integers and keys hex strings (quoted, if all digits)')
            try:
                keys[key_id] = bytes.fromhex(text_key)
            except ValueError:
                raise ConfigError(f'key file {path}: key {key_id} is not hex') from None
        active = document['active']
        if not isinstance(active, int) or isinstance(active, bool):
            raise ConfigError(f'key file {path}: active must be a key id')
        return cls(keys, active)

    def dump(self) -> str:
        """The key file's text."""
        return yaml.safe_dump({'active': self.active, 'keys': {k: v.hex() for k, v in sorted(self.keys.items())}})

    def with_new_key(self, activate: bool) -> KeyRing:
        """The same keys and a fresh random one under the next id (signing with it if `activate`)."""
        key_id = max(self.keys) % 255 + 1
        if key_id in self.keys:
            raise ConfigError('all 255 key ids are taken; remove old keys first')
        return KeyRing({**self.keys, key_id: os.urandom(32)}, key_id if activate else self.active)

    @classmethod
    def generate(cls) -> KeyRing:
        """A ring with one fresh 256-bit key, id 1."""
        return cls({1: os.urandom(32)}, 1)


def context(kind: str, namespace: str, stamp: tuple[int, int], frame_id: str, payload_format: str) -> bytes:
    """What a message is, besides its bytes: bound into its tag, so that it cannot be replayed as another."""
    fields = (kind, namespace, f'{stamp[0]}.{stamp[1]:09d}', frame_id, payload_format)
    return b''.join(struct.pack('<I', len(text)) + text for text in (f.encode() for f in fields))


def _tag(key: bytes, message_context: bytes, trailer_head: bytes, payload: bytes) -> bytes:
    mac = hmac.new(key, DOMAIN, hashlib.sha256)
    for part in (struct.pack('<I', len(message_context)), message_context, trailer_head, payload):
        mac.update(part)
    return mac.digest()[:TAG_SIZE]


class Sealer:
    """Seals a node's outgoing messages with its ring's active key (thread-safe)."""

    def __init__(self, ring: KeyRing, clock_ns: Callable[[], int] = time.time_ns) -> None:
        """Sign with `ring.active`; `clock_ns` is the wall clock."""
        self.ring = ring
        self._clock_ns = clock_ns
        self._sequence = 0
        self._lock = threading.Lock()

    def seal(self, payload: bytes, message_context: bytes) -> bytes:
        """`payload` with its trailer."""
        ring = self.ring  # one ring for the whole message, should it be replaced meanwhile
        with self._lock:
            sent = self._clock_ns()
            self._sequence = max(self._sequence + 1, sent)
            sequence = self._sequence
        head = TRAILER.pack(MAGIC, VERSION, ring.active, 0, sequence, sent, bytes(TAG_SIZE))[:TAG_OFFSET]
        return payload + head + _tag(ring.keys[ring.active], message_context, head, payload)


@dataclass
class _Stream:
    """What one sender's stream has shown within the window: its sequences, oldest first, for expiry."""

    seen: set[int] = field(default_factory=set)
    order: deque[tuple[int, int]] = field(default_factory=deque)  # (received ns, sequence)


class Verifier:
    """Opens sealed messages: a known key, a valid tag, within the time window, and each sequence once per stream."""

    def __init__(
        self, ring: KeyRing, window_s: float, clock_ns: Callable[[], int] = time.time_ns, max_streams: int = 4096
    ) -> None:
        """Accept messages sent within `window_s` of `clock_ns()`; remember sequences for as long."""
        if not window_s > 0:
            raise ConfigError(f'the replay window must be positive, not {window_s}')
        self.ring = ring
        self.window_ns = int(window_s * 1e9)
        self._clock_ns = clock_ns
        self._max_streams = max_streams
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()

    def open(self, sealed: bytes, message_context: bytes, stream: str) -> bytes:
        """The payload of a sealed message; AuthError (before anything else is read) for anything else."""
        if len(sealed) < TRAILER.size or sealed[-TRAILER.size : -TRAILER.size + len(MAGIC)] != MAGIC:
            raise AuthError('auth_unsealed', 'the message carries no authentication trailer')
        payload, trailer = sealed[: -TRAILER.size], sealed[-TRAILER.size :]
        _, version, key_id, reserved, sequence, sent, tag = TRAILER.unpack(trailer)
        if version != VERSION or reserved:
            raise AuthError('auth_unsealed', f'trailer version {version}, this node reads {VERSION}')
        ring = self.ring
        key = ring.keys.get(key_id)
        if key is None:
            raise AuthError('auth_unknown_key', f"key id {key_id} is not in this node's key file")
        if not hmac.compare_digest(tag, _tag(key, message_context, trailer[:TAG_OFFSET], payload)):
            raise AuthError('auth_bad_tag', 'the tag does not match: forged, altered, or sent for another frame')
        now = self._clock_ns()
        if abs(now - sent) > self.window_ns:
            raise AuthError('auth_stale', f'sent {(now - sent) / 1e9:+.1f} s from now, outside the replay window')
        with self._lock:
            seen = self._streams.get(stream)
            if seen is None:
                if len(self._streams) >= self._max_streams:  # authenticated senders only: a bound, not a defence
                    self._streams.pop(next(iter(self._streams)))
                seen = self._streams[stream] = _Stream()
            while seen.order and now - seen.order[0][0] > 2 * self.window_ns:
                seen.seen.discard(seen.order.popleft()[1])
            if sequence in seen.seen:
                raise AuthError('auth_replayed', f'sequence {sequence} was already received')
            seen.seen.add(sequence)
            seen.order.append((now, sequence))
        return payload


class Authenticator:
    """A node's sealing and opening, with the keys of its key file (re-read when it changes: keys rotate live)."""

    def __init__(self, path: str | Path, window_s: float) -> None:
        """Read the key file now; ConfigError with the reason if it cannot be used."""
        self.path = Path(path)
        self._signature = self._stat()
        ring = KeyRing.load(self.path)
        self.sealer = Sealer(ring)
        self.verifier = Verifier(ring, window_s)

    def _stat(self) -> tuple[int, int, int]:
        try:
            status = os.stat(self.path)
        except OSError:
            return (0, 0, 0)
        return (status.st_mtime_ns, status.st_size, status.st_ino)

    def refresh(self) -> bool:
        """Re-read the key file if it changed; True when the keys changed. ConfigError (old keys kept) if unusable."""
        signature = self._stat()
        if signature == self._signature:
            return False
        self._signature = signature
        ring = KeyRing.load(self.path)
        changed = ring != self.sealer.ring
        self.sealer.ring = self.verifier.ring = ring
        return changed

    def health(self) -> dict[str, object]:
        """What diagnostics say of the keys: their ids and the signing one (never a key)."""
        ring = self.sealer.ring
        return {'auth_key_ids': ' '.join(map(str, sorted(ring.keys))), 'auth_signing_key': ring.active}

    def seal(self, payload: bytes, message_context: bytes) -> bytes:
        """`payload` sealed with the active key."""
        return self.sealer.seal(payload, message_context)

    def open(self, sealed: bytes, message_context: bytes, stream: str) -> bytes:
        """The payload of a sealed message from `stream`; AuthError for anything else."""
        return self.verifier.open(sealed, message_context, stream)
