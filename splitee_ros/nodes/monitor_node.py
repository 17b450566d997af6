# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""monitor_node: measures the link and the stage times, and re-tunes the head through its parameters.

Every `decision_period_s` the policy (splitee_ros.control.policy) picks the split point, codec, exit
threshold and mode that meet the deadline target best under the measured link, and the monitor sets them on
the head with its SetParametersAtomically service, as `ros2 param set` would. A value a person sets on the
head by hand is held for `manual_hold_s`; `adaptation_enabled:=false` leaves all tuning to the person.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import deque

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import ParameterEvent, SetParametersResult
from rcl_interfaces.srv import SetParametersAtomically
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage

from splitee_ros.control.latency import MODES, ComputeScale, LatencyModel, LinkState, choice_from_parameters
from splitee_ros.control.link import LinkEstimator, StageStats
from splitee_ros.control.policy import OBJECTIVES, Decision, Policy, PolicySettings
from splitee_ros.control.profile import Profile
from splitee_ros.ros import qos
from splitee_ros.ros.executor import spin
from splitee_ros.ros.params import declare
from splitee_ros.ros.qos import PROBE_REPLY_TOPIC, PROBE_TOPIC
from splitee_ros.ros.telemetry import health, status_values

HEAD_PARAMETERS = ('mode', 'split_point', 'codec', 'exit_threshold', 'jpeg_quality')


class MonitorNode(Node):
    """Link and stage measurement, and adaptation, for the vehicle/edge pair."""

    def __init__(self, **kwargs) -> None:
        """Declare parameters, load the profile, start probing and deciding, listen to both nodes."""
        super().__init__('monitor_node', **kwargs)
        probe_hz = declare(self, 'probe_hz', 5.0, 'link probes per second', True, (0.1, 100.0))
        self.probe_sizes = list(declare(self, 'probe_sizes', [256, 8192], 'probe payload sizes in bytes', True))
        if not self.probe_sizes or min(self.probe_sizes) < 0:
            raise ValueError(f'probe_sizes must be a non-empty list of sizes >= 0, not {self.probe_sizes}')
        window_s = declare(self, 'window_s', 5.0, 'statistics window', True, (0.5, 120.0))
        head = declare(self, 'head_node', 'head_node', 'the head node (its ~/telemetry and parameters)', True)
        tail = declare(self, 'tail_node', 'tail_node', 'the tail node (its ~/telemetry)', True)
        self.link = LinkEstimator(window_s)
        self.head_stats, self.tail_stats = StageStats(window_s), StageStats(window_s)
        self.vehicle_scale, self.edge_scale = ComputeScale(), ComputeScale()
        self.lock = threading.Lock()  # the measurements, shared by the measuring and the deciding callbacks
        self.sent: dict[str, tuple[float, int, int]] = {}  # probe id -> (time sent, bytes, sequence)
        self.sequence = 0
        self._declare_adaptation()
        self.head_name = head if head.startswith('/') else f'{self.get_namespace().rstrip("/")}/{head}'
        self.applied: dict[str, object] = {}  # the head's settings as last set (by the monitor or by hand)
        self.recently_set: deque[tuple[float, str, object]] = deque()  # what the monitor set, for 10 s
        self.decision: Decision | None = None
        self.decisions = self.changes = self.apply_failures = self.changes_seen = 0
        self.next_decision = 0.0
        self.probe_pub = self.create_publisher(CompressedImage, PROBE_TOPIC, qos.PROBE)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        group, deciding = MutuallyExclusiveCallbackGroup(), MutuallyExclusiveCallbackGroup()  # a slow decision
        self.set_client = self.create_client(  # never delays a probe's reply, so never inflates its RTT
            SetParametersAtomically, f'{self.head_name}/set_parameters_atomically', callback_group=deciding
        )
        self.create_subscription(CompressedImage, PROBE_REPLY_TOPIC, self._on_reply, qos.PROBE, callback_group=group)
        self.create_subscription(
            DiagnosticStatus, f'{head}/telemetry', self._on_head, qos.TELEMETRY, callback_group=group
        )
        self.create_subscription(
            DiagnosticStatus, f'{tail}/telemetry', self._on_tail, qos.TELEMETRY, callback_group=group
        )
        self.create_subscription(
            ParameterEvent, '/parameter_events', self._on_parameter_event, 100, callback_group=deciding
        )
        self.probe_period_s, self.next_probe = 1.0 / probe_hz, 0.0
        self.probe_phase = random.Random(os.getpid())  # jittered: never phase-locked to the camera's frames
        self.create_timer(min(0.02, self.probe_period_s / 4), self._probe, callback_group=group)
        self.create_timer(min(0.1, self.decision_period_s), self._decide, callback_group=deciding)
        self.create_timer(1.0, self._report, callback_group=deciding)

    def _declare_adaptation(self) -> None:
        """The policy's parameters and the profile it decides from."""
        self.enabled = declare(self, 'adaptation_enabled', True, "let the monitor set the head's parameters")
        model = declare(self, 'model', 'splitee_demo', 'model package whose profile.yaml to use', True)
        vehicle = declare(self, 'vehicle_profile', '', 'device profile of the vehicle ("": the first)', True)
        edge = declare(self, 'edge_profile', '', 'device profile of the edge ("": the vehicle\'s)', True)
        self.decision_period_s = declare(self, 'decision_period_s', 0.5, 'time between decisions', True, (0.05, 60.0))
        from splitee_ros.model.package import find_package

        self.profile = Profile.load(find_package(model))
        vehicle = vehicle or next(iter(self.profile.devices))
        self.model = LatencyModel(self.profile, self.profile.device(vehicle), self.profile.device(edge or vehicle))
        settings = PolicySettings(
            deadline_ms=declare(self, 'deadline_ms', 100.0, "the head's deadline", value_range=(1.0, 10000.0)),
            target=declare(self, 'target', 0.95, 'required P(latency <= deadline)', value_range=(0.01, 1.0)),
            objective=declare(self, 'objective', 'accuracy', 'accuracy or bandwidth', choices=OBJECTIVES),
            accuracy_floor=declare(
                self, 'accuracy_floor', 0.0, 'bandwidth objective: least mAP@.5', value_range=(0.0, 1.0)
            ),
            hysteresis=declare(
                self, 'hysteresis', 0.01, 'gain needed to switch (mAP@.5, or share of bytes)', value_range=(0.0, 1.0)
            ),
            hit_margin=declare(
                self, 'hit_margin', 0.02, 'keep the current choice down to target - this', value_range=(0.0, 1.0)
            ),
            min_dwell_s=declare(self, 'min_dwell_s', 3.0, 'least time between changes', value_range=(0.0, 600.0)),
            manual_hold_s=declare(
                self, 'manual_hold_s', 30.0, 'how long a hand-set value is held', value_range=(0.0, 86400.0)
            ),
            modes=tuple(declare(self, 'modes', list(MODES), 'modes the policy may choose')),
        )
        self.policy = Policy(self.model, settings)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        values = {p.name: p.value for p in parameters}
        fields = (
            'deadline_ms',
            'target',
            'objective',
            'accuracy_floor',
            'hysteresis',
            'hit_margin',
            'min_dwell_s',
            'manual_hold_s',
        )
        changes = {name: value for name, value in values.items() if name in fields}
        if 'modes' in values:
            changes['modes'] = tuple(values['modes'])
        try:
            settings = PolicySettings(**{**self.policy.settings.__dict__, **changes})
        except (TypeError, ValueError) as error:
            return SetParametersResult(successful=False, reason=str(error))
        self.policy.settings = settings
        if 'adaptation_enabled' in values:
            self.enabled = bool(values['adaptation_enabled'])
        return SetParametersResult(successful=True)

    def _probe(self) -> None:
        now = time.monotonic()
        if now < self.next_probe:
            return
        self.next_probe = now + self.probe_period_s * (0.5 + self.probe_phase.random())
        for probe_id, (sent, size, _) in list(self.sent.items()):
            if now - sent > 1.0:  # no reply within a second: lost
                del self.sent[probe_id]
                with self.lock:
                    self.link.add_probe(now, size, None)
        size = self.probe_sizes[self.sequence % len(self.probe_sizes)]
        self.sequence += 1
        msg = CompressedImage(format='probe', data=bytes(size))
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = f'probe/{self.get_name()}/{self.sequence}'
        self.sent[msg.header.frame_id] = (now, size, self.sequence)
        self.probe_pub.publish(msg)

    def _on_reply(self, msg: CompressedImage) -> None:
        now = time.monotonic()
        sent = self.sent.pop(msg.header.frame_id, None)
        if sent is None:
            return
        sent_at, size, sequence = sent
        overtaken = [key for key, (_, _, earlier) in self.sent.items() if earlier < sequence - 1]  # one reorder ok
        with self.lock:
            for key in overtaken:  # a gap in the replies' sequence: lost, without waiting for the timeout
                self.link.add_probe(now, self.sent.pop(key)[1], None)
            self.link.add_probe(now, size, now - sent_at)

    def _on_head(self, msg: DiagnosticStatus) -> None:
        with self.lock:
            self._measure_head(time.monotonic(), msg.message, status_values(msg))

    def _measure_head(self, now: float, outcome: str, values: dict[str, str]) -> None:
        self.head_stats.add(now, outcome, values)
        vehicle = self.model.vehicle
        if values.get('mode') == 'split' and values.get('split') in vehicle.head_ms and 'head_ms' in values:
            self.vehicle_scale.add(float(values['head_ms']), vehicle.head_ms[values['split']])
        elif values.get('mode') == 'local' and 'head_ms' in values:
            self.vehicle_scale.add(float(values['head_ms']), vehicle.full_ms)
        if outcome == 'edge' and 'edge_rtt_ms' in values and 'bytes' in values:
            tail = self.tail_stats.summary()
            edge_ms = tail.get('tail_ms_p50', 0.0) + tail.get('decode_ms_p50', 0.0)
            self.link.add_transfer(now, int(values['bytes']), (float(values['edge_rtt_ms']) - edge_ms) / 1e3)

    def _on_tail(self, msg: DiagnosticStatus) -> None:
        with self.lock:
            self._measure_tail(time.monotonic(), msg.message, status_values(msg))

    def _measure_tail(self, now: float, outcome: str, values: dict[str, str]) -> None:
        self.tail_stats.add(now, outcome, values)
        edge = self.model.edge
        if 'tail_ms' not in values:
            return
        if values.get('mode') == 'split' and values.get('split') in edge.tail_ms:
            self.edge_scale.add(float(values['tail_ms']), edge.tail_ms[values['split']])
        elif values.get('mode') == 'offload-image':
            self.edge_scale.add(float(values['tail_ms']), edge.full_ms)

    def _decide(self) -> None:
        """Every `decision_period_s`, and at once when the link estimator detects a change."""
        now = time.monotonic()
        if not self.enabled or (now < self.next_decision and self.link.changes == self.changes_seen):
            return  # the timer ticks at 10 Hz to catch a change at once; a decision is made only when due
        with self.lock:
            estimate = self.link.estimate(now)
            scales = self.vehicle_scale.value, self.edge_scale.value
        link = LinkState.from_estimate(estimate)
        unknown = link is None and estimate.loss < 1.0  # replies, but too few for a goodput yet
        if estimate.probes < len(self.probe_sizes) * 2 or unknown:
            return
        self.next_decision, self.changes_seen = now + self.decision_period_s, estimate.changes
        decision = self.policy.decide(now, link, *scales)
        self.decision, self.decisions = decision, self.decisions + 1
        if not decision.changed:  # every decision, with its inputs: --log-level monitor_node:=debug
            self.get_logger().debug(decision.explain())
            return
        self.changes += 1
        self.get_logger().info(decision.explain())
        self._apply(decision.choice.parameters())

    def _apply(self, values: dict[str, object]) -> None:
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
        future.add_done_callback(
            lambda f: None if f.result().result.successful else self._apply_failed(f.result().result.reason)
        )

    def _apply_failed(self, reason: str) -> None:
        self.apply_failures += 1
        self.policy.current = None  # decide afresh and set again
        self.get_logger().warning(f"could not set the head's parameters: {reason}", throttle_duration_sec=5.0)

    def _on_parameter_event(self, event: ParameterEvent) -> None:
        """A change to the head's parameters that the monitor did not make is a person's: hold it."""
        if event.node != self.head_name or not self.enabled:
            return
        changed = {
            p.name: Parameter.from_parameter_msg(p).value for p in event.changed_parameters if p.name in HEAD_PARAMETERS
        }
        ours = {(name, value) for _, name, value in self.recently_set}
        if not changed or all((name, value) in ours for name, value in changed.items()):
            return  # an echo of the monitor's own setting (events may arrive after a later setting)
        self.applied = {**self.applied, **changed}
        try:
            choice = choice_from_parameters(self.applied)
        except (KeyError, ValueError):
            return  # not enough known of the head's settings to name a choice
        self.policy.override(choice, time.monotonic())
        self.get_logger().info(
            f'{choice.label} set by hand on {self.head_name}: held for {self.policy.settings.manual_hold_s:g} s'
        )

    def _report(self) -> None:
        with self.lock:
            estimate = self.link.estimate(time.monotonic())
            head_summary, tail_summary = self.head_stats.summary(), self.tail_stats.summary()
            scales = self.vehicle_scale.value, self.edge_scale.value
        link = {
            'rtt_ms': estimate.rtt_ms,
            'goodput_mbps': estimate.goodput_mbps,
            'loss': estimate.loss,
            'probes': estimate.probes,
            'changes_detected': estimate.changes,
        }
        level = DiagnosticStatus.OK if estimate.rtt_ms is not None and estimate.loss < 0.2 else DiagnosticStatus.WARN
        message = 'no probe replies' if estimate.rtt_ms is None else f'rtt {estimate.rtt_ms:.1f} ms'
        array = health(self, 'splitee: link', level, message, {k: v for k, v in link.items() if v is not None})
        stages = {
            **{f'head.{k}': v for k, v in head_summary.items()},
            **{f'tail.{k}': v for k, v in tail_summary.items()},
        }
        array.status += health(self, 'splitee: stages', DiagnosticStatus.OK, 'per-stage medians', stages).status
        array.status += self._adaptation_status(*scales).status
        self.diagnostics_pub.publish(array)

    def _adaptation_status(self, vehicle_scale: float, edge_scale: float) -> DiagnosticArray:
        values: dict[str, object] = {
            'enabled': self.enabled,
            'decisions': self.decisions,
            'changes': self.changes,
            'apply_failures': self.apply_failures,
            'vehicle_scale': vehicle_scale,
            'edge_scale': edge_scale,
        }
        decision = self.decision
        if decision is None:
            message = 'adaptation off' if not self.enabled else 'waiting for link estimates'
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
