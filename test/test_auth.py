# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Authenticated messages (`codec.auth`) and key files (`splitee keys`): what opens, what is rejected and why."""

import os
import stat

import pytest

from splitee_ros.cli import main
from splitee_ros.codec.auth import (
    REQUEST,
    RESULT,
    TRAILER,
    Authenticator,
    AuthError,
    KeyRing,
    Sealer,
    Verifier,
    context,
)
from splitee_ros.errors import ConfigError
from splitee_ros.tools import keys

KEY_1, KEY_2 = bytes(range(32)), bytes(range(32, 64))
FRAME = context(REQUEST, '/veh_1', (1700000000, 5), 'camera', 'splitee/1;h=480;w=640;budget_ms=90;link_ms=4')
PAYLOAD = b'SPLT' + bytes(range(200))


class Clock:
    """A wall clock that the test moves."""

    def __init__(self) -> None:
        self.ns = 1_800_000_000 * 10**9

    def __call__(self) -> int:
        """Now, in ns."""
        return self.ns


def pair(sender_keys=None, receiver_keys=None, active=1, window_s=5.0):
    clock = Clock()
    receiver_keys = receiver_keys or {1: KEY_1}
    sealer = Sealer(KeyRing(sender_keys or {1: KEY_1}, active), clock)
    verifier = Verifier(KeyRing(receiver_keys, min(receiver_keys)), window_s, clock)
    return sealer, verifier, clock


def reason(verifier: Verifier, sealed: bytes, message_context: bytes = FRAME, stream: str = '/veh_1') -> str:
    with pytest.raises(AuthError) as caught:
        verifier.open(sealed, message_context, stream)
    return caught.value.reason


def test_a_sealed_message_opens_to_its_payload_once():
    sealer, verifier, _ = pair()
    sealed = sealer.seal(PAYLOAD, FRAME)
    assert len(sealed) == len(PAYLOAD) + TRAILER.size == len(PAYLOAD) + 40
    assert verifier.open(sealed, FRAME, '/veh_1') == PAYLOAD
    assert reason(verifier, sealed) == 'auth_replayed'
    # the same bytes from another stream are a new message there (streams keep their own windows)
    assert verifier.open(sealed, FRAME, '/veh_2') == PAYLOAD


def test_forged_altered_and_misdirected_messages_are_rejected_by_reason():
    sealer, verifier, _ = pair()
    sealed = sealer.seal(PAYLOAD, FRAME)
    assert reason(verifier, PAYLOAD) == 'auth_unsealed'
    assert reason(verifier, b'') == 'auth_unsealed'
    assert reason(verifier, PAYLOAD + bytes(TRAILER.size)) == 'auth_unsealed'
    altered = bytearray(sealed)
    altered[10] ^= 1
    assert reason(verifier, bytes(altered)) == 'auth_bad_tag'
    forged_tag = sealed[:-1] + bytes([sealed[-1] ^ 0x80])
    assert reason(verifier, forged_tag) == 'auth_bad_tag'
    for other in (
        context(REQUEST, '/veh_1', (1700000000, 6), 'camera', 'splitee/1;h=480;w=640;budget_ms=90;link_ms=4'),
        context(REQUEST, '/veh_2', (1700000000, 5), 'camera', 'splitee/1;h=480;w=640;budget_ms=90;link_ms=4'),
        context(RESULT, '/veh_1', (1700000000, 5), 'camera', 'splitee/1;h=480;w=640;budget_ms=90;link_ms=4'),
        context(REQUEST, '/veh_1', (1700000000, 5), 'camera', 'splitee/1;h=480;w=640;budget_ms=9000;link_ms=4'),
    ):  # a valid message replayed as another frame, vehicle, direction, or with a longer budget
        assert reason(verifier, sealed, other) == 'auth_bad_tag'
    assert verifier.open(sealed, FRAME, '/veh_1') == PAYLOAD  # the original still opens, once


def test_a_key_of_another_file_is_unknown_or_wrong():
    sealer, verifier, _ = pair(sender_keys={2: KEY_2}, active=2)
    assert reason(verifier, sealer.seal(PAYLOAD, FRAME)) == 'auth_unknown_key'
    sealer, verifier, _ = pair(sender_keys={1: KEY_2})  # the same id, another key
    assert reason(verifier, sealer.seal(PAYLOAD, FRAME)) == 'auth_bad_tag'


def test_the_time_window_rejects_stale_and_future_messages_and_bounds_what_is_remembered():
    sealer, verifier, clock = pair(window_s=5.0)
    sealed = sealer.seal(PAYLOAD, FRAME)
    clock.ns += 6 * 10**9
    assert reason(verifier, sealed) == 'auth_stale'
    future = sealer.seal(PAYLOAD, FRAME)
    clock.ns -= 12 * 10**9
    assert reason(verifier, future) == 'auth_stale'
    clock.ns += 12 * 10**9
    assert verifier.open(future, FRAME, '/veh_1') == PAYLOAD
    # sequences are forgotten only once their messages would be stale anyway
    clock.ns += 11 * 10**9
    verifier.open(sealer.seal(PAYLOAD, FRAME), FRAME, '/veh_1')
    assert reason(verifier, future) == 'auth_stale'
    assert len(verifier._streams['/veh_1'].seen) == 1


def test_a_restarted_sender_continues_above_its_old_sequences():
    sealer, verifier, clock = pair()
    first = [sealer.seal(PAYLOAD, FRAME) for _ in range(3)]
    restarted = Sealer(sealer.ring, clock)  # same clock reading: its counter still starts at the clock
    again = restarted.seal(PAYLOAD, FRAME)
    for sealed in first:
        verifier.open(sealed, FRAME, '/veh_1')
    sequences = [TRAILER.unpack(s[-TRAILER.size :])[4] for s in (*first, again)]
    assert sequences[:3] == sorted(set(sequences[:3])) and sequences[3] == clock.ns
    # within the same nanosecond the restart repeats a sequence: rejected, never accepted twice
    assert reason(verifier, again) == 'auth_replayed'
    clock.ns += 1000
    assert verifier.open(restarted.seal(PAYLOAD, FRAME), FRAME, '/veh_1') == PAYLOAD


def test_rotation_add_then_activate_then_remove_keeps_every_message():
    clock = Clock()
    sender, receiver = Sealer(KeyRing({1: KEY_1}, 1), clock), Verifier(KeyRing({1: KEY_1}, 1), 5.0, clock)
    steps = [
        (KeyRing({1: KEY_1, 2: KEY_2}, 1), None),  # added on the receiver first...
        (None, KeyRing({1: KEY_1, 2: KEY_2}, 1)),  # ...and on the sender
        (KeyRing({1: KEY_1, 2: KEY_2}, 2), KeyRing({1: KEY_1, 2: KEY_2}, 2)),  # activated
        (KeyRing({2: KEY_2}, 2), KeyRing({2: KEY_2}, 2)),  # the old one removed
    ]
    for receiver_ring, sender_ring in steps:
        if receiver_ring is not None:
            receiver.ring = receiver_ring
        if sender_ring is not None:
            sender.ring = sender_ring
        for _ in range(3):
            clock.ns += 1000
            assert receiver.open(sender.seal(PAYLOAD, FRAME), FRAME, '/veh_1') == PAYLOAD
    old = Sealer(KeyRing({1: KEY_1}, 1), clock)
    assert reason(receiver, old.seal(PAYLOAD, FRAME)) == 'auth_unknown_key'


def write_key_file(path, text: str, mode: int = 0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def test_key_files_are_checked_and_never_shown(tmp_path):
    good = write_key_file(tmp_path / 'keys.yaml', f'active: 1\nkeys: {{1: {KEY_1.hex()}}}\n')
    ring = KeyRing.load(good)
    assert ring.keys == {1: KEY_1} and KEY_1.hex() not in repr(ring) and str(KEY_1) not in repr(ring)
    cases = {
        'missing': (None, 'No such file'),
        'open.yaml': (f'active: 1\nkeys: {{1: {KEY_1.hex()}}}\n', 'chmod 600'),
        'short.yaml': ("active: 1\nkeys: {1: '00112233'}\n", 'at least 16'),
        'number.yaml': ('active: 1\nkeys: {1: 00112233}\n', 'quote'),
        'inactive.yaml': (f'active: 3\nkeys: {{1: {KEY_1.hex()}}}\n', 'active key id 3'),
        'hex.yaml': ('active: 1\nkeys: {1: not-hex}\n', 'not hex'),
        'fields.yaml': (f'active: 1\nkeys: {{1: {KEY_1.hex()}}}\nextra: 1\n', 'nothing else'),
        'id.yaml': (f'active: 300\nkeys: {{300: {KEY_1.hex()}}}\n', 'not in 1..255'),
        'yaml.yaml': ('active: [1\n', 'not YAML'),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        if text is not None:
            write_key_file(path, text, 0o644 if name == 'open.yaml' else 0o600)
        with pytest.raises(ConfigError, match=message):
            KeyRing.load(path)


def test_an_authenticator_takes_up_a_rotated_file_and_keeps_its_keys_if_the_file_breaks(tmp_path):
    path = tmp_path / 'keys.yaml'
    keys.new(path)
    auth = Authenticator(path, 5.0)
    assert auth.refresh() is False
    first = auth.seal(PAYLOAD, FRAME)
    keys.add(path, activate=True)
    assert auth.refresh() is True and auth.health() == {'auth_key_ids': '1 2', 'auth_signing_key': 2}
    second = auth.seal(PAYLOAD, FRAME)
    assert auth.open(first, FRAME, 'edge') == PAYLOAD and auth.open(second, FRAME, 'edge') == PAYLOAD
    path.write_text('broken: [')
    with pytest.raises(ConfigError):
        auth.refresh()
    assert auth.health()['auth_signing_key'] == 2  # the keys in use stay
    with pytest.raises(ConfigError, match='No such file'):
        Authenticator(tmp_path / 'absent.yaml', 5.0)


def test_the_keys_command_makes_and_rotates_files_with_mode_600(tmp_path, capsys):
    path = tmp_path / 'keys.yaml'
    assert main(['keys', 'new', str(path)]) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert main(['keys', 'new', str(path)]) == 2  # never overwritten
    assert main(['keys', 'add', str(path)]) == 0 and KeyRing.load(path).active == 1
    assert main(['keys', 'remove', str(path), '1']) == 2  # it signs
    assert main(['keys', 'activate', str(path), '2']) == 0 and main(['keys', 'remove', str(path), '1']) == 0
    assert main(['keys', 'activate', str(path), '7']) == 2
    ring = KeyRing.load(path)
    assert set(ring.keys) == {2} and ring.active == 2 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    output = capsys.readouterr()
    assert ring.keys[2].hex() not in output.out + output.err
    assert 'signing with 2' in output.out and 'signs; activate another first' in output.err
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
