# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The debug image: the camera frame with the published boxes drawn, for RViz or Foxglove."""

from __future__ import annotations

import cv2
import numpy as np

from splitee_ros.ros.convert import bgr_to_image, msg_to_detections


def draw_boxes(image_bgr: np.ndarray, boxes, labels: list[str], scores) -> np.ndarray:
    """A copy of `image_bgr` with labelled boxes (x1, y1, x2, y2 in pixels)."""
    canvas = image_bgr.copy()
    for (x1, y1, x2, y2), label, score in zip(boxes, labels, scores, strict=True):
        color = tuple(int(c) for c in np.random.default_rng(abs(hash(label)) % 2**32).integers(64, 256, 3))
        cv2.rectangle(canvas, (int(x1), int(y1)), (int(x2), int(y2)), color, 2)
        cv2.putText(canvas, f'{label} {score:.2f}', (int(x1), max(10, int(y1) - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    color, 1, cv2.LINE_AA)  # fmt: skip
    return canvas


def draw_detections(image_bgr: np.ndarray, msg, class_names) -> object:
    """`sensor_msgs/Image` of `image_bgr` with the boxes of a `Detection2DArray` drawn, with its header."""
    found = msg_to_detections(msg, class_names)
    names = [class_names[label] if label >= 0 else '?' for label in found.labels]
    return bgr_to_image(draw_boxes(image_bgr, found.boxes, names, found.scores), msg.header)
