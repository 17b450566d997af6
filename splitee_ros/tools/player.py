# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""`splitee play BAG`: publish a rosbag2's messages with their recorded timing (for hosts without rosbag2).

Messages are published as the bag stores them (serialized CDR), so any message type whose Python package is
importable here plays. Options: a rate factor, looping, a start delay, waiting for subscribers (a reliable
message reaches only the subscribers already matched), a topic subset, and /clock.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path

from rosbags.rosbag2 import Reader

from splitee_ros.errors import UnknownNameError


@dataclass(frozen=True)
class PlayOptions:
    """How to play a bag."""

    rate: float = 1.0
    loop: bool = False
    clock: bool = False
    topics: tuple[str, ...] = ()  # empty: every topic
    remap: tuple[tuple[str, str], ...] = ()  # (bag topic, published topic), as `ros2 bag play --remap`
    start_delay_s: float = 0.0  # wait before the first message
    wait_for_subscribers_s: float = 0.0  # wait up to this long until every played topic has a subscriber
    reliable: bool = True


def message_class(msgtype: str):
    """The rclpy message class of a type name such as `sensor_msgs/msg/Image`."""
    package, kind, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{package}.{kind}'), name)


def play(bag: str | Path, options: PlayOptions = PlayOptions(), node=None) -> int:
    """Publish the bag's messages (on `node`, or on a node of its own); return the number published."""
    import rclpy
    from rclpy.duration import Duration
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock

    if options.rate <= 0:
        raise ValueError(f'rate must be positive, not {options.rate}')
    own = node is None
    if own:
        rclpy.init()
        node = rclpy.create_node('splitee_player')
    reliability = ReliabilityPolicy.RELIABLE if options.reliable else ReliabilityPolicy.BEST_EFFORT
    published = 0
    publishers: dict = {}
    clock_pub = None
    try:
        with Reader(Path(bag)) as reader:
            connections = [c for c in reader.connections if not options.topics or c.topic in options.topics]
            missing = set(options.topics) - {c.topic for c in connections}
            if missing:
                raise UnknownNameError(
                    f'{bag} has no topics {sorted(missing)}; it has {sorted({c.topic for c in reader.connections})}'
                )
            renamed = dict(options.remap)
            publishers = {
                c.topic: node.create_publisher(
                    message_class(c.msgtype),
                    renamed.get(c.topic, c.topic),
                    QoSProfile(depth=10, reliability=reliability),
                )
                for c in connections
            }
            clock_pub = node.create_publisher(Clock, '/clock', 10) if options.clock else None
            waiting_until = time.monotonic() + options.wait_for_subscribers_s
            while time.monotonic() < waiting_until and any(
                p.get_subscription_count() == 0 for p in publishers.values()
            ):
                time.sleep(0.05)
            time.sleep(options.start_delay_s)
            while True:
                start_wall, first_stamp = time.monotonic(), None
                for connection, stamp, raw in reader.messages(connections=connections):
                    first_stamp = stamp if first_stamp is None else first_stamp
                    due = start_wall + (stamp - first_stamp) / 1e9 / options.rate
                    time.sleep(max(0.0, due - time.monotonic()))
                    if clock_pub is not None:
                        clock = Clock()
                        clock.clock.sec, clock.clock.nanosec = divmod(stamp, 10**9)
                        clock_pub.publish(clock)
                    publishers[connection.topic].publish(bytes(raw))
                    published += 1
                if not options.loop:
                    return published
    finally:
        for publisher in [*publishers.values(), clock_pub]:
            if publisher is not None:
                if options.reliable:  # the last messages must reach the subscribers before the publisher goes
                    publisher.wait_for_all_acked(Duration(seconds=2.0))
                node.destroy_publisher(publisher)
        if own:
            node.destroy_node()
            rclpy.shutdown()
