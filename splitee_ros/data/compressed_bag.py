# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""rosbag2 files of `sensor_msgs/CompressedImage` messages, as what crosses the link is recorded.

Bottlenecks, JPEG requests and result envelopes are all CompressedImage messages; a recording of the
bottleneck topic replays into the edge (`splitee play`) for offline regression.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader, Writer
from rosbags.typesys.stores.ros2_humble import sensor_msgs__msg__CompressedImage as CompressedImageMessage

from splitee_ros.data.bag import STORAGE, TYPESTORE, header_of
from splitee_ros.errors import UnknownNameError

MESSAGE_TYPE = 'sensor_msgs/msg/CompressedImage'


@dataclass(frozen=True)
class CompressedMessage:
    """One message: its header (stamp in nanoseconds, frame id), its `format` field and its bytes."""

    stamp_ns: int
    frame_id: str
    format: str
    data: bytes


def write_compressed_bag(
    path: str | Path, topic: str, messages: Iterable[CompressedMessage], storage: str = 'mcap'
) -> int:
    """Write `messages` on `topic`, each at its stamp; return how many."""
    if storage not in STORAGE:
        raise ValueError(f'unknown bag storage {storage!r}; use one of {", ".join(STORAGE)}')
    count = 0
    with Writer(Path(path), version=8, storage_plugin=STORAGE[storage]) as writer:
        connection = writer.add_connection(topic, MESSAGE_TYPE, typestore=TYPESTORE)
        for message in messages:
            record = TYPESTORE.types[MESSAGE_TYPE](
                header=header_of(message.stamp_ns, message.frame_id), format=message.format,
                data=np.frombuffer(message.data, np.uint8),
            )  # fmt: skip
            writer.write(connection, message.stamp_ns, TYPESTORE.serialize_cdr(record, MESSAGE_TYPE))
            count += 1
    return count


def read_compressed_messages(path: str | Path, topic: str) -> Iterator[CompressedMessage]:
    """Yield the CompressedImage messages of `topic`, in time order."""
    with Reader(Path(path)) as reader:
        connections = [c for c in reader.connections if c.topic == topic and c.msgtype == MESSAGE_TYPE]
        if not connections:
            raise UnknownNameError(f'{path} has no CompressedImage topic {topic}')
        for connection, _, raw in reader.messages(connections=connections):
            message = TYPESTORE.deserialize_cdr(raw, connection.msgtype)
            if not isinstance(message, CompressedImageMessage):
                raise ValueError(f'{topic} holds {type(message).__name__}, not a CompressedImage')
            stamp = message.header.stamp
            yield CompressedMessage(stamp.sec * 10**9 + stamp.nanosec, message.header.frame_id, message.format,
                                    bytes(message.data))  # fmt: skip
