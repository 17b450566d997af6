# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What a bottleneck code competes with: the frame sent as an image, or the camera's stream sent as video.

Images go through OpenCV (JPEG, WebP, PNG). Video goes through x264 (PyAV) as ROS users stream it today
(ffmpeg_image_transport): zero-latency tuning, no B-frames, a key frame every `gop` frames, constant quality
(CRF); each packet is decoded as it arrives, so every frame is scored on what the edge would have then.
"""

from __future__ import annotations

import fractions
from collections.abc import Sequence

import cv2
import numpy as np


def image_bytes(image_bgr: np.ndarray, kind: str, quality: int) -> bytes:
    """The frame encoded as `kind` (jpeg, webp: quality 1-100; png: compression 0-9)."""
    flags = {'jpeg': ('.jpg', cv2.IMWRITE_JPEG_QUALITY), 'webp': ('.webp', cv2.IMWRITE_WEBP_QUALITY),
             'png': ('.png', cv2.IMWRITE_PNG_COMPRESSION)}  # fmt: skip
    if kind not in flags:
        raise ValueError(f'image kind must be one of {sorted(flags)}, not {kind!r}')
    extension, flag = flags[kind]
    ok, data = cv2.imencode(extension, image_bgr, [flag, quality])
    if not ok:
        raise RuntimeError(f'OpenCV cannot encode {kind}')
    return data.tobytes()


def encode_decode_h264(
    frames_bgr: Sequence[np.ndarray], fps: float, crf: int, gop: int = 10, preset: str = 'veryfast'
) -> tuple[list[np.ndarray], int]:
    """A sequence through x264 and back: the decoded frames (BGR, in order) and the total bytes sent."""
    import av

    height, width = frames_bgr[0].shape[:2]
    encoder = av.CodecContext.create('libx264', 'w')
    encoder.width, encoder.height, encoder.pix_fmt = width, height, 'yuv420p'
    rate = fractions.Fraction(fps).limit_denominator(1000)
    encoder.framerate, encoder.time_base = rate, 1 / rate
    encoder.options = {'crf': str(crf), 'tune': 'zerolatency', 'preset': preset, 'g': str(gop),
                       'keyint_min': str(gop), 'bf': '0', 'sc_threshold': '0'}  # fmt: skip
    decoder = av.CodecContext.create('h264', 'r')
    decoded, total = [], 0
    for index, frame in enumerate([*frames_bgr, None]):
        picture = None
        if frame is not None:
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format='bgr24')
            picture.pts = index
        for packet in encoder.encode(picture):
            total += packet.size
            decoded += [out.to_ndarray(format='bgr24') for out in decoder.decode(packet)]
    decoded += [out.to_ndarray(format='bgr24') for out in decoder.decode(None)]
    if len(decoded) != len(frames_bgr):
        raise RuntimeError(f'x264 gave back {len(decoded)} frames for {len(frames_bgr)}')
    return decoded, total
