# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The managed nodes' transitions over DDS, through their lifecycle services (as `ros2 lifecycle set` does)."""

import subprocess
import sys

import pytest
from conftest import DEMO_PACKAGE
from diagnostic_msgs.msg import DiagnosticStatus

from splitee_ros.tools.harness import Collector, NodeProcess, node_env, poll_until

pytestmark = [pytest.mark.ros, pytest.mark.timeout(600)]


def statuses(collector: Collector, node: str) -> list:
    with collector.lock:
        return [s for array in collector.diagnostics for s in array.status if s.hardware_id.endswith(node)]


def test_a_failing_configure_is_reported_and_a_good_one_serves_until_deactivated(ros_env, tmp_path, runtime_cache):
    domain = int(ros_env['ROS_DOMAIN_ID'])
    env = node_env(domain, runtime_cache)
    collector = Collector(domain)
    head = NodeProcess('head_node', {'model': str(tmp_path / 'no_such_package')}, env, tmp_path, autostart=False)
    tail = NodeProcess('tail_node', {'model': DEMO_PACKAGE}, env, tmp_path, autostart=False)
    try:
        # A configure that fails (no such model package): FAILURE, the node stays unconfigured and alive, and
        # says why on /diagnostics.
        assert collector.lifecycle('head_node') == 'unconfigured'
        assert collector.lifecycle('head_node', 'configure') == 'unconfigured'
        assert head.alive(), head.log_tail()

        def failure_reported() -> bool:
            return any('configure failed' in s.message and 'no_such_package' in s.message
                       and s.level == DiagnosticStatus.ERROR for s in statuses(collector, 'head_node'))  # fmt: skip

        reported = poll_until(failure_reported, 30)
        assert reported, head.log_tail()

        # A good configure loads the model but serves nothing until activate; deactivate stops serving.
        assert collector.lifecycle('tail_node') == 'unconfigured'
        assert collector.node.count_subscribers('splitee/bottleneck') == 0
        assert collector.lifecycle('tail_node', 'configure') == 'inactive', tail.log_tail()
        assert collector.node.count_subscribers('splitee/bottleneck') == 0
        assert collector.lifecycle('tail_node', 'activate') == 'active'
        assert poll_until(lambda: collector.node.count_subscribers('splitee/bottleneck') == 1, 30)
        assert collector.lifecycle('tail_node', 'deactivate') == 'inactive'
        assert poll_until(lambda: collector.node.count_subscribers('splitee/bottleneck') == 0, 30)
        assert collector.lifecycle('tail_node', 'activate') == 'active'  # again, after a deactivate
        assert poll_until(lambda: collector.node.count_subscribers('splitee/bottleneck') == 1, 30)
        assert collector.lifecycle('tail_node', 'deactivate') == 'inactive'
        assert collector.lifecycle('tail_node', 'cleanup') == 'unconfigured'
        assert collector.lifecycle('tail_node', 'shutdown') == 'finalized'
        assert tail.alive(), tail.log_tail()
        active = [s for s in statuses(collector, 'tail_node') if s.level == DiagnosticStatus.ERROR]
        assert active == [], 'a good configure reports no error'
    finally:
        for node in (head, tail):
            node.stop()
        collector.close()


# A tail_node as `spin` runs it, a batch held in its worker and four requests queued, then a real SIGINT: rclpy's
# handler shuts the context down before the node is destroyed, so nothing queued can be answered any more.
CTRL_C = """
import math, os, signal, sys, threading, time
import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.parameter import Parameter
from std_msgs.msg import Header
from splitee_ros.codec.frame import encode_frame
from splitee_ros.model.package import ModelPackage
from splitee_ros.nodes.tail_node import Job, TailNode
from splitee_ros.pipeline.scheduler import Request
from splitee_ros.ros.executor import ResilientExecutor
from splitee_ros.ros.lifecycle import autostart

package_folder = sys.argv[1]
rclpy.init()
node = TailNode(parameter_overrides=[Parameter('model', value=package_folder), Parameter('threads', value=1),
                                     Parameter('max_batch', value=4)])
assert autostart(node)
running, release = threading.Event(), threading.Event()
run = node.pipeline.run
def held_run(works):
    running.set()
    release.wait(10.0)
    return run(works)
node.pipeline.run = held_run
package = ModelPackage.load(package_folder)
index = package.split_names.index('stage2')
codec = {c.name: c for c in package.codecs().values()}['int8']
payload = encode_frame(np.zeros(package.wire_spec().split_shapes[index], np.float32), codec, package.model_id, index, 1)
work = node.pipeline.decode('splitee/1;h=480;w=640;budget_ms=60000;link_ms=0', payload)
for _ in range(8):
    job = Job(node.vehicles['/'], Header(), work, time.monotonic())
    node.scheduler.submit(Request('/', work.batch_key, math.inf, job))
assert running.wait(10.0) and len(node.scheduler) == 4, len(node.scheduler)
print('queued at interrupt:', len(node.scheduler), flush=True)
executor = ResilientExecutor(num_threads=2)
executor.add_node(node)
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    executor.spin()
except (KeyboardInterrupt, ExternalShutdownException):
    pass
finally:
    release.set()
    executor.shutdown()
    assert not rclpy.ok()  # the handler shut the context down, as on Ctrl-C
    node.destroy_node()
print('queued at exit:', len(node.scheduler))
"""


# A head_node as `spin` runs it, in split mode with a frame waiting for an edge that never answers (none runs,
# and the deadline is far off), then a real SIGINT: its fallback cannot be published on the dead context.
HEAD_CTRL_C = """
import os, signal, sys, threading
import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from splitee_ros.nodes.head_node import HeadNode
from splitee_ros.ros import qos
from splitee_ros.ros.executor import ResilientExecutor
from splitee_ros.ros.lifecycle import autostart

rclpy.init()
node = HeadNode(parameter_overrides=[Parameter('model', value=sys.argv[1]), Parameter('threads', value=1),
                                     Parameter('mode', value='split'), Parameter('exits_enabled', value=False),
                                     Parameter('exit_check_share', value=0.0), Parameter('deadline_ms', value=10000.0)])
assert autostart(node)
camera = rclpy.create_node('camera')
image = Image(height=480, width=640, encoding='rgb8', step=640 * 3,
              data=np.random.default_rng(0).integers(0, 255, 480 * 640 * 3, np.uint8).tobytes())
camera_pub = camera.create_publisher(Image, 'image', qos.IMAGE)
executor = ResilientExecutor(num_threads=2)
executor.add_node(node)
executor.add_node(camera)
def camera_until_a_frame_waits():
    for _ in range(600):  # at most 60 s
        if len(node.pending):
            print('waiting at interrupt:', len(node.pending), flush=True)
            os.kill(os.getpid(), signal.SIGINT)
            return
        camera_pub.publish(image)
        threading.Event().wait(0.1)
threading.Thread(target=camera_until_a_frame_waits, daemon=True).start()
try:
    executor.spin()
except (KeyboardInterrupt, ExternalShutdownException):
    pass
finally:
    executor.shutdown()
    assert not rclpy.ok()  # the handler shut the context down, as on Ctrl-C
    node.destroy_node()
print('waiting at exit:', len(node.pending))
"""


@pytest.mark.parametrize(
    ('script', 'held'),
    [pytest.param(CTRL_C, 'queued', id='tail'), pytest.param(HEAD_CTRL_C, 'waiting', id='head')],
)
def test_a_node_stopped_by_ctrl_c_with_work_in_hand_exits_cleanly(script, held, ros_env, runtime_cache, demo_exports):
    """Its exit was a traceback: the answers owed (the tail's busy, the head's fallbacks) went to the dead context."""
    env = {**node_env(int(ros_env['ROS_DOMAIN_ID']), runtime_cache)}
    result = subprocess.run([sys.executable, '-c', script, DEMO_PACKAGE], env=env, capture_output=True, text=True,
                            timeout=240)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'{held} at interrupt:' in result.stdout, result.stdout  # it held work when interrupted
    assert f'{held} at exit: 0' in result.stdout, result.stdout
    assert 'Traceback' not in result.stderr and '[ERROR]' not in result.stderr, result.stderr[-3000:]
