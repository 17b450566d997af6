# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Two processes exchange a Detection2DArray and a 200 KB CompressedImage over Fast DDS."""

import copy

import numpy as np
import pytest

from splitee_ros.tools import smoke
from splitee_ros.tools.message_diff import message_differences

pytestmark = pytest.mark.ros


def test_messages_round_trip_between_processes(ros_env):
    result = smoke.run(seed=11, timeout_s=60.0, env=ros_env)

    assert result.differences == []
    sent_detections, sent_image = result.expected
    got_detections, got_image = result.received
    assert len(got_image.data) == smoke.IMAGE_BYTES == 200_000
    assert bytes(got_image.data) == bytes(sent_image.data)
    assert len(got_detections.detections) == 5
    for got, sent in ((got_detections, sent_detections), (got_image, sent_image)):
        assert (got.header.stamp.sec, got.header.stamp.nanosec) == (sent.header.stamp.sec, sent.header.stamp.nanosec)
        assert got.header.frame_id == 'camera_front'
    assert got_detections.detections[3].header.stamp == sent_detections.header.stamp


def _leaf_paths(message, prefix=''):
    """Yield (path, parent, field) for every leaf field of a message, through sequences of messages."""
    for field in message.get_fields_and_field_types():
        value = getattr(message, field)
        path = f'{prefix}.{field}' if prefix else field
        if hasattr(value, 'get_fields_and_field_types'):
            yield from _leaf_paths(value, path)
        elif isinstance(value, list) and value and hasattr(value[0], 'get_fields_and_field_types'):
            yield path, message, field  # the sequence itself: losing an element must show
            for index, item in enumerate(value):
                yield from _leaf_paths(item, f'{path}[{index}]')
        else:
            yield path, message, field


def _perturbed(value):
    if isinstance(value, list):
        return value[:-1]
    if isinstance(value, str):
        return value + 'x'
    if isinstance(value, float):
        return value + 1.0
    if isinstance(value, int):
        return value + 1
    if isinstance(value, np.ndarray):
        changed = value.copy()
        changed[0] += 1.0
        return changed
    data = bytearray(value)
    data[0] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize('which', [0, 1], ids=['detections', 'image'])
def test_comparison_catches_a_change_in_any_field(which):
    expected = smoke.make_messages(seed=3)[which]
    leaves = list(_leaf_paths(expected))
    assert len(leaves) > (100 if which == 0 else 4)
    for path, _, _ in leaves:
        changed = copy.deepcopy(expected)
        parent, field = next((parent, field) for q, parent, field in _leaf_paths(changed) if q == path)
        setattr(parent, field, _perturbed(getattr(parent, field)))
        differences = message_differences(expected, changed)
        assert [line.split(':')[0] for line in differences] == [path], f'a change of {path} went unnoticed'
