# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The debug image: the camera frame with the published boxes drawn, for RViz or Foxglove."""

from __future__ import annotations

import cv2
import numpy as np

from splitee_ros.ros.convert import bgr_to_image


def draw_boxes(image_bgr: np.ndarray, boxes, labels: list[str], scores) -> np.ndarray:
    """A copy of `image_bgr` with labelled boxes (x1, y1, x2, y2 in pixels)."""
    canvas = image_bgr.copy()
    for (x1, y1, x2, y2), label, score in zip(boxes, labels, scores, strict=True):
        color = tuple(int(c) for c in np.random.default_rng(abs(hash(label)) % 2**32).integers(64, 256, 3))
        cv2.rectangle(canvas, (int(x1), int(y1)), (int(x2), int(y2)), color, 2)
        cv2.putText(canvas, f'{label} {score:.2f}', (int(x1), max(10, int(y1) - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    color, 1, cv2.LINE_AA)  # fmt: skip
    return canvas


def draw_detections(image_bgr: np.ndarray, msg):
    """`sensor_msgs/Image` of `image_bgr` with the boxes of a `Detection2DArray` drawn, with its header."""
    boxes, labels, scores = [], [], []
    for detection in msg.detections:
        cx, cy = detection.bbox.center.position.x, detection.bbox.center.position.y
        w, h = detection.bbox.size_x, detection.bbox.size_y
        boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
        best = max(detection.results, key=lambda r: r.hypothesis.score) if detection.results else None
        labels.append(best.hypothesis.class_id if best else '?')
        scores.append(best.hypothesis.score if best else 0.0)
    return bgr_to_image(draw_boxes(image_bgr, boxes, labels, scores), msg.header)
