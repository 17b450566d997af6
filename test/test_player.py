# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""`splitee play`: a bag's messages published over DDS in order, with /clock, bytes unchanged."""

import threading
import time

import pytest
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image

from splitee_ros.data.bag import CAMERA_INFO_TOPIC, IMAGE_TOPIC, read_camera_frames
from splitee_ros.data.synth_dataset import SynthConfig, make_synthetic_dataset
from splitee_ros.tools.harness import Collector
from splitee_ros.tools.player import PlayOptions, play


@pytest.mark.ros
@pytest.mark.timeout(180)
def test_player_publishes_every_message_in_order_with_clock(tmp_path, ros_env):
    make_synthetic_dataset(tmp_path, SynthConfig(seed=5, drives=1, frames=6, fps=10, image_format='jpg'))
    bag = tmp_path / 'camera.bag'
    frames = list(read_camera_frames(bag))
    collector = Collector(int(ros_env['ROS_DOMAIN_ID']))
    received: dict[str, list] = {'image': [], 'info': [], 'clock': []}
    reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    node = collector.node
    node.create_subscription(Image, IMAGE_TOPIC, received['image'].append, reliable)
    node.create_subscription(CameraInfo, CAMERA_INFO_TOPIC, received['info'].append, reliable)
    node.create_subscription(Clock, '/clock', received['clock'].append, 50)
    try:
        player_node = rclpy.create_node('player', context=collector.context)
        options = PlayOptions(rate=4.0, clock=True, wait_for_subscribers_s=60.0)
        published = []
        worker = threading.Thread(target=lambda: published.append(play(bag, options, node=player_node)))
        worker.start()
        worker.join(60)
        deadline = time.monotonic() + 10
        while min(len(received['image']), len(received['info'])) < len(frames) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert published == [2 * len(frames)]
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in received['image']]
        assert stamps == [f.stamp_ns for f in frames]
        assert bytes(received['image'][2].data) == frames[2].image.tobytes()
        assert len(received['info']) == len(frames) and len(received['clock']) >= len(frames)
        with pytest.raises(KeyError, match='no topics'):
            play(bag, PlayOptions(topics=('/lidar',)), node=player_node)
        with pytest.raises(ValueError, match='rate must be positive'):
            play(bag, PlayOptions(rate=0.0), node=player_node)
        player_node.destroy_node()
    finally:
        collector.close()
