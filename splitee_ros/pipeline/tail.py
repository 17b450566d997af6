# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The edge's work on one message: check and decode it strictly, run the tail (or the whole model on a JPEG)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import cv2
import numpy as np

from splitee_ros.codec.frame import FrameDecoder, FrameError, WireSpec
from splitee_ros.model.postprocess import Detections
from splitee_ros.pipeline.frames import elapsed_ms
from splitee_ros.pipeline.head import IMAGE_FORMAT, parse_bottleneck_format
from splitee_ros.runtime.base import SplitRuntime

# A small JPEG can declare a huge image: cap what the edge decodes (OpenCV reads this at its first decode).
os.environ.setdefault('OPENCV_IO_MAX_IMAGE_PIXELS', str(4096 * 4096))


class RejectedError(ValueError):
    """A message the edge cannot use; `reason` is the counter it goes to."""

    def __init__(self, reason: str, detail: str) -> None:
        """Keep the reason code."""
        super().__init__(f'{reason}: {detail}')
        self.reason = reason


@dataclass
class TailStep:
    """The edge's result of one message and what it cost."""

    detections: Detections
    info: dict  # split, codec, decode_ms, tail_ms, bytes


class TailPipeline:
    """Decodes bottleneck frames (or JPEG images) and runs the tail (or the whole model)."""

    def __init__(self, runtime: SplitRuntime, wire_spec: WireSpec, max_payload_bytes: int) -> None:
        """`runtime` has every tail (and the full model) loaded."""
        self.runtime = runtime
        self.decoder = FrameDecoder(wire_spec)
        self.max_payload_bytes = max_payload_bytes

    def step(self, payload_format: str, data: bytes) -> TailStep:
        """Process one message; raise RejectedError for anything malformed."""
        if len(data) > self.max_payload_bytes:
            raise RejectedError('too_large', f'{len(data)} B > max_payload_bytes {self.max_payload_bytes}')
        start = time.perf_counter()
        if payload_format == IMAGE_FORMAT:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
            if image is None:
                raise RejectedError('bad_image', 'the JPEG does not decode')
            decode_ms = elapsed_ms(start)
            start = time.perf_counter()
            detections = self.runtime.run_full(image)
            return TailStep(detections, {'mode': 'offload-image', 'decode_ms': decode_ms, 'tail_ms': elapsed_ms(start),
                                         'bytes': len(data)})  # fmt: skip
        try:
            frame_size = parse_bottleneck_format(payload_format)
        except ValueError as error:
            raise RejectedError('bad_format', str(error)) from None
        try:
            frame = self.decoder.decode(data)
        except FrameError as error:
            raise RejectedError(error.reason.value, str(error)) from None
        decode_ms = elapsed_ms(start)
        split = self.runtime.split_names[frame.split_index]
        start = time.perf_counter()
        detections = self.runtime.run_tail(split, frame.tensor.astype(np.float32, copy=False), frame_size)
        info = {'mode': 'split', 'split': split, 'codec': frame.codec.name, 'decode_ms': decode_ms,
                'tail_ms': elapsed_ms(start), 'bytes': len(data), 'sequence': frame.sequence}  # fmt: skip
        return TailStep(detections, info)
