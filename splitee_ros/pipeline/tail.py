# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The edge's work: check and decode each request strictly, then run the tails (or the whole model) in batches.

Decoding is per request (and rejects anything malformed with a reason); running is per batch of requests
for the same graph, from any vehicles and cameras (`pipeline.scheduler` forms the batches).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from splitee_ros.codec.frame import FrameDecoder, FrameError, WireSpec
from splitee_ros.errors import RejectedInputError
from splitee_ros.model.postprocess import Detections
from splitee_ros.pipeline.frames import elapsed_ms
from splitee_ros.pipeline.images import decode_image, encoded_size
from splitee_ros.pipeline.request import BOTTLENECK, RequestFormat
from splitee_ros.runtime.base import SplitRuntime
from splitee_ros.runtime.spec import FULL_GRAPH

# A small JPEG can declare a huge image: cap what the edge decodes (OpenCV reads this at its first decode).
os.environ.setdefault('OPENCV_IO_MAX_IMAGE_PIXELS', str(4096 * 4096))


class RejectedError(RejectedInputError):
    """A message the edge cannot use; `reason` is the counter it goes to."""


@dataclass
class EdgeWork:
    """A request decoded and ready to run: the graph it needs (`batch_key`) and that graph's input."""

    batch_key: str  # a split's name (its tail), or FULL_GRAPH for an image
    value: np.ndarray  # the decoded code, or the BGR image
    request: RequestFormat
    frame_size: tuple[int, int]
    info: dict[str, Any] = field(default_factory=dict)  # mode, split, codec, decode_ms, bytes, sequence


@dataclass
class TailStep:
    """The edge's result of one message and what it cost."""

    detections: Detections
    info: dict[str, Any]  # split, codec, decode_ms, tail_ms, bytes


class TailPipeline:
    """Decodes bottleneck frames (or JPEG images) and runs the tails (or the whole model) on batches of them."""

    def __init__(self, runtime: SplitRuntime, wire_spec: WireSpec, max_payload_bytes: int) -> None:
        """`runtime` has every tail (and the full model) loaded."""
        self.runtime = runtime
        self.decoder = FrameDecoder(wire_spec)
        self.max_payload_bytes = max_payload_bytes

    def decode(self, payload_format: str, data: bytes) -> EdgeWork:
        """Check and decode one message; RejectedError for anything malformed."""
        if len(data) > self.max_payload_bytes:
            raise RejectedError('too_large', f'{len(data)} B > max_payload_bytes {self.max_payload_bytes}')
        try:
            request = RequestFormat.parse(payload_format)
        except ValueError as error:
            raise RejectedError('bad_format', str(error)) from None
        start = time.perf_counter()
        if request.kind != BOTTLENECK:
            input_size = self.runtime.spec.input_size
            try:
                frame_size = encoded_size(data)
                image = decode_image(data, at_least=input_size)
            except ValueError as error:
                raise RejectedError('bad_image', str(error)) from None
            if image.shape[:2] != tuple(input_size):  # what waits in the queue is the model's input, no more
                image = cv2.resize(image, (input_size[1], input_size[0]), interpolation=cv2.INTER_AREA)
            info = {'mode': 'offload-image', 'decode_ms': elapsed_ms(start), 'bytes': len(data)}
            return EdgeWork(FULL_GRAPH, image, request, frame_size, info)
        try:
            frame = self.decoder.decode(data)
        except FrameError as error:
            raise RejectedError(error.reason.value, str(error)) from None
        split = self.runtime.split_names[frame.split_index]
        info = {'mode': 'split', 'split': split, 'codec': frame.codec.name, 'decode_ms': elapsed_ms(start),
                'bytes': len(data), 'sequence': frame.sequence}  # fmt: skip
        assert request.frame_size is not None  # a bottleneck's format always has one
        return EdgeWork(split, frame.tensor.astype(np.float32, copy=False), request, request.frame_size, info)

    def run(self, works: Sequence[EdgeWork]) -> list[Detections]:
        """Run one batch of decoded requests for the same graph; detections in each camera frame's pixels."""
        keys = {work.batch_key for work in works}
        if len(keys) != 1:
            raise ValueError(f'a batch runs one graph, not {sorted(keys)}')
        key = keys.pop()
        if key == FULL_GRAPH:
            return self.runtime.run_full_batch([work.value for work in works], [work.frame_size for work in works])
        return self.runtime.run_tails(key, [work.value for work in works], [work.frame_size for work in works])

    def step(self, payload_format: str, data: bytes) -> TailStep:
        """Decode and run one message on its own (a batch of one)."""
        work = self.decode(payload_format, data)
        start = time.perf_counter()
        detections = self.run([work])[0]
        return TailStep(detections, {**work.info, 'tail_ms': elapsed_ms(start)})
