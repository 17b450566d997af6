# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Per-frame telemetry and health on standard types (`diagnostic_msgs`).

Telemetry (`~/telemetry`) is one `DiagnosticStatus` per frame: `name` the node, `hardware_id` the frame key
`<sec>.<nanosec:09d>/<frame_id>`, `message` the outcome (exit, local, edge, fallback, late, dropped,
rejected), `values` the numbers as key/value strings: split, codec, exit, confidence, head_ms, encode_ms,
bytes, latency_ms (vehicle clock, image received → result published), decode_ms, tail_ms, reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from splitee_ros.pipeline.frames import FrameKey


def frame_key(header) -> FrameKey:
    """The key that identifies a frame end to end: its header's stamp and frame_id."""
    return (int(header.stamp.sec), int(header.stamp.nanosec), str(header.frame_id))


def key_text(key: FrameKey) -> str:
    """A frame key as telemetry writes it."""
    return f'{key[0]}.{key[1]:09d}/{key[2]}'


def _values(values: Mapping[str, object]) -> list[KeyValue]:
    return [KeyValue(key=str(k), value=f'{v:.3f}' if isinstance(v, float) else str(v)) for k, v in values.items()]


def frame_status(node_name: str, key: FrameKey, outcome: str, values: Mapping[str, object]) -> DiagnosticStatus:
    """One frame's telemetry."""
    return DiagnosticStatus(level=DiagnosticStatus.OK, name=node_name, message=outcome, hardware_id=key_text(key),
                            values=_values(values))  # fmt: skip


def status_values(status: DiagnosticStatus) -> dict[str, str]:
    """A status's key/value pairs as a dict."""
    return {item.key: item.value for item in status.values}


def health(node, name: str, level: bytes, message: str, values: Mapping[str, object]) -> DiagnosticArray:
    """A `/diagnostics` array with one status for `node` (`level`: DiagnosticStatus.OK, WARN or ERROR)."""
    array = DiagnosticArray()
    array.header.stamp = node.get_clock().now().to_msg()
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=node.get_fully_qualified_name(),
                              values=_values(values))  # fmt: skip
    array.status.append(status)
    return array


class RecentProblems:
    """Health from counters: WARN while the watched ones grow (since the last report), OK once they stop."""

    def __init__(self, watched: tuple[str, ...]) -> None:
        """Watch these counters."""
        self.watched = watched
        self.last: dict[str, int] = {}

    def check(self, counts: Mapping[str, int]) -> tuple[bytes, str]:
        """The level and message for `counts` now."""
        grown = {key: counts.get(key, 0) - self.last.get(key, 0) for key in self.watched}
        self.last = {key: counts.get(key, 0) for key in self.watched}
        problems = [f'{count} {key}' for key, count in grown.items() if count > 0]
        if problems:
            return DiagnosticStatus.WARN, ', '.join(problems) + ' since the last report'
        return DiagnosticStatus.OK, 'ok'
