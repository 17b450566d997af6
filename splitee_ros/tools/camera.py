# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""A camera and an observer, run next to the head (e.g. inside the vehicle's network namespace).

    python -m splitee_ros.tools.camera --domain D --fps 5 --duration 40 --ready R.json --out O.json
        [--images COCO.json] [--raw]

Publishes camera frames at `--fps` (JPEG as `image/compressed`, or with `--raw` bgr8 `image`) once the head
listens: synthetic sample frames for `--duration` seconds, or the images of a COCO data set in order. Records
every frame's publish time, every answer (its time and detections) and the head's per-frame telemetry, and
writes them as JSON (times on the machine's monotonic clock, which every namespace shares). `--ready` gets
the start time when publishing begins.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from splitee_ros.pipeline.frames import FrameKey
from splitee_ros.ros.convert import detection_rows
from splitee_ros.ros.telemetry import frame_key, key_text, status_values
from splitee_ros.tools.harness import Collector

SETTLE_S = 3.0  # after the last frame, at least: a duplicate answer would show within it
ANSWER_WAIT_S = 30.0  # after the last frame, at most: every frame answered by its deadline long before


def _frames(images: Path | None, count: int) -> tuple[list[np.ndarray], list[int | None]]:
    """The images to publish (BGR) and their COCO image ids (None for sample frames)."""
    if images is None:
        from splitee_ros.data.synth import sample_frames

        frames = sample_frames(12, seed=6007)
        return [frames[i % len(frames)] for i in range(count)], [None] * count
    from splitee_ros.data.coco import CocoDataset
    from splitee_ros.model.config import DRIVING_CLASSES

    dataset = CocoDataset(images, DRIVING_CLASSES)
    count = min(count or len(dataset), len(dataset))
    return [dataset.image(i) for i in range(count)], [image['id'] for image in dataset.images[:count]]


def _write_json(path: Path, value: object) -> None:
    """Write `path` at once (a temporary file renamed): a reader never sees it half written."""
    temporary = path.with_suffix('.tmp')
    temporary.write_text(json.dumps(value))
    temporary.replace(path)


def main() -> None:
    """Publish, observe, write the record."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--domain', type=int, required=True)
    parser.add_argument('--fps', type=float, default=10.0)
    parser.add_argument('--duration', type=float, help='seconds of frames (with --images: at most; default all)')
    parser.add_argument('--images', type=Path, help='a COCO annotation file: publish its images in order')
    parser.add_argument('--raw', action='store_true', help='sensor_msgs/Image bgr8 on `image` instead of JPEG')
    parser.add_argument('--ready', type=Path, required=True)
    parser.add_argument('--out', type=Path, required=True)
    args = parser.parse_args()

    count = int((args.duration or 0) * args.fps)
    frames, image_ids = _frames(args.images, count)
    topic = 'image' if args.raw else 'image/compressed'
    collector = Collector(args.domain, localhost_only=False)
    qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)  # no frame is lost before the head
    publisher = collector.node.create_publisher(Image if args.raw else CompressedImage, topic, qos)
    ready = collector.wait_for_subscribers({topic: 1, 'splitee/bottleneck': 1}, 180)
    if not ready:
        raise SystemExit('the head and the tail did not come up within 180 s')
    time.sleep(2.0)  # let the monitor's first probes go round
    start = time.monotonic()
    _write_json(args.ready, {'start': start})  # whole or not at all: the harness polls for this file
    published = []
    keys: list[FrameKey] = []
    for index, frame in enumerate(frames):
        time.sleep(max(0.0, start + index / args.fps - time.monotonic()))
        header = Header(stamp=collector.node.get_clock().now().to_msg(), frame_id='camera')
        if args.raw:
            height, width = frame.shape[:2]
            msg = Image(header=header, height=height, width=width, encoding='bgr8', step=3 * width,
                        data=frame.tobytes())  # fmt: skip
        else:
            jpeg = cv2.imencode('.jpg', frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
            msg = CompressedImage(header=header, format='jpeg', data=jpeg)
        publisher.publish(msg)
        keys.append(frame_key(header))
        published.append((key_text(keys[-1]), time.monotonic(), image_ids[index]))
    finished = time.monotonic()
    collector.wait_for_answers(keys, ANSWER_WAIT_S)  # a stalled machine can hold the last answers past a pause
    time.sleep(max(0.0, finished + SETTLE_S - time.monotonic()))
    with collector.lock:
        record = {
            'start': start,
            'published': published,
            'results': {key_text(key): count for key, count in collector.result_counts.items()},
            'answered_at': {key_text(key): when for key, (when, _) in collector.results.items()},
            'detections': {key_text(key): detection_rows(msg) for key, (_, msg) in collector.results.items()},
            'telemetry': [
                (when, msg.message, msg.hardware_id, status_values(msg))
                for when, msg in collector.telemetry['head_node']
            ],
        }
    _write_json(args.out, record)
    collector.close()
    # Leave without the interpreter's teardown: destroying the middleware's threads there sometimes ends in
    # "terminate called without an active exception" here, after everything above has been done.
    os._exit(0)


if __name__ == '__main__':
    main()
