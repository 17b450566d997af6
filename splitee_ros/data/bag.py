# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""rosbag2 files of camera frames, written and read with the `rosbags` library (no ROS install needed)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.stores.ros2_humble import sensor_msgs__msg__Image as ImageMessage

from splitee_ros.errors import UnknownNameError

IMAGE_TOPIC = '/camera/image_raw'
CAMERA_INFO_TOPIC = '/camera/camera_info'
TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
STORAGE = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}


@dataclass(frozen=True)
class CameraFrame:
    """One BGR frame with its stamp (nanoseconds) and frame id."""

    stamp_ns: int
    image: np.ndarray
    frame_id: str = 'camera'


def header_of(stamp_ns: int, frame_id: str):
    """A `std_msgs/Header` of the bag's type store."""
    types = TYPESTORE.types
    stamp = types['builtin_interfaces/msg/Time'](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
    return types['std_msgs/msg/Header'](stamp=stamp, frame_id=frame_id)


def _camera_info(stamp_ns: int, frame_id: str, width: int, height: int, intrinsics: np.ndarray):
    types = TYPESTORE.types
    projection = np.zeros((3, 4), np.float64)
    projection[:, :3] = intrinsics
    return types['sensor_msgs/msg/CameraInfo'](
        header=header_of(stamp_ns, frame_id), height=height, width=width, distortion_model='plumb_bob',
        d=np.zeros(5, np.float64), k=intrinsics.reshape(-1).astype(np.float64), r=np.eye(3).reshape(-1),
        p=projection.reshape(-1), binning_x=0, binning_y=0,
        roi=types['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )  # fmt: skip


def write_camera_bag(
    path: str | Path, frames: Iterable[CameraFrame], intrinsics: np.ndarray, storage: str = 'mcap'
) -> int:
    """Write `sensor_msgs/Image` (bgr8) and `sensor_msgs/CameraInfo` per frame; return the frame count."""
    if storage not in STORAGE:
        raise ValueError(f'unknown bag storage {storage!r}; use one of {", ".join(STORAGE)}')
    types = TYPESTORE.types
    image_type, info_type = 'sensor_msgs/msg/Image', 'sensor_msgs/msg/CameraInfo'
    count = 0
    with Writer(Path(path), version=8, storage_plugin=STORAGE[storage]) as writer:
        image_connection = writer.add_connection(IMAGE_TOPIC, image_type, typestore=TYPESTORE)
        info_connection = writer.add_connection(CAMERA_INFO_TOPIC, info_type, typestore=TYPESTORE)
        for frame in frames:
            height, width = frame.image.shape[:2]
            image = types[image_type](
                header=header_of(frame.stamp_ns, frame.frame_id), height=height, width=width, encoding='bgr8',
                is_bigendian=0, step=width * 3, data=np.ascontiguousarray(frame.image).reshape(-1),
            )  # fmt: skip
            info = _camera_info(frame.stamp_ns, frame.frame_id, width, height, intrinsics)
            writer.write(image_connection, frame.stamp_ns, TYPESTORE.serialize_cdr(image, image_type))
            writer.write(info_connection, frame.stamp_ns, TYPESTORE.serialize_cdr(info, info_type))
            count += 1
    return count


def read_camera_frames(path: str | Path, topic: str = IMAGE_TOPIC) -> Iterator[CameraFrame]:
    """Yield the bgr8/rgb8/mono8 frames of `topic`, in time order."""
    with Reader(Path(path)) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            raise UnknownNameError(
                f'{path} has no topic {topic}; it has {sorted({c.topic for c in reader.connections})}'
            )
        for connection, _, raw in reader.messages(connections=connections):
            message = TYPESTORE.deserialize_cdr(raw, connection.msgtype)
            if not isinstance(message, ImageMessage):
                raise ValueError(f'{path}: topic {topic} carries {connection.msgtype}, not sensor_msgs/msg/Image')
            channels = {'bgr8': 3, 'rgb8': 3, 'mono8': 1}[message.encoding]
            rows = np.asarray(message.data, np.uint8).reshape(message.height, message.step)
            image = rows[:, : message.width * channels].reshape(message.height, message.width, channels)
            if message.encoding == 'rgb8':
                image = image[..., ::-1]
            stamp = message.header.stamp
            yield CameraFrame(stamp.sec * 10**9 + stamp.nanosec, np.ascontiguousarray(image), message.header.frame_id)
