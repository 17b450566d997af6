# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The camera and the observer of the two-host test, run inside the vehicle's namespace.

Publishes synthetic camera frames (JPEG, as `image/compressed`) at `--fps` for `--duration` seconds once the
head listens, records every result and the head's per-frame telemetry, and writes them as JSON (times on the
machine's monotonic clock, which both namespaces share). `--ready` gets the start time when publishing begins.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header

from splitee_ros.data.synth import sample_frames
from splitee_ros.ros.harness import Collector
from splitee_ros.ros.telemetry import frame_key, key_text, status_values


def main() -> None:
    """Publish, observe, write the record."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--domain', type=int, required=True)
    parser.add_argument('--fps', type=float, default=10.0)
    parser.add_argument('--duration', type=float, required=True)
    parser.add_argument('--ready', type=Path, required=True)
    parser.add_argument('--out', type=Path, required=True)
    args = parser.parse_args()

    images = [cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
              for image in sample_frames(12, seed=6007)]  # fmt: skip
    collector = Collector(args.domain, localhost_only=False)
    qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)  # no frame is lost before the head
    publisher = collector.node.create_publisher(CompressedImage, 'image/compressed', qos)
    ready = collector.wait_for_subscribers({'image/compressed': 1, 'splitee/bottleneck': 1}, 120)
    if not ready:
        raise SystemExit('the head and the tail did not come up within 120 s')
    time.sleep(2.0)  # let the monitor's first probes go round
    start = time.monotonic()
    args.ready.write_text(json.dumps({'start': start}))
    published = []
    for index in range(int(args.duration * args.fps)):
        time.sleep(max(0.0, start + index / args.fps - time.monotonic()))
        header = Header(stamp=collector.node.get_clock().now().to_msg(), frame_id='camera')
        publisher.publish(CompressedImage(header=header, format='jpeg', data=images[index % len(images)]))
        published.append((key_text(frame_key(header)), time.monotonic()))
    time.sleep(3.0)  # the last frames' answers (deadline or edge)
    with collector.lock:
        record = {
            'start': start,
            'published': published,
            'results': {key_text(key): count for key, count in collector.result_counts.items()},
            'answered_at': {key_text(key): when for key, (when, _) in collector.results.items()},
            'telemetry': [
                (when, msg.message, msg.hardware_id, status_values(msg))
                for when, msg in collector.telemetry['head_node']
            ],
        }
    temporary = args.out.with_suffix('.tmp')
    temporary.write_text(json.dumps(record))
    temporary.replace(args.out)
    collector.close()
    # Leave without the interpreter's teardown: destroying the middleware's threads there sometimes ends in
    # "terminate called without an active exception" here, after everything above has been done.
    os._exit(0)


if __name__ == '__main__':
    main()
