# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""monitor_node: measures the link and the stage times, and re-tunes the head through its parameters.

The measuring and the timing of decisions are `control.monitor.LinkMonitor` (plain Python, also run by the
trace simulator): real frames first, probes only where frames say nothing, never before the edge is there.
The policy (splitee_ros.control.policy) picks the split point, codec, exit threshold and mode with the most
on-time accuracy that meets the deadline target, and the monitor sets them on the head with its
SetParametersAtomically service, as `ros2 param set` would. Until the head is ready (its parameter services
answer) and the link is measured, the head keeps its parameters as launched; the monitor reads them first,
so the policy starts from what the head runs. A value a person sets on the head by hand is held for
`manual_hold_s`; `adaptation_enabled:=false` leaves all tuning to the person.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import Counter, deque
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import ParameterEvent, SetParametersResult
from rcl_interfaces.srv import GetParameters, SetParametersAtomically
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.client import Client
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from sensor_msgs.msg import CompressedImage

from splitee_ros.control.latency import LatencyModel, choice_from_parameters
from splitee_ros.control.monitor import LinkMonitor, MonitorSettings, TelemetryError
from splitee_ros.control.policy import Decision, Policy, PolicySettings
from splitee_ros.control.profile import Profile
from splitee_ros.model.package import find_package
from splitee_ros.ros import qos
from splitee_ros.ros.executor import spin
from splitee_ros.ros.parameter_table import MONITOR
from splitee_ros.ros.params import declare_table, setting_changes
from splitee_ros.ros.qos import PROBE_ECHO_BYTES, PROBE_REPLY_TOPIC, PROBE_TOPIC
from splitee_ros.ros.telemetry import health, status_values

HEAD_PARAMETERS = ('mode', 'split_point', 'codec', 'exit_threshold', 'jpeg_quality')
PROBE_PREFIX = 'probe'
PROBE_TOKEN_BYTES = PROBE_ECHO_BYTES  # the reply echoes no more


class MonitorNode(Node):
    """Link and stage measurement, and adaptation, for the vehicle/edge pair."""

    def __init__(self, **kwargs) -> None:
        """Declare parameters, load the profile, start probing and deciding, listen to both nodes."""
        super().__init__('monitor_node', **kwargs)
        values = declare_table(self, MONITOR)
        settings = MonitorSettings(
            probe_hz=values['probe_hz'], probe_sizes=tuple(values['probe_sizes']), probe_share=values['probe_share'],
            decision_period_s=values['decision_period_s'], window_s=values['window_s'],
        )  # fmt: skip
        head = values['head_node']
        self.enabled = values['adaptation_enabled']
        self.profile = Profile.load(find_package(values['model']))
        vehicle = values['vehicle_profile'] or next(iter(self.profile.devices))
        edge = values['edge_profile'] or vehicle
        self.model = LatencyModel(self.profile, self.profile.device(vehicle), self.profile.device(edge))
        self.policy = Policy(self.model, PolicySettings(**setting_changes(MONITOR, values)))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.monitor = LinkMonitor(settings, self.model, self.policy, seed=os.getpid())
        self.lock = threading.Lock()  # the measurements, shared by the measuring and the deciding callbacks
        self.head_name = head if head.startswith('/') else f'{self.get_namespace().rstrip("/")}/{head}'
        self.applied: dict[str, Any] = {}  # the head's settings as last read or set (by the monitor or by hand)
        self.recently_set: deque[tuple[float, str, object]] = deque()  # what the monitor set, for 10 s
        self.decision: Decision | None = None
        self.changes = self.apply_failures = 0
        self.head_state: str = 'waiting for the head'  # then: reading its parameters, ready
        # each probe carries a token that its reply must echo, keyed by a secret of this process: a forged
        # reply is not a measurement
        self._probe_key = os.urandom(16)
        self.reply_rejections: Counter[str] = Counter()
        self.probe_pub = self.create_publisher(CompressedImage, PROBE_TOPIC, qos.PROBE)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        group, deciding = MutuallyExclusiveCallbackGroup(), MutuallyExclusiveCallbackGroup()  # a slow decision
        self.set_client: Client = self.create_client(  # never delays a probe's reply, so never inflates its RTT
            SetParametersAtomically, f'{self.head_name}/set_parameters_atomically', callback_group=deciding
        )
        self.get_client: Client = self.create_client(
            GetParameters, f'{self.head_name}/get_parameters', callback_group=deciding
        )
        self.create_subscription(CompressedImage, PROBE_REPLY_TOPIC, self._on_reply, qos.PROBE, callback_group=group)
        self.create_subscription(
            DiagnosticStatus, f'{head}/telemetry', self._on_head, qos.TELEMETRY, callback_group=group
        )
        self.create_subscription(
            ParameterEvent, '/parameter_events', self._on_parameter_event, 100, callback_group=deciding
        )
        self.create_timer(0.02, self._probe, callback_group=group)
        self.create_timer(min(0.1, settings.decision_period_s), self._decide, callback_group=deciding)
        self.create_timer(1.0, self._report, callback_group=deciding)

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        values = {p.name: p.value for p in parameters}
        changes = setting_changes(MONITOR, values)
        try:
            settings = PolicySettings(**{**self.policy.settings.__dict__, **changes})
        except (TypeError, ValueError) as error:
            return SetParametersResult(successful=False, reason=str(error))
        self.policy.settings = settings
        if 'adaptation_enabled' in values:
            self.enabled = bool(values['adaptation_enabled'])
        return SetParametersResult(successful=True)

    def _edge_answers(self) -> bool:
        """Whether the edge is there: it listens to the probes, and its replies reach this node."""
        return self.probe_pub.get_subscription_count() > 0 and self.count_publishers(PROBE_REPLY_TOPIC) > 0

    def _probe(self) -> None:
        if not self._edge_answers():
            return  # no probe before the edge is discovered: its loss would be no measurement
        now = time.monotonic()
        with self.lock:
            probe = self.monitor.next_probe(now)
        if probe is None:
            return
        sequence, size = probe
        token = self._probe_token(sequence)
        msg = CompressedImage(format=PROBE_PREFIX, data=token + bytes(max(0, size - PROBE_TOKEN_BYTES)))
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = f'{PROBE_PREFIX}/{self.get_name()}/{sequence}'
        self.probe_pub.publish(msg)

    def _on_reply(self, msg: CompressedImage) -> None:
        """A probe's echo: measured only if it is one of this node's probes still waiting, with its token."""
        received = time.monotonic()
        prefix, _, rest = msg.header.frame_id.rpartition('/')
        with self.lock:
            if (
                prefix != f'{PROBE_PREFIX}/{self.get_name()}'
                or not (rest.isascii() and rest.isdigit())
                or len(rest) > 12
            ):
                self.reply_rejections['probe_replies_foreign'] += 1  # another monitor's, or not a probe
                return
            sequence = int(rest)
            if not hmac.compare_digest(bytes(msg.data[:PROBE_TOKEN_BYTES]), self._probe_token(sequence)):
                self.reply_rejections['probe_replies_forged'] += 1
            elif not self.monitor.probe_reply(received, sequence):
                self.reply_rejections['probe_replies_unknown'] += 1  # a duplicate, a late one, or never sent

    def _probe_token(self, sequence: int) -> bytes:
        """The token of probe `sequence`: derived, so nothing is kept per probe."""
        return hashlib.blake2b(
            sequence.to_bytes(8, 'little'), key=self._probe_key, digest_size=PROBE_TOKEN_BYTES
        ).digest()

    def _on_head(self, msg: DiagnosticStatus) -> None:
        try:
            with self.lock:
                self.monitor.on_head(time.monotonic(), msg.hardware_id, msg.message, status_values(msg))
        except TelemetryError as error:  # counted; the link and stage estimates keep what they had
            self.reply_rejections['telemetry_malformed'] += 1
            self.get_logger().warning(f'head telemetry refused: {error}', throttle_duration_sec=5.0)

    def _head_ready(self) -> bool:
        """Read the head's settings once its parameter services answer; True when the policy knows them."""
        if self.head_state == 'ready':
            return True
        if self.head_state == 'waiting for the head' and self.get_client.service_is_ready():
            self.head_state = 'reading its parameters'
            request = GetParameters.Request(names=list(HEAD_PARAMETERS))
            self.get_client.call_async(request).add_done_callback(self._on_head_parameters)
        return False

    def _on_head_parameters(self, future) -> None:
        values = {name: parameter_value_to_python(value) for name, value in
                  zip(HEAD_PARAMETERS, future.result().values, strict=False)}  # fmt: skip
        try:
            choice = choice_from_parameters(values)
        except (KeyError, TypeError, ValueError) as error:
            self.head_state = 'waiting for the head'
            self.get_logger().info(  # a head not configured yet has no split_point, codec, exit_threshold
                f'{self.head_name} parameters unreadable ({error}): not configured yet? trying again',
                throttle_duration_sec=5.0,
            )
            return
        self.applied = values
        with self.lock:
            self.policy.start(choice, time.monotonic())
        self.head_state = 'ready'
        self.get_logger().info(f'{self.head_name} runs {choice.label} as launched; adapting from there')

    def _decide(self) -> None:
        """Every `decision_period_s`, and at once when the link estimator detects a change."""
        now = time.monotonic()
        if not self.enabled or not self._head_ready():
            return
        with self.lock:
            if not self.monitor.due(now):
                return
            decision = self.monitor.decide(now)
        if decision is None:
            return  # the link is not measured yet: the head keeps its settings
        self.decision = decision
        if not decision.changed:  # every decision, with its inputs: --log-level monitor_node:=debug
            self.get_logger().debug(decision.explain())
            return
        self.changes += 1
        self.get_logger().info(decision.explain())
        self._apply(decision.choice.parameters())

    def _apply(self, values: dict[str, Any]) -> None:
        """Set `values` on the head in one atomic call; a failure is logged and the choice tried again."""
        if not self.set_client.service_is_ready():
            self._apply_failed(f'{self.set_client.srv_name} is not available')
            return
        now = time.monotonic()
        self.applied = {**self.applied, **values}
        self.recently_set.extend((now, name, value) for name, value in values.items())
        while self.recently_set and self.recently_set[0][0] < now - 10.0:
            self.recently_set.popleft()
        request = SetParametersAtomically.Request(
            parameters=[Parameter(name, value=value).to_parameter_msg() for name, value in values.items()]
        )
        future = self.set_client.call_async(request)
        future.add_done_callback(self._on_applied)

    def _on_applied(self, future) -> None:
        response = future.result()
        if response is None or not response.result.successful:
            self._apply_failed('no answer' if response is None else response.result.reason)

    def _apply_failed(self, reason: str) -> None:
        self.apply_failures += 1
        self.policy.current = None  # decide afresh and set again
        self.get_logger().warning(f"could not set the head's parameters: {reason}", throttle_duration_sec=5.0)

    def _on_parameter_event(self, event: ParameterEvent) -> None:
        """A change to the head's parameters that the monitor did not make is a person's: hold it."""
        if event.node != self.head_name or not self.enabled or self.head_state != 'ready':
            return
        try:
            changed = {p.name: Parameter.from_parameter_msg(p).value
                       for p in event.changed_parameters if p.name in HEAD_PARAMETERS}  # fmt: skip
            ours = {(name, value) for _, name, value in self.recently_set}
            echo = all((name, value) in ours for name, value in changed.items())
        except (TypeError, ValueError):  # a type code no parameter has, or an array: not the head's event
            self.reply_rejections['parameter_events_malformed'] += 1
            return
        if not changed or echo:
            return  # an echo of the monitor's own setting (events may arrive after a later setting)
        self.applied = {**self.applied, **changed}
        try:
            choice = choice_from_parameters(self.applied)
        except (KeyError, TypeError, ValueError):  # not enough known of the head's settings, or values unset
            return
        with self.lock:
            self.policy.override(choice, time.monotonic())
        by_hand = ', '.join(f'{name}={value}' for name, value in changed.items())
        self.get_logger().info(
            f'{by_hand} set by hand on {self.head_name} (it runs {choice.label}): held for '
            f'{self.policy.settings.manual_hold_s:g} s'
        )

    def _report(self) -> None:
        monitor = self.monitor
        with self.lock:
            estimate = monitor.link.estimate(time.monotonic())
            head_summary = monitor.head_stats.summary()
            scales = monitor.vehicle_scale.value, monitor.edge_scale.value
        link = {
            'rtt_ms': estimate.rtt_ms,
            'goodput_mbps': estimate.goodput_mbps,
            'loss': estimate.loss,
            'samples': estimate.probes,
            'changes_detected': estimate.changes,
            'probe_bytes': monitor.probe_bytes,
            **self.reply_rejections,
        }
        level = DiagnosticStatus.OK if estimate.rtt_ms is not None and estimate.loss < 0.2 else DiagnosticStatus.WARN
        message = 'no probe replies' if estimate.rtt_ms is None else f'rtt {estimate.rtt_ms:.1f} ms'
        array = health(self, 'splitee: link', level, message, {k: v for k, v in link.items() if v is not None})
        stages = {f'head.{k}': v for k, v in head_summary.items()}  # the edge's times come with its answers
        array.status += health(self, 'splitee: stages', DiagnosticStatus.OK, 'per-stage medians', stages).status
        array.status += self._adaptation_status(*scales).status
        self.diagnostics_pub.publish(array)

    def _adaptation_status(self, vehicle_scale: float, edge_scale: float) -> DiagnosticArray:
        values: dict[str, object] = {
            'enabled': self.enabled,
            'head': self.head_state,
            'decisions': self.monitor.decisions,
            'changes': self.changes,
            'apply_failures': self.apply_failures,
            'vehicle_scale': vehicle_scale,
            'edge_scale': edge_scale,
        }
        decision = self.decision
        if decision is None:
            message = 'adaptation off' if not self.enabled else f'{self.head_state}; waiting for link estimates'
            return health(self, 'splitee: adaptation', DiagnosticStatus.OK, message, values)
        p = decision.prediction
        values |= {
            'choice': decision.choice.label,
            'reason': decision.reason,
            'p_hit': p.hit_probability,
            'latency_p50_ms': p.latency_p50_ms,
            'latency_p95_ms': p.latency_p95_ms,
            'map50': p.accuracy,
            'bytes_per_frame': p.bytes_per_frame,
            **decision.choice.parameters(),
        }
        meets = p.hit_probability >= self.policy.settings.target
        level = DiagnosticStatus.OK if meets else DiagnosticStatus.WARN
        message = f'{decision.choice.label} (P(hit) {p.hit_probability:.2f})'
        if not self.enabled:
            message += ', adaptation off'
        return health(self, 'splitee: adaptation', level, message, values)


def main(args: list[str] | None = None) -> None:
    """Run monitor_node until shut down."""
    spin(MonitorNode, args)


if __name__ == '__main__':
    main()
