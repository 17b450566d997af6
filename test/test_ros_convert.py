# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Image and detection conversions of the nodes (the cv_bridge fallback included)."""

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from splitee_ros.model.postprocess import Detections
from splitee_ros.ros.convert import (
    CHANNELS,
    bgr_to_image,
    compressed_to_bgr,
    detections_to_msg,
    image_to_bgr,
    msg_to_detections,
)
from splitee_ros.tools.fuzz import decompression_bomb

CLASSES = ['__background__', 'car', 'pedestrian']


def as_encoding(bgr: np.ndarray, encoding: str) -> np.ndarray:
    conversions = {
        'bgr8': None,
        'rgb8': cv2.COLOR_BGR2RGB,
        'rgba8': cv2.COLOR_BGR2RGBA,
        'bgra8': cv2.COLOR_BGR2BGRA,
        'mono8': cv2.COLOR_BGR2GRAY,
    }
    code = conversions[encoding]
    pixels = bgr if code is None else cv2.cvtColor(bgr, code)
    return pixels.reshape(bgr.shape[0], bgr.shape[1], -1)


@given(
    height=st.integers(1, 24),
    width=st.integers(1, 24),
    padding=st.integers(0, 7),
    encoding=st.sampled_from(sorted(CHANNELS)),
    seed=st.integers(0, 2**16),
)
def test_fallback_reads_every_supported_encoding_with_row_padding(height, width, padding, encoding, seed):
    bgr = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    pixels = as_encoding(bgr, encoding)
    step = width * pixels.shape[2] + padding
    rows = np.zeros((height, step), np.uint8)
    rows[:, : width * pixels.shape[2]] = pixels.reshape(height, -1)
    msg = Image(height=height, width=width, encoding=encoding, step=step, data=rows.tobytes())
    converted = image_to_bgr(msg)
    expected = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR) if encoding == 'mono8' else bgr
    np.testing.assert_array_equal(converted, expected)


@given(
    height=st.integers(0, 8),
    width=st.integers(0, 8),
    step=st.integers(0, 40),
    size=st.integers(0, 400),
    encoding=st.sampled_from([*CHANNELS, '16UC1', 'yuv422', '']),
)
def test_fallback_accepts_only_consistent_layouts(height, width, step, size, encoding):
    msg = Image(height=height, width=width, encoding=encoding, step=step, data=bytes(size))
    consistent = (
        encoding in CHANNELS
        and height > 0
        and width > 0
        and step >= width * CHANNELS[encoding]
        and size == step * height
    )
    if consistent:
        assert image_to_bgr(msg).shape == (height, width, 3)
    else:
        with pytest.raises(ValueError, match=r'encoding|empty image|step|data has'):
            image_to_bgr(msg)


def test_bridge_errors_become_value_errors():
    class BrokenBridge:
        def imgmsg_to_cv2(self, msg, desired_encoding):
            raise TypeError('encoding not supported')

    with pytest.raises(ValueError, match='cv_bridge: encoding not supported'):
        image_to_bgr(Image(), BrokenBridge())


def test_compressed_images_decode_or_are_refused():
    bgr = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    png = cv2.imencode('.png', bgr)[1].tobytes()
    np.testing.assert_array_equal(compressed_to_bgr(CompressedImage(format='png', data=png)), bgr)
    refusals = {b'': 'not a JPEG or PNG', png[:40]: 'does not decode', b'not an image': 'not a JPEG or PNG',
                decompression_bomb(): 'at most'}  # fmt: skip
    for data, reason in refusals.items():
        with pytest.raises(ValueError, match=reason):
            compressed_to_bgr(CompressedImage(format='jpeg', data=data))
    header = Header(frame_id='cam')
    assert image_to_bgr(bgr_to_image(bgr, header)).tobytes() == bgr.tobytes()


def test_detections_round_trip_through_detection2darray_with_the_frame_header():
    header = Header(frame_id='camera_front')
    header.stamp.sec, header.stamp.nanosec = 1767225600, 250_000_000
    detections = Detections(
        np.array([[10, 20, 110, 220], [0.5, 1.5, 3.5, 9.0]], np.float32),
        np.array([0.9, 0.4], np.float32),
        np.array([1, 2]),
    )
    msg = detections_to_msg(detections, header, CLASSES)
    assert msg.header == header and all(d.header == header for d in msg.detections)
    assert [d.results[0].hypothesis.class_id for d in msg.detections] == ['car', 'pedestrian']
    back = msg_to_detections(msg, CLASSES)
    np.testing.assert_allclose(back.boxes, detections.boxes, atol=1e-5)
    np.testing.assert_allclose(back.scores, detections.scores, atol=1e-6)
    np.testing.assert_array_equal(back.labels, detections.labels)
    assert len(msg_to_detections(detections_to_msg(Detections.empty(), header, CLASSES), CLASSES)) == 0


def test_debug_image_draws_the_boxes_with_the_frame_header():
    from splitee_ros.ros.debug import draw_detections

    header = Header(frame_id='camera_front')
    image = np.zeros((120, 160, 3), np.uint8)
    detections = Detections(np.array([[20, 30, 80, 90]], np.float32), np.array([0.7], np.float32), np.array([1]))
    msg = draw_detections(image, detections_to_msg(detections, header, CLASSES), CLASSES)
    drawn = image_to_bgr(msg)
    assert msg.header == header and drawn.shape == image.shape
    assert drawn[30, 20:80].any() and drawn[60, 50].sum() == 0  # the outline, not the inside
    assert not image.any(), 'the camera frame itself is not drawn on'
