# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Running the nodes as separate processes and watching them: used by `splitee demo` and the node tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.srv import SetParameters
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.client import Client
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray

from splitee_ros.control.monitor import FRAME_OUTCOMES
from splitee_ros.pipeline.frames import FrameKey
from splitee_ros.ros import qos
from splitee_ros.ros.convert import bgr_to_image
from splitee_ros.ros.executor import ResilientExecutor
from splitee_ros.ros.telemetry import frame_key, status_values

NODE_MODULES = {name: f'splitee_ros.nodes.{name}' for name in ('head_node', 'tail_node', 'monitor_node')}
MANAGED_NODES = ('head_node', 'tail_node')  # lifecycle nodes: configure loads the model, activate serves


def _parameter_text(value) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, list | tuple):
        return '[' + ','.join(_parameter_text(v) for v in value) + ']'
    return str(value)


def poll_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Check `condition` every `interval_s` until it holds; return whether it held, last checked at `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


class NodeProcess:
    """One node in a process of its own, its output in a log file."""

    def __init__(
        self,
        node: str,
        parameters: Mapping[str, object],
        env: Mapping[str, str],
        log_folder: str | Path,
        remappings: Mapping[str, str] | None = None,
        prefix: Sequence[str] = (),
        autostart: bool = True,
        log_level: str | None = None,
    ) -> None:
        """Start `node` (head_node, tail_node, monitor_node) with `--ros-args -p name:=value` parameters.

        `prefix` runs it through another program, e.g. `ip netns exec NAME` for another network namespace. A
        managed node configures and activates itself (`autostart`), or waits for its lifecycle services.
        `log_level` sets the node's logger level (e.g. 'debug': the monitor's every decision, with its inputs).
        """
        self.node = node
        if node in MANAGED_NODES:
            parameters = {'autostart': autostart, **parameters}
        arguments = [*prefix, sys.executable, '-m', NODE_MODULES[node], '--ros-args']
        for name, value in parameters.items():
            arguments += ['-p', f'{name}:={_parameter_text(value)}']
        for source, target in (remappings or {}).items():
            arguments += ['-r', f'{source}:={target}']
        if log_level is not None:
            arguments += ['--log-level', f'{node}:={log_level}']
        self.log_path = Path(log_folder) / f'{node}.log'
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, 'ab')  # noqa: SIM115 - open for the process's lifetime
        self.process = subprocess.Popen(
            with_parent(arguments), env=dict(env), stdout=self._log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGINT, then SIGKILL if it does not end in time."""
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        """The end of the node's output."""
        return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])


class Collector:
    """A node in this process that records results, telemetry and diagnostics, and sets parameters."""

    def __init__(self, domain_id: int, namespace: str = '', localhost_only: bool = True) -> None:
        """Join `domain_id` with a context of its own and spin in a background thread."""
        if localhost_only:  # read by the middleware at init: the same discovery range as `node_env`'s
            os.environ.update(localhost_discovery())
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = Node('splitee_collector', namespace=namespace, context=self.context)
        self.lock = threading.Lock()
        self.results: dict[FrameKey, tuple[float, Detection2DArray]] = {}
        self.result_counts: dict[FrameKey, int] = {}
        self.telemetry: dict[str, list[tuple[float, DiagnosticStatus]]] = {'head_node': [], 'tail_node': []}
        self.diagnostics: list[DiagnosticArray] = []
        group = ReentrantCallbackGroup()
        self.node.create_subscription(
            Detection2DArray, 'perception/detections', self._on_result, qos.DETECTIONS, callback_group=group
        )
        for name in self.telemetry:
            self.node.create_subscription(
                DiagnosticStatus,
                f'{name}/telemetry',
                lambda msg, name=name: self._on_telemetry(name, msg),
                qos.TELEMETRY,
                callback_group=group,
            )
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10, callback_group=group)
        self.executor = ResilientExecutor(num_threads=2, context=self.context)  # the player's publishers come and go
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_result(self, msg: Detection2DArray) -> None:
        key = frame_key(msg.header)
        with self.lock:
            self.results[key] = (time.monotonic(), msg)
            self.result_counts[key] = self.result_counts.get(key, 0) + 1

    def _on_telemetry(self, name: str, msg: DiagnosticStatus) -> None:
        with self.lock:
            self.telemetry[name].append((time.monotonic(), msg))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        with self.lock:
            self.diagnostics.append(msg)

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self.lock:
            self.results.clear()
            self.result_counts.clear()
            for samples in self.telemetry.values():
                samples.clear()
            self.diagnostics.clear()

    def head_frames(self) -> dict[FrameKey, tuple[str, dict[str, str]]]:
        """Per frame key, the head's final outcome (exit, local, edge, fallback, or dropped) and its values."""
        with self.lock:
            samples = list(self.telemetry['head_node'])
        frames = {}
        for _, status in samples:
            if status.message in FRAME_OUTCOMES:
                sec_nsec, _, frame_id = status.hardware_id.partition('/')
                sec, _, nanosec = sec_nsec.partition('.')
                frames[(int(sec), int(nanosec), frame_id)] = (status.message, status_values(status))
        return frames

    def outcomes(self, node: str = 'head_node') -> dict[str, int]:
        """How many telemetry records of each outcome `node` sent."""
        with self.lock:
            samples = list(self.telemetry[node])
        counts: dict[str, int] = {}
        for _, status in samples:
            counts[status.message] = counts.get(status.message, 0) + 1
        return counts

    def values_of(self, outcome: str, node: str = 'head_node') -> list[dict[str, str]]:
        """The values of every telemetry record of `outcome` that `node` sent."""
        with self.lock:
            samples = list(self.telemetry[node])
        return [status_values(status) for _, status in samples if status.message == outcome]

    def wait_for_outcomes(self, outcome: str, count: int, timeout_s: float, node: str = 'head_node') -> bool:
        """Wait until `node` has sent at least `count` telemetry records of `outcome`."""
        return poll_until(lambda: len(self.values_of(outcome, node)) >= count, timeout_s)

    def wait_for_results(self, keys: Iterable[FrameKey], timeout_s: float) -> bool:
        """Wait until there is a result (and head telemetry) for every key in `keys`."""
        wanted = set(keys)

        def answered() -> bool:
            with self.lock:
                done = wanted <= set(self.results)
            return done and wanted <= set(self.head_frames())

        return poll_until(answered, timeout_s)

    def wait_for_answers(self, keys: Iterable[FrameKey], timeout_s: float, told: bool = False) -> bool:
        """Wait until every key in `keys` has a result or the head's `dropped` outcome (it gets no result).

        With `told`, also until the head's telemetry has told every key's outcome (it may come after the result).
        """
        wanted = set(keys)

        def settled() -> bool:
            with self.lock:
                answered = set(self.results)
            frames = self.head_frames()
            dropped = {key for key, (outcome, _) in frames.items() if outcome == 'dropped'}
            return wanted <= answered | dropped and (not told or wanted <= set(frames))

        return poll_until(settled, timeout_s)

    def health(self, node: str, status: str | None = None) -> dict[str, str]:
        """The values of `node`'s latest status on /diagnostics; {} before any.

        `node` is its name, with namespace; `status` names the status to read if the node reports several.
        """
        with self.lock:
            statuses = [s for a in self.diagnostics for s in a.status
                        if s.hardware_id.endswith(f'/{node}') and status in (None, s.name)]  # fmt: skip
        return {item.key: item.value for item in statuses[-1].values} if statuses else {}

    def wait_for_health(
        self, node: str, check: Callable[[dict[str, str]], bool], timeout_s: float = 60.0, status: str | None = None
    ) -> dict[str, str]:
        """Wait until `node`'s latest health values pass `check`; return the latest values either way."""

        def passed() -> bool:
            values = self.health(node, status)
            return bool(values) and check(values)

        poll_until(passed, timeout_s, 0.1)
        return self.health(node, status)

    def wait_for_subscribers(
        self,
        topics: Mapping[str, int],
        timeout_s: float,
        at_most: bool = False,
        publishers: Mapping[str, int] | None = None,
    ) -> bool:
        """Wait for subscribers on each topic: at least (or with `at_most`, at most) the given number.

        Each topic of `publishers` must also have at least that many publishers (so no first result is missed).
        """

        def matched() -> bool:
            counts = {topic: self.node.count_subscribers(topic) for topic in topics}
            published = all(self.node.count_publishers(t) >= n for t, n in (publishers or {}).items())
            return published and all((counts[t] <= n) if at_most else (counts[t] >= n) for t, n in topics.items())

        return poll_until(matched, timeout_s, 0.1)

    def call(self, service_type, name: str, request, timeout_s: float = 30.0):
        """Call a service of another node (waiting for it to appear) and return its response."""
        client: Client = self.node.create_client(service_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout_s):
                raise TimeoutError(f'{name} is not available')
            future = client.call_async(request)
            if not poll_until(future.done, timeout_s, 0.01):
                raise TimeoutError(f'{name} did not answer')
            return future.result()
        finally:
            self.node.destroy_client(client)

    def set_parameters(self, node: str, values: Mapping[str, Any], timeout_s: float = 30.0) -> list:
        """Call `node`'s SetParameters service, as `ros2 param set` does; return the results."""
        parameters = [Parameter(name, value=value).to_parameter_msg() for name, value in values.items()]
        response = self.call(SetParameters, f'{node}/set_parameters', SetParameters.Request(parameters=parameters),
                             timeout_s)  # fmt: skip
        return list(response.results)

    def lifecycle(self, node: str, transition: str | None = None, timeout_s: float = 120.0) -> str:
        """Take `node` through a lifecycle `transition` (configure, activate, ...), as `ros2 lifecycle set` does.

        Returns the state it is in afterwards (its label: unconfigured, inactive, active, finalized); with no
        transition, only reads it.
        """
        if transition is not None:
            change = ChangeState.Request(transition=Transition(label=transition))
            self.call(ChangeState, f'{node}/change_state', change, timeout_s)
        return self.call(GetState, f'{node}/get_state', GetState.Request(), timeout_s).current_state.label

    def wait_until_active(self, nodes: Iterable[str], timeout_s: float) -> bool:
        """Wait until every managed node in `nodes` (names, with namespace) reports the active lifecycle state."""
        deadline = time.monotonic() + timeout_s
        waiting = set(nodes)
        while waiting and time.monotonic() < deadline:
            for node in sorted(waiting):
                try:
                    if self.lifecycle(node, timeout_s=max(0.1, min(10.0, deadline - time.monotonic()))) == 'active':
                        waiting.discard(node)
                except TimeoutError:  # not up yet
                    pass
            if waiting:
                time.sleep(0.2)
        return not waiting

    def close(self) -> None:
        """Stop spinning and leave the domain."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


class Camera:
    """A camera in a test: publishes images with fresh stamps (reliable, so none is lost), from a thread if asked."""

    def __init__(self, node: Node, images: Sequence[np.ndarray], topic: str = '/camera/image_raw') -> None:
        """Publish `images` in turn on `topic` (bgr8) from `node`."""
        self.images = images
        self.node = node
        self.publisher = node.create_publisher(
            Image, topic, QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        )
        self.sent: list[FrameKey] = []  # the keys of the frames published, in order
        self.stopping = threading.Event()

    def stream(self, period_s: float, count: int | None = None) -> None:
        """Publish an image every `period_s`, `count` of them (None: until `stopping` is set)."""
        index = 0
        while not self.stopping.is_set() and (count is None or index < count):
            stamp = self.node.get_clock().now().to_msg()
            self.publisher.publish(
                bgr_to_image(self.images[index % len(self.images)], Header(stamp=stamp, frame_id='camera'))
            )
            self.sent.append((stamp.sec, stamp.nanosec, 'camera'))
            index += 1
            time.sleep(period_s)

    def start(self, period_s: float) -> threading.Thread:
        """Stream from a thread until `stop`."""
        self.stopping.clear()
        thread = threading.Thread(target=self.stream, args=(period_s,), daemon=True)
        thread.start()
        self._thread = thread
        return thread

    def stop(self) -> None:
        """End a stream started with `start`."""
        self.stopping.set()
        self._thread.join()
        self.stopping.clear()


def rss_mb(pid: int) -> float:
    """The resident memory of process `pid`, in MB (0 once it has gone)."""
    try:
        status = Path(f'/proc/{pid}/status').read_text()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith('VmRSS:')), 0.0)


def with_parent(command: Sequence[str]) -> list[str]:
    """`command` run so that it ends with SIGTERM when this process dies (Linux's parent-death signal).

    No node outlives a killed test. `setpriv` sets the signal and execs the command, so nothing runs in the
    child between fork and exec: a parent whose other threads use gRPC (Ray, Triton clients) cannot
    deadlock it, as a `preexec_fn` could. Without `setpriv` the parent's own clean-up has to do.
    """
    setpriv = shutil.which('setpriv')
    return [setpriv, '--pdeathsig', 'TERM', *command] if setpriv else list(command)


def node_env(domain_id: int, cache: str | Path | None = None) -> dict[str, str]:
    """Environment of node processes: a DDS domain, discovery on this host, an export cache."""
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED='1', **localhost_discovery())
    if cache is not None:
        env['SPLITEE_CACHE'] = str(cache)
    return env


def localhost_discovery() -> dict[str, str]:
    """Environment that keeps DDS discovery on this host (Humble knows only ROS_LOCALHOST_ONLY)."""
    if os.environ.get('ROS_DISTRO') == 'humble':
        return {'ROS_LOCALHOST_ONLY': '1'}
    return {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}
