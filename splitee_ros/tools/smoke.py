# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""End-to-end DDS smoke check.

Two separate processes exchange a `vision_msgs/Detection2DArray` and a 200 KB
`sensor_msgs/CompressedImage` over Fast DDS; the received messages are compared with the sent ones
field by field, header stamps included.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DETECTIONS_TOPIC = 'splitee_smoke/detections'
IMAGE_TOPIC = 'splitee_smoke/image'
IMAGE_BYTES = 200_000


def make_messages(seed: int) -> tuple:
    """Build the Detection2DArray and CompressedImage that the talker sends, deterministically from `seed`."""
    from geometry_msgs.msg import PoseWithCovariance
    from sensor_msgs.msg import CompressedImage
    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    rng = np.random.default_rng(seed)
    header = Header(frame_id='camera_front')
    header.stamp.sec = int(rng.integers(1, 2**31 - 1))
    header.stamp.nanosec = int(rng.integers(0, 10**9))

    detections = Detection2DArray(header=header)
    for index in range(5):
        detection = Detection2D(header=copy.deepcopy(header), id=f'track-{index}')
        detection.bbox.center.position.x = float(rng.uniform(0, 640))
        detection.bbox.center.position.y = float(rng.uniform(0, 480))
        detection.bbox.center.theta = float(rng.uniform(-np.pi, np.pi))
        detection.bbox.size_x = float(rng.uniform(1, 200))
        detection.bbox.size_y = float(rng.uniform(1, 200))
        for class_id in ('car', 'pedestrian'):
            hypothesis = ObjectHypothesisWithPose(pose=PoseWithCovariance())
            hypothesis.hypothesis.class_id = class_id
            hypothesis.hypothesis.score = float(rng.uniform(0, 1))
            hypothesis.pose.pose.position.x = float(rng.normal())
            hypothesis.pose.pose.orientation.w = float(rng.normal())
            hypothesis.pose.covariance = rng.normal(size=36)
            detection.results.append(hypothesis)
        detections.detections.append(detection)

    image = CompressedImage(header=copy.deepcopy(header), format='jpeg')
    image.data = rng.integers(0, 256, size=IMAGE_BYTES, dtype=np.uint8).tobytes()
    return detections, image


def _reliable_latched_qos():
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def talk(seed: int, timeout_s: float) -> int:
    """Publish the smoke messages and keep them available (transient local) until killed or timed out."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from sensor_msgs.msg import CompressedImage
    from vision_msgs.msg import Detection2DArray

    detections, image = make_messages(seed)
    rclpy.init()
    node = rclpy.create_node('splitee_smoke_talker')
    try:
        qos = _reliable_latched_qos()
        node.create_publisher(Detection2DArray, DETECTIONS_TOPIC, qos).publish(detections)
        node.create_publisher(CompressedImage, IMAGE_TOPIC, qos).publish(image)
        deadline = time.monotonic() + timeout_s
        while rclpy.ok() and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # terminated by the parent once the listener has what it needs
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def listen(out: Path, timeout_s: float) -> int:
    """Receive one message on each smoke topic and write them, serialised, to `out` as JSON."""
    import rclpy
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import CompressedImage
    from vision_msgs.msg import Detection2DArray

    received: dict[str, str] = {}
    rclpy.init()
    node = rclpy.create_node('splitee_smoke_listener')

    def keep(name: str):
        def callback(message) -> None:
            received[name] = base64.b64encode(serialize_message(message)).decode('ascii')

        return callback

    try:
        qos = _reliable_latched_qos()
        node.create_subscription(Detection2DArray, DETECTIONS_TOPIC, keep('detections'), qos)
        node.create_subscription(CompressedImage, IMAGE_TOPIC, keep('image'), qos)
        deadline = time.monotonic() + timeout_s
        while len(received) < 2 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    out.write_text(json.dumps(received))
    return 0 if len(received) == 2 else 1


@dataclass(frozen=True)
class SmokeResult:
    """What the listener process received, compared with what the talker sent."""

    received: tuple
    expected: tuple
    differences: list[str]
    seconds: float

    @property
    def ok(self) -> bool:
        """True when both messages arrived and every field matched."""
        return len(self.received) == 2 and not self.differences


def run(seed: int = 7, timeout_s: float = 60.0, env: dict[str, str] | None = None) -> SmokeResult:
    """Run listener and talker as two processes over DDS and compare what arrived with what was sent."""
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CompressedImage
    from vision_msgs.msg import Detection2DArray

    from splitee_ros.tools.message_diff import message_differences

    process_env = dict(os.environ if env is None else env)
    process_env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    command = [sys.executable, '-m', 'splitee_ros.tools.smoke']
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / 'received.json'
        listener = subprocess.Popen(
            [*command, 'listen', '--out', str(out), '--timeout', str(timeout_s)], env=process_env
        )
        talker = subprocess.Popen([*command, 'talk', '--seed', str(seed), '--timeout', str(timeout_s)], env=process_env)
        try:
            listener.wait(timeout=timeout_s + 30)
        finally:
            talker.terminate()
            talker.wait(timeout=30)
        payload = json.loads(out.read_text()) if out.exists() else {}
    seconds = time.monotonic() - start

    expected = make_messages(seed)
    received = tuple(
        deserialize_message(base64.b64decode(payload[name]), message_type)
        for name, message_type in (('detections', Detection2DArray), ('image', CompressedImage))
        if name in payload
    )
    differences = [f'{name} not received' for name in ('detections', 'image') if name not in payload]
    if len(received) == 2:
        for name, sent, got in zip(('detections', 'image'), expected, received, strict=True):
            differences += [f'{name}.{line}' for line in message_differences(sent, got)]
    return SmokeResult(received=received, expected=expected, differences=differences, seconds=seconds)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the talker and listener processes."""
    parser = argparse.ArgumentParser(prog='python -m splitee_ros.tools.smoke')
    commands = parser.add_subparsers(dest='role', required=True)
    talker = commands.add_parser('talk')
    talker.add_argument('--seed', type=int, required=True)
    talker.add_argument('--timeout', type=float, default=60.0)
    listener = commands.add_parser('listen')
    listener.add_argument('--out', type=Path, required=True)
    listener.add_argument('--timeout', type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.role == 'talk':
        return talk(args.seed, args.timeout)
    return listen(args.out, args.timeout)


if __name__ == '__main__':
    sys.exit(main())
