# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Compressed camera images from the network, decoded only once their header says they are a sane size.

A few hundred bytes of PNG can decode to gigabytes (a decompression bomb), and OpenCV decodes whatever it
recognises. So an image must be JPEG or PNG, and its frame header must give a size within `MAX_PIXELS`
before OpenCV sees it.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

MAX_PIXELS = 1 << 23  # 8.4 megapixels: a 4K UHD camera frame fits; each decode of one takes 25 MB
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)
_JPEG_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}  # markers without a length


def encoded_size(data: bytes) -> tuple[int, int]:
    """(height, width) from a JPEG's start-of-frame or a PNG's IHDR; ValueError for anything else."""
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b'IHDR':
            raise ValueError('PNG without its IHDR header')
        width, height = struct.unpack_from('>II', data, 16)
        return height, width
    if not data.startswith(b'\xff\xd8'):
        raise ValueError('not a JPEG or PNG image')
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            raise ValueError('corrupt JPEG: a segment does not start with a marker')
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in _JPEG_STANDALONE:
            offset += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            break
        (length,) = struct.unpack_from('>H', data, offset + 2)
        if marker in _JPEG_SOF:
            if offset + 9 > len(data):
                break
            height, width = struct.unpack_from('>HH', data, offset + 5)
            return height, width
        offset += 2 + length
    raise ValueError('JPEG without a frame header')


REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS, at_least: tuple[int, int] | None = None) -> np.ndarray:
    """A JPEG or PNG as BGR uint8; ValueError when it is neither, too large, or does not decode.

    With `at_least` (height, width), a large image is decoded at 1/2, 1/4 or 1/8 of its size (JPEG scales
    while it decodes), as small as still covers `at_least`: the edge needs no more than the model's input.
    """
    height, width = encoded_size(data)
    if not (height > 0 and width > 0 and height * width <= max_pixels):
        raise ValueError(f'image of {width}x{height} pixels (at most {max_pixels} decode)')
    flag = cv2.IMREAD_COLOR
    if at_least is not None:
        flag = next((f for r, f in REDUCED if height // r >= at_least[0] and width // r >= at_least[1]), flag)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if image is None:
        raise ValueError(f'the {width}x{height} image does not decode')
    return np.asarray(image, np.uint8)
