# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The vehicle's work on one frame: run the head, take a confident exit, or encode what goes to the edge."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from splitee_ros.codec.frame import encode_frame
from splitee_ros.codec.registry import Codec
from splitee_ros.control.latency import MODES
from splitee_ros.model.postprocess import Detections
from splitee_ros.pipeline.frames import Outcome, elapsed_ms
from splitee_ros.pipeline.request import BOTTLENECK, IMAGE, RequestFormat
from splitee_ros.runtime.base import HeadResult, SplitRuntime


@dataclass(frozen=True)
class HeadSettings:
    """The live-tunable settings of the head (its ROS parameters)."""

    mode: str = 'split'
    split: str = ''
    codec: str = 'int8+zstd3'
    exit_threshold: float = 0.8
    exits_enabled: bool = True
    jpeg_quality: int = 80


@dataclass
class HeadStep:
    """What to do with one frame: publish `detections` now, or send `payload` and wait with a `fallback`.

    `request` is the payload's format; the sender adds the frame's budget to it when it sends.
    """

    outcome: Outcome | None  # EXIT or LOCAL when there is nothing to wait for
    detections: Detections | None = None
    payload: bytes = b''
    request: RequestFormat | None = None
    fallback: Callable[[], Detections] = Detections.empty
    info: dict[str, Any] = field(default_factory=dict)  # split, codec, exit, confidence, head_ms, encode_ms, bytes


class HeadPipeline:
    """Runs the vehicle side for the current settings."""

    def __init__(self, runtime: SplitRuntime, codecs: Mapping[str, Codec], model_id: bytes) -> None:
        """`runtime` has every head (and the full model) loaded; `codecs` by name."""
        self.runtime = runtime
        self.codecs = dict(codecs)
        self.model_id = model_id
        self.split_index = {name: index for index, name in enumerate(runtime.split_names)}

    def check(self, settings: HeadSettings) -> None:
        """ValueError naming the problem if `settings` cannot run."""
        if settings.mode not in MODES:
            raise ValueError(f'mode must be one of {list(MODES)}, not {settings.mode!r}')
        if settings.split not in self.split_index:
            raise ValueError(f'split_point must be one of {list(self.split_index)}, not {settings.split!r}')
        if settings.codec not in self.codecs:
            raise ValueError(f'codec must be one of {sorted(self.codecs)}, not {settings.codec!r}')

    def step(self, image_bgr: np.ndarray, settings: HeadSettings, sequence: int, check_exit: bool = False) -> HeadStep:
        """Process one camera frame (BGR) under `settings`.

        With `check_exit`, a frame that exits also gets its code (`payload`): the edge's answer checks the exit.
        """
        return self.steps([image_bgr], settings, [sequence], [check_exit])[0]

    def steps(
        self, images_bgr: Sequence[np.ndarray], settings: HeadSettings, sequences: Sequence[int],
        check_exits: Sequence[bool],
    ) -> list[HeadStep]:  # fmt: skip
        """Process frames of several cameras at once: the model runs them as one batch (its time is shared)."""
        start = time.perf_counter()
        if settings.mode == 'local':
            results = self.runtime.run_full_batch(images_bgr)
            info = {'mode': 'local', 'head_ms': elapsed_ms(start), 'batch': len(images_bgr)}
            return [HeadStep(Outcome.LOCAL, detections, info=dict(info)) for detections in results]
        if settings.mode == 'offload-image':
            return [self._jpeg(image, settings) for image in images_bgr]
        head_results = self.runtime.run_heads(settings.split, images_bgr)
        head_ms = elapsed_ms(start)
        return [
            self._split_step(result, settings, sequence, check_exit, head_ms, len(images_bgr))
            for result, sequence, check_exit in zip(head_results, sequences, check_exits, strict=True)
        ]

    @staticmethod
    def _jpeg(image_bgr: np.ndarray, settings: HeadSettings) -> HeadStep:
        start = time.perf_counter()
        ok, encoded = cv2.imencode('.jpg', image_bgr, [cv2.IMWRITE_JPEG_QUALITY, settings.jpeg_quality])
        if not ok:
            raise ValueError('JPEG encoding failed')
        payload = encoded.tobytes()
        info = {
            'mode': 'offload-image',
            'jpeg_quality': settings.jpeg_quality,
            'encode_ms': elapsed_ms(start),
            'bytes': len(payload),
        }
        return HeadStep(None, payload=payload, request=RequestFormat(IMAGE), info=info)

    def _split_step(
        self, result: HeadResult, settings: HeadSettings, sequence: int, check_exit: bool, head_ms: float, batch: int
    ) -> HeadStep:
        """An exit, or the code to send, for one frame's head result."""
        info = {
            'mode': 'split',
            'split': settings.split,
            'codec': settings.codec,
            'exit_threshold': settings.exit_threshold,
            'head_ms': head_ms,
            **({'batch': batch} if batch > 1 else {}),
        }
        best = result.best_exit() if settings.exits_enabled else None
        exits = best is not None and result.confidences[best] >= settings.exit_threshold
        if best is not None:
            info |= {'exit': best, 'confidence': result.confidences[best]}
            if exits and not check_exit:
                return HeadStep(Outcome.EXIT, result.exit_detections(best), info=info)
        start = time.perf_counter()
        codec = self.codecs[settings.codec]
        payload = encode_frame(result.code, codec, self.model_id, self.split_index[settings.split], sequence)
        info |= {'encode_ms': elapsed_ms(start), 'bytes': len(payload)}
        request = RequestFormat(BOTTLENECK, result.frame_size)
        if best is not None and exits:  # answered by the exit, and the code goes to the edge to check it
            return HeadStep(Outcome.EXIT, result.exit_detections(best), payload, request, info=info)
        fallback = functools.partial(result.exit_detections, best) if best is not None else Detections.empty
        return HeadStep(None, payload=payload, request=request, fallback=fallback, info=info)
