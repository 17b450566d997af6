# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Pre-processing shared by training, evaluation and every runtime backend (numpy and OpenCV only)."""

from __future__ import annotations

import cv2
import numpy as np


def to_model_input(image_bgr: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """BGR uint8 image (H, W, 3) → float32 RGB array (3, h, w) in [0, 1] at the model's input size (h, w).

    Raises ValueError for anything but an 8-bit, 3-channel image.
    """
    if image_bgr.dtype != np.uint8 or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(f'expected a uint8 BGR image (H, W, 3), got {image_bgr.dtype} {image_bgr.shape}')
    height, width = image_bgr.shape[:2]
    if (height, width) != tuple(input_size):
        image_bgr = cv2.resize(image_bgr, (input_size[1], input_size[0]), interpolation=cv2.INTER_AREA)
    rgb: np.ndarray = image_bgr[..., ::-1].transpose(2, 0, 1).astype(np.float32)
    rgb *= 1.0 / 255.0
    return rgb
