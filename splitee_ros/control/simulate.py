# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Trace-driven simulation of the vehicle/edge pair: a static choice, or the policy with its link monitor.

Frames come at `fps`. Stage times are drawn from the device profiles (the same draws for every choice, so
choices are compared on equal terms); the uplink is a FIFO queue whose rate and RTT follow a bandwidth
trace, and which drops what would wait longer than `max_queue_s` (as `tc tbf` does); the edge runs one
frame at a time. An exit answers after the head alone (it encodes nothing); a frame sent to the edge is
answered by the edge when that is in time, else by its fallback at the deadline (the best exit for a split,
nothing for an image); a frame to send whose head ends after the deadline is dropped, as the head node drops
it; an exit or a local answer after the deadline is late and counts as nothing. So the
accuracy reported is on-time accuracy, by the latency model's accounting, and hit rate counts the frames
with detections in time: their intended answer, or an exit's fallback (an empty fallback answers nothing).

The adaptive run is the monitor node's own code (`monitor.LinkMonitor`) fed with what the node would see,
at the times it would see it: the replies of its probes, which share the uplink with the frames, and the
head's and the tail's telemetry of every frame. It decides only from that.
"""

from __future__ import annotations

import csv
import heapq
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from splitee_ros.control.latency import Accounting, Choice, LatencyModel
from splitee_ros.control.monitor import LinkMonitor, MonitorSettings
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
    hit_rate: float  # frames with detections by the deadline (the intended answer or an exit's fallback)
    mean_accuracy: float  # on-time mAP@.5 by the latency model's accounting of what was published in time
    mean_bytes: float  # uplink bytes per frame
    changes: int = 0  # configuration changes (the policy)
    shares: tuple[tuple[str, float], ...] = ()  # share of frames under each choice, most used first
    probe_share: float = 0.0  # probe bytes against the bytes the link could carry over the run
    intended_rate: float = 0.0  # frames with their intended answer (exit, edge, local) by the deadline


@dataclass(frozen=True)
class FrameRecord:
    """One simulated frame: when it came, under which choice, and how it ended."""

    time_s: float
    choice: str
    hit: bool  # detections by the deadline (an empty fallback is none)
    accuracy: float
    bytes: int
    intended: bool  # the intended answer by the deadline


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

    def capacity_bytes(self, duration_s: float, step_s: float = 0.1) -> float:
        """Bytes the link could carry from 0 to `duration_s`."""
        times = np.arange(0.0, duration_s, step_s)
        return float(sum(self.trace.at(t)[0] for t in times) * step_s * 1e6 / 8)


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
        self.uniforms = {name: self.rng.random(self.frames) for name in ('vehicle', 'code', 'edge', 'exit', 'encode')}
        self._cache: dict[tuple[object, ...], np.ndarray] = {}
        self.records: list[FrameRecord] = []  # the frames of the last run

    def _draw(self, key: tuple[object, ...], distribution: Distribution, stream: str) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = distribution.draw(self.uniforms[stream])
        return self._cache[key]

    def _frame_work(self, choice: Choice) -> dict[str, np.ndarray]:
        """Per frame, in seconds and bytes: the vehicle's work before an answer or a send, and the edge's."""
        vehicle, edge = self.model.vehicle, self.model.edge
        zeros = np.zeros(self.frames)
        if choice.mode == 'local':
            full = self._draw(('full', 'v'), vehicle.full_ms, 'vehicle') / 1e3
            return {'head': full, 'encode': zeros, 'bytes': zeros, 'edge': zeros}
        if choice.mode == 'offload-image':
            q = choice.jpeg_quality
            decode = self._draw(('jpeg_dec', q), edge.jpeg_decode_ms[q], 'edge') / 1e3
            tail = self._draw(('full', 'e'), edge.full_ms, 'edge') / 1e3
            return {
                'head': zeros, 'encode': self._draw(('jpeg_enc', q), vehicle.jpeg_encode_ms[q], 'encode') / 1e3,
                'bytes': self._draw(('jpeg_bytes', q), vehicle.jpeg_bytes[q], 'code'), 'edge': decode + tail,
            }  # fmt: skip
        split, codec = choice.split, choice.codec
        decode = self._draw(('decode', split, codec), edge.decode_ms[split][codec], 'edge') / 1e3
        tail = self._draw(('tail', split), edge.tail_ms[split], 'edge') / 1e3
        return {
            'head': self._draw(('head', split), vehicle.head_ms[split], 'vehicle') / 1e3,
            'encode': self._draw(('encode', split, codec), vehicle.encode_ms[split][codec], 'encode') / 1e3,
            'bytes': self._draw(('bytes', split, codec), vehicle.code_bytes[split][codec], 'code'),
            'edge': decode + tail,
        }  # fmt: skip

    def run(
        self, chooser: Choice | Policy, monitor_settings: MonitorSettings | None = None, start: Choice | None = None
    ) -> SimulationResult:
        """Simulate every frame under a fixed choice, or under the policy with its monitor.

        The monitor probes and decides; until its first decision the head runs `start`, as launched. Events
        (frames, sends, probe ticks, replies, telemetry) happen in time order, so probes and frames share the
        uplink's queue as they would.
        """
        adaptive = isinstance(chooser, Policy)
        run = _Run(self, chooser, start, monitor_settings or MonitorSettings())
        events = run.events
        for frame in range(self.frames):
            events.push(frame / self.fps, 'frame', frame)
        if adaptive:
            events.push(0.0, 'tick', None)
        while events:
            run.handle(*events.pop())
        label = 'adaptive' if adaptive else run.choice.label
        shares = tuple(
            (name, round(count / self.frames, 4)) for name, count in sorted(run.used.items(), key=lambda i: -i[1])
        )
        monitor = run.monitor
        probe_share = monitor.probe_bytes / run.link.capacity_bytes(self.trace.duration_s) if monitor else 0.0
        self.records = sorted(run.records, key=lambda r: r.time_s)
        return SimulationResult(
            label, self.frames, sum(r.hit for r in run.records) / self.frames,
            sum(r.accuracy for r in run.records) / self.frames, sum(r.bytes for r in run.records) / self.frames,
            run.changes, shares, float(probe_share), sum(r.intended for r in run.records) / self.frames,
        )  # fmt: skip


class _Events:
    """A time-ordered queue of what happens next."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, object]] = []
        self._order = 0

    def __bool__(self) -> bool:
        return bool(self._heap)

    def push(self, when: float, kind: str, payload: object) -> None:
        self._order += 1
        heapq.heappush(self._heap, (when, self._order, kind, payload))

    def pop(self) -> tuple[float, str, object]:
        when, _, kind, payload = heapq.heappop(self._heap)
        return when, kind, payload


class _Run:
    """The state of one simulated run: the head's choice, the vehicle, the uplink, the edge, the monitor."""

    def __init__(
        self, sim: Simulator, chooser: Choice | Policy, start: Choice | None, settings: MonitorSettings
    ) -> None:
        choice = chooser if isinstance(chooser, Choice) else start
        if choice is None:
            raise ValueError('an adaptive run needs the choice the head starts with')
        self.sim, self.events = sim, _Events()
        self.link = _Link(sim.trace, sim.max_queue_s)
        self.policy = chooser if isinstance(chooser, Policy) else None
        self.monitor = LinkMonitor(settings, sim.model, self.policy) if self.policy else None
        self.choice = choice
        if self.policy is not None:
            self.policy.start(choice, 0.0)
        self.vehicle_free = self.edge_free = 0.0
        self.changes = 0
        self.used: dict[str, int] = {}
        self.records: list[FrameRecord] = []
        self.work: dict[Choice, tuple[dict[str, np.ndarray], Accounting]] = {}

    def handle(self, when: float, kind: str, payload: Any) -> None:
        """Handle one event; its payload is what `kind` pushes (frame index, send or head arguments, probe id)."""
        monitor = self.monitor
        if kind == 'frame':
            self._frame(when, payload)
        elif kind == 'send':
            self._send(when, *payload)
        elif monitor is None:
            return  # a static choice: nobody watches
        elif kind == 'tick':  # the monitor's probe timer
            probe = monitor.next_probe(when)
            if probe is not None:
                sent = self.link.send(when, probe[1])
                if sent is not None:  # a lost probe simply never comes back
                    self.events.push(sent[0] + self.sim.trace.at(sent[0])[1] / 1e3, 'reply', probe[0])
            if when + 0.02 < self.sim.trace.duration_s:
                self.events.push(when + 0.02, 'tick', None)
        elif kind == 'reply':
            monitor.probe_reply(when, payload)
        elif kind == 'head':
            monitor.on_head(when, *payload)

    def _frame(self, now: float, frame: int) -> None:
        sim, monitor = self.sim, self.monitor
        if monitor is not None and monitor.due(now):
            decision = monitor.decide(now)
            if decision is not None:
                self.changes += decision.changed
                self.choice = decision.choice
        choice = self.choice
        if choice not in self.work:
            self.work[choice] = (sim._frame_work(choice), sim.model.accounting(choice))
        stage, worth = self.work[choice]
        self.used[choice.label] = self.used.get(choice.label, 0) + 1
        head_done = max(now, self.vehicle_free) + stage['head'][frame]
        deadline = now + sim.deadline_s
        values = {**{k: str(v) for k, v in choice.parameters().items()}, 'split': choice.split,
                  'head_ms': str(stage['head'][frame] * 1e3)}  # fmt: skip
        if sim.uniforms['exit'][frame] < worth.exit_rate:  # an exit, or the whole model in local mode
            self.vehicle_free = head_done  # answers after the head alone: it encodes nothing
            hit = head_done <= deadline
            outcome = 'local' if choice.mode == 'local' else 'exit'
            self.events.push(head_done, 'head', (str(frame), outcome, values))
            self.records.append(FrameRecord(now, choice.label, hit, worth.exit_worth if hit else 0.0, 0, hit))
            return
        self.vehicle_free = head_done + stage['encode'][frame]
        values['bytes'] = str(int(stage['bytes'][frame]))
        self.events.push(self.vehicle_free, 'send', (frame, now, choice, values))

    def _send(self, when: float, frame: int, now: float, choice: Choice, values: dict[str, str]) -> None:
        sim = self.sim
        stage, worth = self.work[choice]
        size, key, deadline = int(values['bytes']), str(frame), now + sim.deadline_s
        if when >= deadline:  # the head overran the deadline: the vehicle drops the frame, sending nothing
            self.events.push(when, 'head', (key, 'dropped', {**values, 'reason': 'expired_in_head'}))
            self.records.append(FrameRecord(now, choice.label, False, 0.0, 0, False))
            return
        sent = self.link.send(when, size)
        answered_at = None
        if sent is not None:
            rtt = sim.trace.at(sent[0])[1] / 1e3
            arrived = sent[0] + rtt / 2
            queue = max(arrived, self.edge_free) - arrived
            self.edge_free = arrived + queue + stage['edge'][frame]
            answered_at = self.edge_free + rtt / 2
            values = {**values, 'edge_rtt_ms': str((answered_at - when) * 1e3), 'edge_queue_ms': str(queue * 1e3),
                      'edge_compute_ms': str(stage['edge'][frame] * 1e3)}  # fmt: skip
        hit = answered_at is not None and answered_at <= deadline
        if answered_at is not None and hit:
            self.events.push(answered_at, 'head', (key, 'edge', values))
        else:
            fallback = {k: v for k, v in values.items() if not k.startswith('edge_')}
            fallback |= {
                'latency_ms': str(sim.deadline_s * 1e3),
                'encode_ms': str(stage['encode'][frame] * 1e3),
            }
            self.events.push(deadline, 'head', (key, 'fallback', fallback))
            if answered_at is not None:
                self.events.push(answered_at, 'head', (key, 'late', values))
        # an image's fallback, or a split's without an exit, is empty: no answer
        waiting = choice.mode == 'split'
        accuracy = worth.sent_worth if hit else worth.fallback_worth * waiting
        self.records.append(FrameRecord(now, choice.label, hit or (waiting and worth.fallback_worth > 0), accuracy,
                                        size, hit))  # fmt: skip
