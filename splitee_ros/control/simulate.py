# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Trace-driven simulation of the vehicle/edge pair: a static choice, or the policy with its link monitor.

Frames come at `fps`. Stage times are drawn from the device profiles (the same draws for every choice, so
choices are compared on equal terms); the uplink is a FIFO queue whose rate and RTT follow a bandwidth
trace, and which drops what would wait longer than `max_queue_s` (as `tc tbf` does); the edge runs one
frame at a time. The adaptive run also sends the monitor's probes through the same queue, feeds the link
estimator with what the monitor would see (probe round trips, real transfers), and lets the policy decide
every `decision_period_s` from those estimates only.
"""

from __future__ import annotations

import csv
import heapq
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from splitee_ros.control.latency import Choice, LatencyModel, LinkState
from splitee_ros.control.link import LinkEstimator
from splitee_ros.control.policy import Policy
from splitee_ros.control.profile import Distribution


@dataclass(frozen=True)
class Trace:
    """Goodput and RTT over time (each value holds until the next time)."""

    name: str
    times_s: np.ndarray
    goodput_mbps: np.ndarray
    rtt_ms: np.ndarray

    @property
    def duration_s(self) -> float:
        """Time of the last sample plus its step."""
        step = float(self.times_s[1] - self.times_s[0]) if len(self.times_s) > 1 else 1.0
        return float(self.times_s[-1]) + step

    def at(self, time_s: float) -> tuple[float, float]:
        """(goodput Mbit/s, RTT ms) at `time_s`."""
        index = max(0, int(np.searchsorted(self.times_s, time_s, side='right')) - 1)
        return float(self.goodput_mbps[index]), float(self.rtt_ms[index])

    def save_csv(self, path: str | Path) -> None:
        """Write `time_s,goodput_mbps,rtt_ms` rows."""
        with open(path, 'w', newline='') as stream:
            writer = csv.writer(stream)
            writer.writerow(['time_s', 'goodput_mbps', 'rtt_ms'])
            for row in zip(self.times_s, self.goodput_mbps, self.rtt_ms, strict=True):
                writer.writerow([f'{row[0]:.2f}', f'{row[1]:.4f}', f'{row[2]:.2f}'])

    @classmethod
    def load_csv(cls, path: str | Path) -> Trace:
        """Read what `save_csv` wrote; ValueError for a malformed file."""
        with open(path, newline='') as stream:
            rows = list(csv.DictReader(stream))
        if not rows:
            raise ValueError(f'{path}: no rows')
        try:
            times, goodput, rtt = (np.array([float(r[k]) for r in rows]) for k in ('time_s', 'goodput_mbps', 'rtt_ms'))
        except (KeyError, ValueError) as error:
            raise ValueError(f'{path}: needs numeric time_s, goodput_mbps, rtt_ms columns ({error})') from None
        if np.any(np.diff(times) <= 0) or np.any(goodput <= 0) or np.any(rtt < 0):
            raise ValueError(f'{path}: times must increase, goodput be > 0 and RTT >= 0')
        return cls(Path(path).stem, times, goodput, rtt)


def step_trace(high: float = 20.0, low: float = 2.0, phase_s: float = 60.0, rtt_ms: float = 5.0) -> Trace:
    """High, then low, then high again: the two-host test's drop and recovery."""
    times = np.arange(0.0, 3 * phase_s, 0.1)
    goodput = np.where((times >= phase_s) & (times < 2 * phase_s), low, high)
    return Trace('step', times, goodput, np.full_like(times, rtt_ms))


def ramp_trace(high: float = 30.0, low: float = 1.0, ramp_s: float = 90.0, rtt_ms: float = 5.0) -> Trace:
    """Down from `high` to `low` (geometrically) and back up."""
    times = np.arange(0.0, 2 * ramp_s, 0.1)
    fraction = 1.0 - np.abs(times - ramp_s) / ramp_s
    goodput = high * (low / high) ** fraction
    return Trace('ramp', times, goodput, np.full_like(times, rtt_ms))


def cellular_trace(seed: int = 7, duration_s: float = 300.0) -> Trace:
    """Bursty, cellular-like: a Markov chain of good/fair/poor/outage states with log-normal fading."""
    rng = np.random.default_rng(seed)
    states = {'good': (25.0, 20.0), 'fair': (8.0, 35.0), 'poor': (2.0, 60.0), 'outage': (0.3, 150.0)}
    names = list(states)
    switch = np.array(
        [
            [0.985, 0.012, 0.002, 0.001],
            [0.015, 0.970, 0.013, 0.002],
            [0.004, 0.025, 0.966, 0.005],
            [0.020, 0.030, 0.050, 0.900],
        ]
    )
    times = np.arange(0.0, duration_s, 0.1)
    goodput, rtt = np.empty_like(times), np.empty_like(times)
    state, fading = 0, 0.0
    for i in range(len(times)):
        state = int(rng.choice(len(names), p=switch[state]))
        fading = 0.9 * fading + rng.normal(0.0, 0.12)  # correlated over about a second
        mean_rate, mean_rtt = states[names[state]]
        goodput[i] = max(0.05, mean_rate * np.exp(fading))
        rtt[i] = mean_rtt * np.exp(rng.normal(0.0, 0.15))
    return Trace('cellular', times, goodput, rtt)


@dataclass(frozen=True)
class SimulationResult:
    """How one choice (or the policy) did on one trace."""

    label: str
    frames: int
    hit_rate: float  # frames with their intended answer within the deadline
    mean_accuracy: float  # mAP@.5 by the latency model's accounting of the answers given
    mean_bytes: float  # uplink bytes per frame
    changes: int = 0  # configuration changes (the policy)
    shares: tuple[tuple[str, float], ...] = ()  # share of frames under each choice, most used first


class _Link:
    """A FIFO uplink that follows a trace and drops what would queue longer than `max_queue_s`."""

    def __init__(self, trace: Trace, max_queue_s: float) -> None:
        self.trace, self.max_queue_s, self.free_at = trace, max_queue_s, 0.0

    def send(self, time_s: float, size: int) -> tuple[float, float] | None:
        """(time the last byte leaves, seconds spent queued and sending), or None when dropped."""
        start = max(time_s, self.free_at)
        if start - time_s > self.max_queue_s:
            return None
        goodput, _ = self.trace.at(start)
        self.free_at = start + size * 8 / (goodput * 1e6)
        return self.free_at, self.free_at - time_s


class Simulator:
    """Runs choices over a trace with common random stage times."""

    def __init__(
        self,
        model: LatencyModel,
        trace: Trace,
        deadline_ms: float = 100.0,
        fps: float = 10.0,
        seed: int = 0,
        max_queue_s: float = 0.5,
    ) -> None:
        """Draw every frame's stage times once."""
        self.model, self.trace, self.deadline_s, self.fps = model, trace, deadline_ms / 1e3, fps
        self.max_queue_s = max_queue_s
        self.frames = int(trace.duration_s * fps)
        self.rng = np.random.default_rng(seed)
        self.uniforms = {name: self.rng.random(self.frames) for name in ('vehicle', 'code', 'edge', 'exit')}
        self._cache: dict[tuple, np.ndarray] = {}

    def _draw(self, key: tuple, distribution: Distribution, stream: str) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = distribution.draw(self.uniforms[stream])
        return self._cache[key]

    def _frame_work(self, choice: Choice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per frame: seconds on the vehicle before sending, bytes, seconds on the edge."""
        vehicle, edge = self.model.vehicle, self.model.edge
        if choice.mode == 'local':
            zeros = np.zeros(self.frames)
            return self._draw(('full', 'v'), vehicle.full_ms, 'vehicle') / 1e3, zeros, zeros
        if choice.mode == 'offload-image':
            q = choice.jpeg_quality
            return (
                self._draw(('jpeg_enc', q), vehicle.jpeg_encode_ms[q], 'vehicle') / 1e3,
                self._draw(('jpeg_bytes', q), vehicle.jpeg_bytes[q], 'code'),
                (
                    self._draw(('jpeg_dec', q), edge.jpeg_decode_ms[q], 'edge')
                    + self._draw(('full', 'e'), edge.full_ms, 'edge')
                )
                / 1e3,
            )
        split, codec = choice.split, choice.codec
        return (
            (
                self._draw(('head', split), vehicle.head_ms[split], 'vehicle')
                + self._draw(('encode', split, codec), vehicle.encode_ms[split][codec], 'vehicle')
            )
            / 1e3,
            self._draw(('bytes', split, codec), vehicle.code_bytes[split][codec], 'code'),
            (
                self._draw(('decode', split, codec), edge.decode_ms[split][codec], 'edge')
                + self._draw(('tail', split), edge.tail_ms[split], 'edge')
            )
            / 1e3,
        )

    def run(
        self, chooser: Choice | Policy, probe_hz: float = 5.0, probe_sizes=(256, 8192), decision_period_s: float = 0.5
    ) -> SimulationResult:
        """Simulate every frame under a fixed choice or under the policy (which probes and decides)."""
        adaptive = isinstance(chooser, Policy)
        link, estimator, events = _Link(self.trace, self.max_queue_s), LinkEstimator(), []
        choice = chooser if isinstance(chooser, Choice) else None
        edge_free = vehicle_free = 0.0
        next_probe = next_decision = 0.0
        probe_phase = np.random.default_rng(1)
        probe_index = changes = changes_seen = hits = 0
        accuracy_sum = bytes_sum = 0.0
        work: dict[Choice, tuple] = {}
        used: dict[str, int] = {}
        for frame in range(self.frames):
            now = frame / self.fps
            while adaptive and next_probe <= now:  # probes share the uplink; replies come back over the RTT
                size = probe_sizes[probe_index % len(probe_sizes)]
                probe_index += 1
                sent = link.send(next_probe, size)
                rtt = self.trace.at(next_probe)[1] / 1e3
                reply = (sent[0] + rtt, size, sent[1] + rtt) if sent else (next_probe + 1.0, size, None)
                heapq.heappush(events, (reply[0], 'probe', reply[1], reply[2]))
                next_probe += (0.5 + float(probe_phase.random())) / probe_hz  # not phase-locked to the camera
            while events and events[0][0] <= now:  # what the monitor has seen by now
                when, kind, size, seconds = heapq.heappop(events)
                if kind == 'probe':
                    estimator.add_probe(when, size, seconds)
                else:
                    estimator.add_transfer(when, size, seconds)
            if adaptive and (now >= next_decision or estimator.changes != changes_seen):
                changes_seen = estimator.changes  # a detected change is acted on at once
                estimate = estimator.estimate(now)
                if estimate.probes >= 2 * len(probe_sizes) or choice is None:
                    decision = chooser.decide(now, LinkState.from_estimate(estimate))
                    changes += decision.changed and choice is not None
                    choice = decision.choice
                if now >= next_decision:
                    next_decision += decision_period_s
            if choice not in work:
                work[choice] = (*self._frame_work(choice), *self.model.accounting(choice))
            vehicle_s, sizes, edge_s, exit_rate, intended, miss_penalty = work[choice]
            used[choice.label] = used.get(choice.label, 0) + 1
            start = max(now, vehicle_free)
            vehicle_free = start + vehicle_s[frame]
            if choice.mode == 'local' or self.uniforms['exit'][frame] < exit_rate:
                hit = bool(vehicle_free - now <= self.deadline_s)
                hits += hit
                accuracy_sum += intended
                continue
            size = int(sizes[frame])
            bytes_sum += size
            sent = link.send(vehicle_free, size)
            answered_at = None
            if sent is not None:
                rtt = self.trace.at(sent[0])[1] / 1e3
                edge_start = max(sent[0] + rtt / 2, edge_free)
                edge_free = edge_start + edge_s[frame]
                answered_at = edge_free + rtt / 2
                if adaptive:  # what the monitor sees: the round trip minus the edge's work
                    heapq.heappush(events, (answered_at, 'transfer', size, answered_at - vehicle_free - edge_s[frame]))
            hit = answered_at is not None and answered_at - now <= self.deadline_s
            hits += hit
            accuracy_sum += intended - (0.0 if hit else miss_penalty)
        label = 'adaptive' if adaptive else choice.label
        shares = tuple(
            (name, round(count / self.frames, 4)) for name, count in sorted(used.items(), key=lambda item: -item[1])
        )
        return SimulationResult(
            label,
            self.frames,
            float(hits / self.frames),
            float(accuracy_sum / self.frames),
            float(bytes_sum / self.frames),
            int(changes),
            shares,
        )
