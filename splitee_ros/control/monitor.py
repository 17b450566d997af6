# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What monitor_node does between its callbacks, in plain Python, so that the trace simulator runs the same code.

- **Frames first.** Every frame the edge answers (in time or late) is a link sample; a frame that fell back
  and is still unanswered `lost_after_s` later is lost. This costs the link nothing.
- **Probes fill in.** Small probes (the smallest of `probe_sizes`) measure the RTT at `probe_hz`. A larger
  probe goes out only while no frame measures the goodput (for the estimator's `stale_s`: the uplink is
  idle, or everything on it is lost), and no more often than keeps every probe's bytes on the wire (payload
  and `PROBE_OVERHEAD`, the RTT probes' included) within `probe_share` of a cautious goodput. Each is sized
  to stand out of the path's timing noise: `PROBE_NOISES` times the estimator's resolution at the cautious
  goodput, between the second smallest and the largest of `probe_sizes`. So after a recovery, when the
  lean code's transfers are lost in the executors' jitter, the probes climb to the new rate in a few steps.
  One that disagrees with the estimate is confirmed by another soon after, so that a recovery shows within a
  few seconds. No probe goes out before the edge can answer it.
- **Exit checks.** A share of the frames that exit also go to the edge (head_node's `exit_check_share`);
  their agreement with the edge's answer, against what the profile's evaluation expects at that threshold,
  scales what the policy counts an exit's answer worth (`exit_scale`), so that it does not trust a synthetic
  evaluation blindly (the teacher is weakest at night).
- **Decisions** are due every `decision_period_s`, and at once when the estimator detects a change; none is
  made before the link is measured (`FIRST_DECISION_SAMPLES` goodput samples; the node also waits for the
  head to be ready). The policy also gets the head's frame rate, from its telemetry, to tell how much of the
  uplink each choice's frames would take together.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

import numpy as np

from splitee_ros.control.latency import ComputeScale, LatencyModel, LinkState
from splitee_ros.control.link import LinkEstimate, LinkEstimator, StageStats
from splitee_ros.control.policy import Decision, Policy
from splitee_ros.control.profile import LEVELS
from splitee_ros.errors import SpliteeError

SENT_OUTCOMES = ('edge', 'late', 'fallback', 'exit_check')  # head outcomes of frames sent to the edge
FRAME_OUTCOMES = ('exit', 'local', 'edge', 'fallback', 'dropped')  # head outcomes of which each frame has one
NUMBERS = ('bytes', 'agreement', 'exit_threshold')  # the telemetry values read as numbers, besides every `*_ms`
EXIT_CHECKS = 50  # the edge's checks of exits kept per split
LEAST_CHECKS = 10  # checks before they correct the profile
MIN_GOODPUT_PROBE_S = 0.25  # the goodput probes' shortest interval
PROBE_OVERHEAD = 160  # bytes a probe message takes on the wire beyond its payload (CDR, RTPS, UDP, IP)
PROBE_NOISES = 4.0  # a goodput probe's transfer at the cautious goodput, in the path's timing resolutions
FIRST_DECISION_SAMPLES = 3  # goodput samples before the first decision


class TelemetryError(SpliteeError, ValueError):
    """A telemetry record with a value that should be a finite number and is not (forged, or a defect)."""


def check_telemetry(values: dict[str, str]) -> None:
    """TelemetryError naming the first value the monitor reads as a number that is not a finite one."""
    for name, value in values.items():
        if not (name.endswith('_ms') or name in NUMBERS):
            continue
        try:
            number = float(value)
        except ValueError:
            raise TelemetryError(f'telemetry {name}={value[:40]!r} is not a number') from None
        if not math.isfinite(number):
            raise TelemetryError(f'telemetry {name}={value[:40]!r} is not finite')


@dataclass(frozen=True)
class MonitorSettings:
    """How the monitor measures (its read-only ROS parameters)."""

    probe_hz: float = 2.0  # RTT probes per second, on average
    probe_sizes: tuple[int, ...] = (256, 8192, 65536)  # the smallest measures RTT; goodput: the rest's range
    probe_share: float = 0.03  # probes' bytes within this share of the goodput (DDS takes ~1% more: 5% on the veth)
    probe_timeout_s: float = 1.0  # a probe without a reply this long is lost
    lost_after_s: float = 2.0  # a frame that fell back and is unanswered this long after is lost
    decision_period_s: float = 0.5
    window_s: float = 5.0

    def __post_init__(self) -> None:
        """Reject settings the monitor cannot work with, naming them."""
        if not self.probe_sizes or min(self.probe_sizes) < 0:
            raise ValueError(f'probe_sizes must be a non-empty list of sizes >= 0, not {list(self.probe_sizes)}')
        if not 0.0 < self.probe_share <= 1.0:
            raise ValueError(f'probe_share must be in (0, 1], not {self.probe_share}')


class LinkMonitor:
    """Link and stage measurement, probe scheduling and the timing of decisions for one vehicle/edge pair."""

    def __init__(self, settings: MonitorSettings, model: LatencyModel, policy: Policy, seed: int = 0) -> None:
        """Measure for `policy`, which decides with `model`; `seed` jitters the probes."""
        self.settings, self.model, self.policy = settings, model, policy
        self.link = LinkEstimator(settings.window_s)
        self.head_stats = StageStats(settings.window_s)
        self.vehicle_scale, self.edge_scale = ComputeScale(), ComputeScale()
        self._jitter = random.Random(seed)  # never phase-locked to the camera's frames
        self._sent: dict[int, tuple[float, int]] = {}  # probe sequence -> (time sent, bytes)
        self._sequence = 0
        self._next_rtt_probe = 0.0
        self._started: float | None = None  # the first call of `next_probe`: the edge was there
        self._next_goodput_probe = 0.0
        self._unanswered: dict[str, tuple[float, int]] = {}  # frame key -> (fell back at, bytes)
        self._next_decision = 0.0
        self._changes_seen = 0
        self.exit_checks: dict[str, deque[tuple[float, float]]] = {}  # split -> (measured, expected agreement)
        self.probe_bytes = 0  # everything the probes sent, for the probe share the bench reports
        self.decisions = 0

    # ---- probes ------------------------------------------------------------------------------------------
    def next_probe(self, now: float) -> tuple[int, int] | None:
        """(sequence, bytes) of a probe to send now, or None; call it often (every ~20 ms) once the edge is there."""
        self._expire(now)
        small, large = min(self.settings.probe_sizes), max(self.settings.probe_sizes)
        if self._started is None:
            self._started = now
        estimate = self.link.estimate(now)
        # a larger probe is timed against the small ones' RTT, and waits for what frames say at first
        measured = estimate.rtt_ms is not None and now - self._started >= self.link.stale_s
        size = None
        if large > small and measured and now >= self._next_goodput_probe and self.link.goodput_stale(now):
            # long enough to stand out of the executors' jitter; small while nothing is known
            size = self._goodput_probe_size(estimate) if estimate.goodput_mbps is not None else 4 * small
            self._next_goodput_probe = now + self._goodput_probe_interval(estimate, size)
        elif now >= self._next_rtt_probe:
            self._next_rtt_probe = now + (0.5 + self._jitter.random()) / self.settings.probe_hz
            size = small
        if size is None:
            return None
        self._sequence += 1
        self._sent[self._sequence] = (now, size)
        self.probe_bytes += size
        return self._sequence, size

    @staticmethod
    def _cautious_goodput(estimate: LinkEstimate) -> float:
        """The lower quartile of the estimate's spread: an overestimate must not let the probes crowd a slow link."""
        assert estimate.goodput_mbps is not None
        if not estimate.goodput_quantiles_mbps:
            return estimate.goodput_mbps
        return min(estimate.goodput_mbps, float(np.interp(0.25, LEVELS, estimate.goodput_quantiles_mbps)))

    def _goodput_probe_size(self, estimate: LinkEstimate) -> int:
        """Bytes that take `PROBE_NOISES` timing resolutions at the cautious goodput, within `probe_sizes`."""
        sizes = sorted(self.settings.probe_sizes)
        seconds = PROBE_NOISES * self.link.resolution_ms() / 1e3
        wanted = self._cautious_goodput(estimate) * 1e6 / 8 * seconds
        return int(min(max(wanted, sizes[1]), sizes[-1]))

    def _goodput_probe_interval(self, estimate: LinkEstimate, size: int) -> float:
        """Time until the next goodput probe: every probe's bytes on the wire within `probe_share` of the link.

        The RTT probes take their part first, against a cautious goodput.
        """
        if estimate.goodput_mbps is None:
            return 1.0
        cautious = self._cautious_goodput(estimate)
        small = min(self.settings.probe_sizes)
        rtt_probes = (small + PROBE_OVERHEAD) * 8 * self.settings.probe_hz  # bits per second
        budget = max(self.settings.probe_share * cautious * 1e6 - rtt_probes, 1e-3)
        return max((size + PROBE_OVERHEAD) * 8 / budget, MIN_GOODPUT_PROBE_S)

    def probe_reply(self, now: float, sequence: int) -> bool:
        """The edge echoed probe `sequence`; earlier probes it overtook (beyond one reorder) are lost.

        A goodput probe that disagrees with the estimate is followed soon by another, to confirm the change.
        False (and nothing measured) for a probe that is not waiting: unknown, a duplicate, or counted lost.
        """
        sent = self._sent.pop(sequence, None)
        if sent is None:
            return False
        for earlier in [s for s in self._sent if s < sequence - 1]:
            self.link.add_probe(now, self._sent.pop(earlier)[1], None)
        if self.link.add_probe(now, sent[1], now - sent[0]):
            self._next_goodput_probe = min(self._next_goodput_probe, now + MIN_GOODPUT_PROBE_S)
        return True

    def _expire(self, now: float) -> None:
        for sequence, (sent_at, size) in list(self._sent.items()):
            if now - sent_at > self.settings.probe_timeout_s:
                del self._sent[sequence]
                self.link.add_probe(now, size, None)
        for key, (fell_back, size) in list(self._unanswered.items()):
            if now - fell_back > self.settings.lost_after_s:
                del self._unanswered[key]
                self.link.add_frame(now, size, None)

    # ---- telemetry -----------------------------------------------------------------------------------------
    def on_head(self, now: float, key: str, outcome: str, values: dict[str, str]) -> None:
        """One frame record of the head's telemetry (`key` is the frame's).

        The edge's replies tell their own time (`edge_queue_ms`, `edge_compute_ms`), so a frame's round trip
        less that time is the network's; the edge's time against the profile is how loaded it is now. A reply
        that refused the frame (the edge busy, or the frame expired in its queue) counts as an edge that takes
        the whole deadline. A record with a number that is not a finite one is refused whole (`TelemetryError`).
        """
        check_telemetry(values)
        self.head_stats.add(now, outcome, values)
        vehicle = self.model.vehicle
        if values.get('mode') == 'split' and values.get('split') in vehicle.head_ms and 'head_ms' in values:
            self.vehicle_scale.add(float(values['head_ms']), vehicle.head_ms[values['split']])
        elif values.get('mode') == 'local' and 'head_ms' in values:
            self.vehicle_scale.add(float(values['head_ms']), vehicle.full_ms)
        if 'edge_compute_ms' in values:
            self._edge_load(values)
        if outcome == 'exit_check' and 'agreement' in values:
            self._check_exit(values)
        if outcome not in SENT_OUTCOMES or 'bytes' not in values:
            return
        size = int(float(values['bytes']))
        if 'edge_rtt_ms' in values:  # the edge replied: in time, late, to a check, or refusing the frame
            self._unanswered.pop(key, None)
            edge_ms = float(values.get('edge_queue_ms', 0.0))
            edge_ms += float(values['edge_compute_ms']) if 'edge_compute_ms' in values else self._typical_edge_ms()
            self.link.add_frame(now, size, max(0.0, float(values['edge_rtt_ms']) - edge_ms) / 1e3)
        elif outcome == 'fallback':
            self._unanswered[key] = (now, size)
            if 'latency_ms' in values:  # on the link since it was sent, and still no answer
                vehicle_ms = sum(float(values.get(k, 0.0)) for k in ('head_ms', 'encode_ms'))
                waited_ms = float(values['latency_ms']) - vehicle_ms - self._typical_edge_ms()
                self.link.add_unanswered(now, size, waited_ms / 1e3)

    def _typical_edge_ms(self) -> float:
        head = self.head_stats.summary()
        return head.get('edge_queue_ms_p50', 0.0) + head.get('edge_compute_ms_p50', 0.0)

    def _edge_load(self, values: dict[str, str]) -> None:
        """How much longer the edge takes now than profiled: its queue and compute against the profile."""
        edge = self.model.edge
        if values.get('mode') == 'split' and values.get('split') in edge.tail_ms:
            profiled = edge.tail_ms[values['split']]
        elif values.get('mode') == 'offload-image':
            profiled = edge.full_ms
        else:
            return
        if values.get('edge_status', 'ok') in ('busy', 'expired'):
            self.edge_scale.add(self.policy.settings.deadline_ms, profiled)
        else:
            self.edge_scale.add(float(values.get('edge_queue_ms', 0.0)) + float(values['edge_compute_ms']), profiled)

    def _check_exit(self, values: dict[str, str]) -> None:
        """An exit's answer against the edge's: measured agreement beside what the profile expects of it."""
        split = values.get('split', '')
        points = self.model.accuracy.exit_curves.get(split, ())
        threshold = float(values.get('exit_threshold', 1.0))
        point = min(points, key=lambda p: abs(p.threshold - threshold), default=None)
        if point is None or point.agreement is None:
            return
        self.exit_checks.setdefault(split, deque(maxlen=EXIT_CHECKS)).append(
            (float(values['agreement']), point.agreement)
        )

    def exit_scale(self) -> dict[str, float]:
        """Per split, how far the exits agree with the edge against the profile's expectation (0.5 to 1.2)."""
        scale = {}
        for split, checks in self.exit_checks.items():
            if len(checks) >= LEAST_CHECKS:
                measured, expected = (sum(values) for values in zip(*checks, strict=True))
                scale[split] = float(np.clip(measured / max(expected, 1e-6), 0.5, 1.2))
        return scale

    # ---- decisions ---------------------------------------------------------------------------------------
    def due(self, now: float) -> bool:
        """Whether a decision is due: its period has passed, or the estimator has seen the link change."""
        return now >= self._next_decision or self.link.changes != self._changes_seen

    def decide(self, now: float) -> Decision | None:
        """The policy's decision from what has been measured; None while there is no link estimate yet.

        Once there has been one, a link that stops answering altogether (loss 1) is a decision too: local-only.
        """
        self._expire(now)
        estimate = self.link.estimate(now)
        link = LinkState.from_estimate(estimate)
        if self.decisions == 0 and len(self.link.samples['goodput']) < FIRST_DECISION_SAMPLES:
            return None  # one sample (a probe queued behind a frame) must not set the first choice
        if link is None and estimate.loss < 1.0:
            return None
        self._next_decision, self._changes_seen = now + self.settings.decision_period_s, estimate.changes
        self.decisions += 1
        frame_rate = self.head_stats.frame_rate_hz(now, FRAME_OUTCOMES)  # the camera's: a leaner choice drops fewer
        return self.policy.decide(
            now, link, self.vehicle_scale.value, self.edge_scale.value, self.exit_scale(), frame_rate
        )
