# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""monitor_node: measures the link (ping-pong probes, real frames) and the stage times, reports /diagnostics."""

from __future__ import annotations

import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage

from splitee_ros.control.link import LinkEstimator, StageStats
from splitee_ros.ros import qos
from splitee_ros.ros.executor import spin
from splitee_ros.ros.params import declare
from splitee_ros.ros.qos import PROBE_REPLY_TOPIC, PROBE_TOPIC
from splitee_ros.ros.telemetry import health, status_values


class MonitorNode(Node):
    """Link and stage measurement for the vehicle/edge pair."""

    def __init__(self, **kwargs) -> None:
        """Declare parameters, start probing, listen to both nodes' telemetry."""
        super().__init__('monitor_node', **kwargs)
        probe_hz = declare(self, 'probe_hz', 5.0, 'link probes per second', True, (0.1, 100.0))
        self.probe_sizes = list(declare(self, 'probe_sizes', [256, 16384], 'probe payload sizes in bytes', True))
        if not self.probe_sizes or min(self.probe_sizes) < 0:
            raise ValueError(f'probe_sizes must be a non-empty list of sizes >= 0, not {self.probe_sizes}')
        window_s = declare(self, 'window_s', 5.0, 'statistics window', True, (0.5, 120.0))
        head = declare(self, 'head_node', 'head_node', 'the head node (its ~/telemetry)', True)
        tail = declare(self, 'tail_node', 'tail_node', 'the tail node (its ~/telemetry)', True)
        self.link = LinkEstimator(window_s)
        self.head_stats, self.tail_stats = StageStats(window_s), StageStats(window_s)
        self.sent: dict[str, tuple[float, int]] = {}
        self.sequence = 0
        self.probe_pub = self.create_publisher(CompressedImage, PROBE_TOPIC, qos.PROBE)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(CompressedImage, PROBE_REPLY_TOPIC, self._on_reply, qos.PROBE, callback_group=group)
        self.create_subscription(
            DiagnosticStatus, f'{head}/telemetry', self._on_head, qos.TELEMETRY, callback_group=group
        )
        self.create_subscription(
            DiagnosticStatus,
            f'{tail}/telemetry',
            lambda m: self.tail_stats.add(time.monotonic(), m.message, status_values(m)),
            qos.TELEMETRY,
            callback_group=group,
        )
        self.create_timer(1.0 / probe_hz, self._probe, callback_group=group)
        self.create_timer(1.0, self._report, callback_group=group)

    def _probe(self) -> None:
        now = time.monotonic()
        for probe_id, (sent, size) in list(self.sent.items()):
            if now - sent > 1.0:  # no reply within a second: lost
                del self.sent[probe_id]
                self.link.add_probe(now, size, None)
        size = self.probe_sizes[self.sequence % len(self.probe_sizes)]
        self.sequence += 1
        msg = CompressedImage(format='probe', data=bytes(size))
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = f'probe/{self.get_name()}/{self.sequence}'
        self.sent[msg.header.frame_id] = (now, size)
        self.probe_pub.publish(msg)

    def _on_reply(self, msg: CompressedImage) -> None:
        sent = self.sent.pop(msg.header.frame_id, None)
        if sent is not None:
            self.link.add_probe(time.monotonic(), sent[1], time.monotonic() - sent[0])

    def _on_head(self, msg: DiagnosticStatus) -> None:
        now, values = time.monotonic(), status_values(msg)
        self.head_stats.add(now, msg.message, values)
        if msg.message == 'edge' and 'edge_rtt_ms' in values and 'bytes' in values:
            tail = self.tail_stats.summary()
            edge_ms = tail.get('tail_ms_p50', 0.0) + tail.get('decode_ms_p50', 0.0)
            self.link.add_transfer(now, int(values['bytes']), (float(values['edge_rtt_ms']) - edge_ms) / 1e3)

    def _report(self) -> None:
        estimate = self.link.estimate(time.monotonic())
        link = {
            'rtt_ms': estimate.rtt_ms,
            'goodput_mbps': estimate.goodput_mbps,
            'loss': estimate.loss,
            'probes': estimate.probes,
        }
        level = DiagnosticStatus.OK if estimate.rtt_ms is not None and estimate.loss < 0.2 else DiagnosticStatus.WARN
        message = 'no probe replies' if estimate.rtt_ms is None else f'rtt {estimate.rtt_ms:.1f} ms'
        array = health(self, 'splitee: link', level, message, {k: v for k, v in link.items() if v is not None})
        stages = {
            **{f'head.{k}': v for k, v in self.head_stats.summary().items()},
            **{f'tail.{k}': v for k, v in self.tail_stats.summary().items()},
        }
        array.status += health(self, 'splitee: stages', DiagnosticStatus.OK, 'per-stage medians', stages).status
        self.diagnostics_pub.publish(array)


def main(args: list[str] | None = None) -> None:
    """Run monitor_node until shut down."""
    spin(MonitorNode, args)


if __name__ == '__main__':
    main()
