# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The Foxglove live view: a WebSocket client (Foxglove's protocol) receives every channel."""

import json
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray, ObjectHypothesisWithPose
from websockets.sync.client import connect

from splitee_ros.ros import qos
from splitee_ros.ros.telemetry import frame_key, frame_status, health
from splitee_ros.tools.harness import Collector
from splitee_ros.tools.view import CAMERA, DETECTIONS, FRAMES, MONITOR, FoxgloveView, layout

CHANNELS = (CAMERA, DETECTIONS, FRAMES, MONITOR)
JPEG = bytes.fromhex('ffd8ffe000104a46494600') + b'frame'


class FoxgloveClient:
    """Subscribes to every advertised channel and keeps the payloads per topic (opcode 1: message data)."""

    def __init__(self, port: int) -> None:
        self.socket = connect(f'ws://127.0.0.1:{port}', subprotocols=['foxglove.sdk.v1'], open_timeout=30)
        self.topics: dict[int, str] = {}
        self.payloads: dict[str, list[bytes]] = {}
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self) -> None:
        try:
            for message in self.socket:
                if isinstance(message, str):
                    data = json.loads(message)
                    if data['op'] == 'advertise':
                        subscriptions = [{'id': c['id'], 'channelId': c['id']} for c in data['channels']]
                        with self.lock:
                            self.topics |= {c['id']: c['topic'] for c in data['channels']}
                        self.socket.send(json.dumps({'op': 'subscribe', 'subscriptions': subscriptions}))
                elif message[0] == 1:
                    subscription = struct.unpack_from('<I', message, 1)[0]
                    with self.lock:
                        self.payloads.setdefault(self.topics[subscription], []).append(bytes(message[13:]))
        except Exception:  # the connection closed
            return

    def wait_for(self, topics, timeout_s: float, feed=None) -> bool:
        """Wait until each of `topics` has a message, calling `feed` meanwhile once subscribed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if set(topics) <= set(self.payloads):
                    return True
                subscribed = set(CHANNELS) <= set(self.topics.values())
            if feed is not None and subscribed:
                feed()
            time.sleep(0.2)
        return False

    def close(self) -> None:
        """Disconnect."""
        self.socket.close()


def test_every_channel_reaches_a_websocket_client():
    view = FoxgloveView(port=0)
    client = FoxgloveClient(view.port)
    stamp = 1_700_000_000_250_000_000

    def feed() -> None:
        view.log_camera(stamp, 'camera', JPEG)
        view.log_detections(stamp, [[10.0, 20.0, 110.0, 220.0, 0.87, 'car']])
        view.log_frame(stamp, 'edge', {'latency_ms': '41.5', 'bytes': '4321', 'codec': 'learned'})
        view.log_monitor(stamp, 'splitee: link', 'rtt 3.1 ms', {'rtt_ms': '3.1', 'goodput_mbps': '19.5'})

    try:
        assert client.wait_for(CHANNELS, 30, feed), client.payloads.keys()
        frame = json.loads(client.payloads[FRAMES][0])
        assert frame == {'outcome': 'edge', 'latency_ms': 41.5, 'bytes': 4321.0, 'codec': 'learned'}
        assert json.loads(client.payloads[MONITOR][0])['goodput_mbps'] == 19.5
        assert JPEG in client.payloads[CAMERA][0]
        assert b'car 0.87' in client.payloads[DETECTIONS][0]
    finally:
        client.close()
        view.stop()


@pytest.mark.ros
@pytest.mark.timeout(240)
def test_splitee_view_forwards_what_the_vehicle_publishes(ros_env):
    """`splitee view` over DDS: a camera frame, detections, head telemetry and monitor status, each forwarded."""
    view = subprocess.Popen([sys.executable, '-m', 'splitee_ros.cli', 'view', '--port', '0'], env=ros_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    collector = Collector(int(ros_env['ROS_DOMAIN_ID']))
    client = None
    try:
        port = None
        for line in view.stdout:
            found = re.search(r'ws://127\.0\.0\.1:(\d+)', line)
            if found:
                port = int(found.group(1))
                break
        assert port, 'splitee view did not start its server'
        client = FoxgloveClient(port)
        node = collector.node
        image_pub = node.create_publisher(Image, 'camera/image_raw', qos.IMAGE)
        detections_pub = node.create_publisher(Detection2DArray, 'perception/detections', qos.DETECTIONS)
        telemetry_pub = node.create_publisher(DiagnosticStatus, 'head_node/telemetry', qos.TELEMETRY)
        diagnostics_pub = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        header = Header(frame_id='camera')
        header.stamp.sec, header.stamp.nanosec = 1_700_000_000, 250_000_000
        box = BoundingBox2D(size_x=100.0, size_y=200.0)
        box.center.position.x, box.center.position.y = 60.0, 120.0
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id, hypothesis.hypothesis.score = 'car', 0.87
        detections = Detection2DArray(header=header, detections=[Detection2D(bbox=box, results=[hypothesis])])
        image = Image(header=header, height=8, width=8, encoding='bgr8', step=24, data=bytes(192))

        class Monitor:  # what health() needs of a node: a clock and a name
            get_clock = node.get_clock

            @staticmethod
            def get_fully_qualified_name() -> str:
                return '/monitor_node'

        def feed() -> None:
            image_pub.publish(image)
            detections_pub.publish(detections)
            telemetry_pub.publish(frame_status('head_node', frame_key(header), 'edge', {'latency_ms': 41.5}))
            diagnostics_pub.publish(health(Monitor, 'splitee: link', DiagnosticStatus.OK, 'rtt 3 ms', {'rtt_ms': 3.0}))

        assert client.wait_for(CHANNELS, 180, feed), (client.payloads.keys(), client.topics)
        assert json.loads(client.payloads[FRAMES][0]) == {'outcome': 'edge', 'latency_ms': 41.5}
        assert json.loads(client.payloads[MONITOR][0])['rtt_ms'] == 3.0
        assert b'\xff\xd8' in client.payloads[CAMERA][0]  # the raw frame, as JPEG
        assert b'car 0.87' in client.payloads[DETECTIONS][0]
    finally:
        if client is not None:
            client.close()
        collector.close()
        view.send_signal(signal.SIGINT)  # as Ctrl-C; a machine that stalls may take long to leave DDS: then kill
        try:
            view.wait(30)
        except subprocess.TimeoutExpired:
            view.kill()
            view.wait()


def test_the_shipped_layout_is_the_channels_layout():
    """config/foxglove_layout.json is what `splitee view --layout` writes: it shows the channels the view serves."""
    shipped = json.loads((Path(__file__).resolve().parents[1] / 'config' / 'foxglove_layout.json').read_text())
    assert shipped == json.loads(layout())
    text = json.dumps(shipped)
    assert all(f'"{channel}' in text for channel in CHANNELS)
