# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Live view in Foxglove, for machines without ROS tools: the foxglove-sdk WebSocket server.

    splitee view [--namespace veh_1] [--camera camera/image_raw] [--port 8765]

Joins the DDS domain, listens to one vehicle and serves these channels (open `ws://HOST:8765` in Foxglove,
then `config/foxglove_layout.json`):
- `/camera`: the camera's frames (JPEG), stamped with their header stamps;
- `/camera/detections`: what the vehicle published for each frame, as image annotations (boxes, class and
  score) with the frame's stamp, so that the Image panel draws them on their frame;
- `/frames`: each frame's outcome (exit, edge, fallback, local, ...), latency, bytes, mode, split and codec,
  from head_node's telemetry;
- `/monitor`: the monitor's link estimate (RTT, goodput, loss) and its decisions (choice, reason,
  predicted hit probability), from its /diagnostics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import foxglove
from foxglove.channels import CompressedImageChannel, ImageAnnotationsChannel
from foxglove.messages import (
    Color,
    CompressedImage,
    ImageAnnotations,
    Point2,
    PointsAnnotation,
    PointsAnnotationType,
    TextAnnotation,
    Timestamp,
)

CAMERA, DETECTIONS, FRAMES, MONITOR = '/camera', '/camera/detections', '/frames', '/monitor'
_BOX = Color(r=0.1, g=0.9, b=0.3, a=1.0)
_LABEL_BACKGROUND = Color(r=0.0, g=0.0, b=0.0, a=0.6)
_WHITE = Color(r=1.0, g=1.0, b=1.0, a=1.0)
_RECORD_SCHEMA = {'type': 'object', 'additionalProperties': True}


def _timestamp(stamp_ns: int) -> Timestamp:
    return Timestamp(stamp_ns // 1_000_000_000, stamp_ns % 1_000_000_000)


def _numbers(values: Mapping[str, str]) -> dict[str, Any]:
    """Telemetry values (text) with the numbers as numbers, so that Foxglove's Plot panel can draw them."""
    record: dict[str, Any] = {}
    for key, text in values.items():
        try:
            record[key] = float(text)
        except ValueError:
            record[key] = text
    return record


def layout() -> str:
    """The Foxglove layout of these channels (JSON), shipped as `config/foxglove_layout.json`.

    The camera with its detections; latency and bytes per frame over time; each frame's record; the monitor's
    latest status.
    """
    from foxglove import layouts

    def plot(title: str, field: str) -> layouts.SplitItem:
        series = layouts.PlotSeries(value=f'{FRAMES}.{field}', label=field, enabled=True)
        return layouts.SplitItem(content=layouts.PlotPanel(title=title, config=layouts.PlotConfig(paths=[series])))

    def record(title: str, topic: str) -> layouts.SplitItem:
        config = layouts.RawMessagesConfig(topic_path=topic)
        return layouts.SplitItem(content=layouts.RawMessagesPanel(title=title, config=config))

    annotations = {DETECTIONS: layouts.ImageAnnotationSettings(visible=True)}
    image_mode = layouts.ImageModeConfig(image_topic=CAMERA, annotations=annotations)
    image = layouts.ImagePanel(title='camera and detections', config=layouts.ImageConfig(image_mode=image_mode))
    charts = layouts.SplitContainer(direction='column', items=[plot('latency', 'latency_ms'), plot('bytes', 'bytes')])
    side = layouts.SplitContainer(direction='column', items=[record('frame', FRAMES), record('monitor', MONITOR)])
    items = [layouts.SplitItem(proportion=2, content=image), layouts.SplitItem(content=charts),
             layouts.SplitItem(content=side)]  # fmt: skip
    content = layouts.SplitContainer(direction='row', items=items)
    return layouts.Layout(content=content).to_json()


class FoxgloveView:
    """The channels and the server; fed with what the vehicle publishes (no rclpy here)."""

    def __init__(self, host: str = '127.0.0.1', port: int = 8765) -> None:
        """Start a WebSocket server of its own (`port` 0: any free one) with the four channels."""
        self.context = foxglove.Context()
        self.camera = CompressedImageChannel(CAMERA, context=self.context)
        self.detections = ImageAnnotationsChannel(DETECTIONS, context=self.context)
        self.frames = foxglove.Channel(FRAMES, schema=_RECORD_SCHEMA, message_encoding='json', context=self.context)
        self.monitor = foxglove.Channel(MONITOR, schema=_RECORD_SCHEMA, message_encoding='json', context=self.context)
        self.server = foxglove.start_server(name='splitee_ros', host=host, port=port, context=self.context)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self.server.port

    def log_camera(self, stamp_ns: int, frame_id: str, jpeg: bytes) -> None:
        """One camera frame (JPEG bytes)."""
        image = CompressedImage(timestamp=_timestamp(stamp_ns), frame_id=frame_id, data=jpeg, format='jpeg')
        self.camera.log(image, log_time=stamp_ns)

    def log_detections(self, stamp_ns: int, rows: Sequence[Sequence]) -> None:
        """The detections published for the frame of `stamp_ns`: [x0, y0, x1, y1, score, class] rows."""
        stamp = _timestamp(stamp_ns)
        boxes, labels = [], []
        for x0, y0, x1, y1, score, name in rows:
            corners = [Point2(x=x0, y=y0), Point2(x=x1, y=y0), Point2(x=x1, y=y1), Point2(x=x0, y=y1)]
            boxes.append(PointsAnnotation(timestamp=stamp, type=PointsAnnotationType.LineLoop, points=corners,
                                          outline_color=_BOX, thickness=2.0))  # fmt: skip
            label = TextAnnotation(timestamp=stamp, position=Point2(x=x0, y=y0), text=f'{name} {score:.2f}',
                                   font_size=12.0, text_color=_WHITE, background_color=_LABEL_BACKGROUND)  # fmt: skip
            labels.append(label)
        self.detections.log(ImageAnnotations(points=boxes, texts=labels), log_time=stamp_ns)

    def log_frame(self, stamp_ns: int, outcome: str, values: Mapping[str, str]) -> None:
        """A frame's outcome and its telemetry values."""
        self.frames.log({'outcome': outcome, **_numbers(values)}, log_time=stamp_ns)

    def log_monitor(self, stamp_ns: int, name: str, message: str, values: Mapping[str, str]) -> None:
        """One of the monitor's statuses (link, stages, adaptation)."""
        self.monitor.log({'status': name, 'message': message, **_numbers(values)}, log_time=stamp_ns)

    def stop(self) -> None:
        """Stop the server."""
        self.server.stop()


def run(namespace: str, camera: str, host: str, port: int) -> None:
    """Subscribe to the vehicle in `namespace` and forward to Foxglove until Ctrl-C."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from rclpy.executors import ExternalShutdownException
    from rclpy.node import Node
    from sensor_msgs.msg import CompressedImage as RosCompressedImage
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from splitee_ros.ros import qos
    from splitee_ros.ros.convert import compressed_to_bgr, detection_rows, image_to_bgr
    from splitee_ros.ros.telemetry import status_values

    def stamp_ns(header) -> int:
        return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec

    view = FoxgloveView(host, port)
    rclpy.init()
    node = Node('splitee_view', namespace=namespace)

    def on_image(msg) -> None:
        if isinstance(msg, RosCompressedImage) and 'jpeg' in msg.format.lower():
            jpeg = bytes(msg.data)
        else:
            image = compressed_to_bgr(msg) if isinstance(msg, RosCompressedImage) else image_to_bgr(msg)
            jpeg = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
        view.log_camera(stamp_ns(msg.header), msg.header.frame_id, jpeg)

    def on_telemetry(status: DiagnosticStatus) -> None:
        sec, _, nanosec = status.hardware_id.partition('/')[0].partition('.')
        view.log_frame(int(sec) * 1_000_000_000 + int(nanosec or 0), status.message, status_values(status))

    def on_diagnostics(array: DiagnosticArray) -> None:
        for status in array.status:
            if status.hardware_id.endswith('monitor_node') and status.hardware_id.startswith(node.get_namespace()):
                view.log_monitor(stamp_ns(array.header), status.name, status.message, status_values(status))

    node.create_subscription(Image, camera, on_image, qos.IMAGE)
    node.create_subscription(RosCompressedImage, f'{camera}/compressed', on_image, qos.IMAGE)
    node.create_subscription(
        Detection2DArray, 'perception/detections',
        lambda msg: view.log_detections(stamp_ns(msg.header), detection_rows(msg)), qos.DETECTIONS,
    )  # fmt: skip
    node.create_subscription(DiagnosticStatus, 'head_node/telemetry', on_telemetry, qos.TELEMETRY)
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)
    node.get_logger().info(f'Foxglove: ws://{host}:{view.port} (layout: config/foxglove_layout.json)')
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        view.stop()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
