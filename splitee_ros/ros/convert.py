# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Conversions between ROS messages and numpy: camera images in, detections out.

Images go through `cv_bridge` where it can be imported; otherwise through the fallback here, which knows
rgb8, bgr8, rgba8, bgra8 and mono8 and refuses a message whose step or data size does not fit its shape.
"""

from __future__ import annotations

import cv2
import numpy as np

from splitee_ros.codec.auth import context
from splitee_ros.errors import RejectedInputError
from splitee_ros.model.postprocess import Detections
from splitee_ros.pipeline.images import decode_image

CHANNELS = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1}
TO_BGR = {
    'rgb8': cv2.COLOR_RGB2BGR, 'rgba8': cv2.COLOR_RGBA2BGR, 'bgra8': cv2.COLOR_BGRA2BGR, 'mono8': cv2.COLOR_GRAY2BGR,
}  # fmt: skip


class ImageError(RejectedInputError):
    """A camera image the head cannot use.

    Its reasons: bad_encoding, empty, bad_step, bad_data_size, bad_compressed, cv_bridge.
    """


def image_to_bgr(msg, bridge=None) -> np.ndarray:
    """`sensor_msgs/Image` → BGR uint8 (H, W, 3); ImageError for an encoding or layout it cannot use."""
    if bridge is not None:
        try:
            return bridge.imgmsg_to_cv2(msg, desired_encoding='bgr8')
        except Exception as error:  # cv_bridge raises its own CvBridgeError (and TypeError) types
            raise ImageError('cv_bridge', f'cv_bridge: {error}') from None
    encoding = msg.encoding.lower()
    if encoding not in CHANNELS:
        raise ImageError(
            'bad_encoding', f'unsupported image encoding {msg.encoding!r}; expected one of {list(CHANNELS)}'
        )
    channels, height, width, step = CHANNELS[encoding], int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageError('empty', f'empty image {width}x{height}')
    if step < width * channels:
        raise ImageError('bad_step', f'step {step} < width {width} x {channels} channels')
    if len(msg.data) != step * height:
        raise ImageError('bad_data_size', f'data has {len(msg.data)} B, step x height is {step * height} B')
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(height, step)
    pixels = rows[:, : width * channels].reshape(height, width, channels)
    if encoding == 'bgr8':
        return pixels.copy()
    return cv2.cvtColor(pixels, TO_BGR[encoding])


def compressed_to_bgr(msg) -> np.ndarray:
    """`sensor_msgs/CompressedImage` (JPEG or PNG of a sane size) → BGR uint8; ImageError if it is not one."""
    try:
        return decode_image(bytes(msg.data))
    except ValueError as error:
        raise ImageError('bad_compressed', f'compressed image ({msg.format!r}, {len(msg.data)} B): {error}') from None


def bgr_to_image(image_bgr: np.ndarray, header):
    """BGR uint8 → `sensor_msgs/Image` (bgr8) with `header`."""
    from sensor_msgs.msg import Image

    height, width = image_bgr.shape[:2]
    data = np.ascontiguousarray(image_bgr).tobytes()
    return Image(header=header, height=height, width=width, encoding='bgr8', is_bigendian=0, step=width * 3, data=data)


def detections_to_msg(detections: Detections, header, class_names):
    """Detections (boxes in camera pixels) → `vision_msgs/Detection2DArray` with the frame's `header`."""
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    array = Detection2DArray(header=header)
    for box, score, label in zip(detections.boxes, detections.scores, detections.labels, strict=True):
        x1, y1, x2, y2 = (float(v) for v in box)
        detection = Detection2D(header=header)
        detection.bbox.center.position.x = (x1 + x2) / 2
        detection.bbox.center.position.y = (y1 + y2) / 2
        detection.bbox.size_x = x2 - x1
        detection.bbox.size_y = y2 - y1
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = class_names[int(label)]
        hypothesis.hypothesis.score = float(score)
        detection.results.append(hypothesis)
        array.detections.append(detection)
    return array


def msg_to_detections(msg, class_names) -> Detections:
    """`vision_msgs/Detection2DArray` → Detections (the best hypothesis of each detection)."""
    index = {name: i for i, name in enumerate(class_names)}
    boxes, scores, labels = [], [], []
    for detection in msg.detections:
        if not detection.results:
            continue
        best = max(detection.results, key=lambda r: r.hypothesis.score)
        cx, cy = detection.bbox.center.position.x, detection.bbox.center.position.y
        half_w, half_h = detection.bbox.size_x / 2, detection.bbox.size_y / 2
        boxes.append((cx - half_w, cy - half_h, cx + half_w, cy + half_h))
        scores.append(best.hypothesis.score)
        labels.append(index.get(best.hypothesis.class_id, -1))
    if not boxes:
        return Detections.empty()
    return Detections(np.array(boxes, np.float32), np.array(scores, np.float32), np.array(labels, np.int64))


def detection_rows(msg) -> list[list]:
    """[x0, y0, x1, y1, score, class id] of the best hypothesis of each detection of a Detection2DArray."""
    rows = []
    for detection in msg.detections:
        box = detection.bbox
        x, y, w, h = box.center.position.x, box.center.position.y, box.size_x, box.size_y
        best = max(detection.results, key=lambda r: r.hypothesis.score, default=None)
        if best is not None:
            rows.append([x - w / 2, y - h / 2, x + w / 2, y + h / 2, best.hypothesis.score, best.hypothesis.class_id])
    return rows


def load_cv_bridge():
    """A CvBridge if `cv_bridge` imports here, else None (the fallback conversion is used)."""
    try:
        from cv_bridge import CvBridge
    except ImportError:
        return None
    return CvBridge()


def message_context(kind: str, namespace: str, header, payload_format: str) -> bytes:
    """What an authenticated message is (`codec.auth.context`): its kind, vehicle, header and format."""
    return context(kind, namespace, (int(header.stamp.sec), int(header.stamp.nanosec)), header.frame_id, payload_format)
