# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""tail_node (edge): bottleneck frame → strict decode → tail → detections back, with the frame's header.

In image offload it takes the JPEG and runs the whole model. Malformed messages are rejected with a counted
reason and the node keeps serving. It also answers the monitor's link probes.
"""

from __future__ import annotations

from collections import Counter

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage
from vision_msgs.msg import Detection2DArray

from splitee_ros.pipeline.tail import RejectedError, TailPipeline
from splitee_ros.ros import qos
from splitee_ros.ros.convert import detections_to_msg
from splitee_ros.ros.executor import spin
from splitee_ros.ros.params import declare, load_model
from splitee_ros.ros.qos import PROBE_REPLY_TOPIC, PROBE_TOPIC
from splitee_ros.ros.telemetry import RecentProblems, frame_key, frame_status, health


class TailNode(Node):
    """The edge side of split computing."""

    def __init__(self, **kwargs) -> None:
        """Declare parameters, load and warm every split's tail and the whole model, wire topics."""
        super().__init__('tail_node', **kwargs)
        package, runtime = load_model(self, 'tail')
        max_payload = declare(self, 'max_payload_bytes', 4 << 20, 'larger messages are rejected', True, (1024, 1 << 30))
        self.class_names = list(package.config.class_names)
        self.pipeline = TailPipeline(runtime, package.wire_spec(max_bytes=max_payload), max_payload)
        self.counts: Counter[str] = Counter()
        self.problems = RecentProblems(('rejected',))

        overrides = qos.overridable()
        self.result_pub = self.create_publisher(
            Detection2DArray, 'splitee/edge/detections', qos.DETECTIONS, qos_overriding_options=overrides
        )
        self.telemetry_pub = self.create_publisher(DiagnosticStatus, '~/telemetry', qos.TELEMETRY)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.probe_pub = self.create_publisher(CompressedImage, PROBE_REPLY_TOPIC, qos.PROBE)
        self.create_subscription(
            CompressedImage,
            'splitee/bottleneck',
            self._on_bottleneck,
            qos.BOTTLENECK,
            qos_overriding_options=overrides,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self.create_subscription(
            CompressedImage,
            PROBE_TOPIC,
            self.probe_pub.publish,
            qos.PROBE,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self.create_timer(1.0, self._publish_health, callback_group=MutuallyExclusiveCallbackGroup())
        backend = f'{runtime.backend.name}/{runtime.backend.device}'
        self.get_logger().info(f'{package.folder.name} on {backend}: tails {runtime.split_names} warm')

    def _on_bottleneck(self, msg: CompressedImage) -> None:
        key = frame_key(msg.header)
        try:
            step = self.pipeline.step(msg.format, bytes(msg.data))
        except Exception as error:  # a malformed message (RejectedError) or a failure on it: count, keep serving
            if not isinstance(error, RejectedError):
                error = RejectedError('internal', f'{type(error).__name__}: {error}')
            self.counts[f'rejected_{error.reason}'] += 1
            self.counts['rejected'] += 1
            self.telemetry_pub.publish(frame_status(self.get_name(), key, 'rejected', {'reason': error.reason}))
            self.get_logger().warning(f'rejected a frame: {error}', throttle_duration_sec=5.0)
            return
        self.result_pub.publish(detections_to_msg(step.detections, msg.header, self.class_names))
        self.counts['answered'] += 1
        self.telemetry_pub.publish(frame_status(self.get_name(), key, 'edge', step.info))

    def _publish_health(self) -> None:
        level, message = self.problems.check(self.counts)
        self.diagnostics_pub.publish(health(self, 'splitee: tail_node', level, message, dict(self.counts)))


def main(args: list[str] | None = None) -> None:
    """Run tail_node until shut down."""
    spin(TailNode, args)


if __name__ == '__main__':
    main()
