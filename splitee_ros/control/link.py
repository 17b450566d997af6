# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Windowed link statistics from real frames first, and ping-pong probes where frames say nothing.

Real frames are the main measurement (passive: they cost the link nothing). Each frame the edge answers, in
time or late, gives its time on the link (round trip minus the edge's work): beyond the RTT, that is its
bytes' transfer, a goodput sample. But a transfer within the path's timing noise (`resolution_ms`: the
spread of the small probes' round trips, the executors' jitter on a loaded machine) says little more than a
lower bound, and keeping only the transfers that stand out of it would keep the slow ones. So the size
decides: bytes that take less than `MEASURABLE_RESOLUTIONS` resolutions at the current estimate (a small
code on a fast link) bound the goodput, larger ones measure it. A frame the edge never answers counts as lost.
What the link model leaves out of a frame's time (protocol, executors, queues beyond RTT + bytes / goodput) is
the path's overhead, kept as a distribution; the last `kept_transfers` stay past the window, so an idle
uplink keeps what it last measured.

Probes fill in: small ones measure the RTT (they cost little), larger ones give goodput samples from their
extra round trip over the small ones' (or, where it is within the noise, the bound their whole round trip
gives). The caller sends the larger ones only while `goodput_stale` (no goodput sample for `stale_s`: the
uplink is idle, e.g. exits or local mode; its frames are all lost; or they are too small to measure it).

A window of several seconds keeps the estimates steady; a sudden change must not wait for it to roll over.
So every new sample compares the last `change_window_s` with the rest of the window: when the median RTT
or goodput differs by more than `change_ratio`, the older samples are dropped and the estimate restarts
from the recent ones.

The spread that the latency model draws from is the goodput's volatility over `volatility_window_s`: how far
each new sample fell from the median of its time (as a ratio), applied to the current median. A link that
has dropped suddenly before keeps that risk in its spread after the window has restarted. (RTT swings show in
the frames' own times, so the RTT itself is taken as its lower quartile, without a spread.)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from splitee_ros.control.profile import LEVELS

MIN_RESOLUTION_MS = 0.2  # the shortest transfer told from the RTT on a quiet path
MEASURABLE_RESOLUTIONS = 2.0  # a transfer this many resolutions long measures the goodput
BASE_RTT_WINDOW_S = 10.0  # the path's RTT is the least seen over this long

# the time-stamped samples a LinkEstimator keeps (time first), which a change or the window drops
TimedSamples = deque[tuple[float, int, float | None]] | deque[tuple[float, bool]] | deque[tuple[float, float]]


@dataclass(frozen=True)
class LinkEstimate:
    """The link over the last window; None where there is nothing to estimate from yet."""

    rtt_ms: float | None  # the least of the small probes' round trips over BASE_RTT_WINDOW_S: the path's delay
    goodput_mbps: float | None  # median goodput sample (frames and larger probes)
    loss: float  # fraction of probes and frames without a reply
    probes: int  # probes and frames in the window
    changes: int = 0  # changes detected so far
    last_change: float | None = None  # when the last one was detected
    rtt_quantiles_ms: tuple[float, ...] | None = None  # a spread of rtt_ms, at profile.LEVELS (None: constant)
    goodput_quantiles_mbps: tuple[float, ...] | None = None  # the spread behind goodput_mbps
    overhead_quantiles_ms: tuple[float, ...] | None = None  # real frames' time beyond RTT + bytes / goodput


class LinkEstimator:
    """Probes and transfers seen in the last `window_s` seconds."""

    def __init__(
        self,
        window_s: float = 5.0,
        change_window_s: float = 1.0,
        change_ratio: float = 2.0,
        volatility_window_s: float = 30.0,
        kept_transfers: int = 20,
        stale_s: float = 2.0,
    ) -> None:
        """Keep samples for `window_s` seconds, look for changes over the last `change_window_s`."""
        self.window_s = window_s
        self.change_window_s = change_window_s
        self.change_ratio = change_ratio
        self.volatility_window_s = volatility_window_s
        self.kept_transfers = kept_transfers
        self.stale_s = stale_s
        self.probes: deque[tuple[float, int, float | None]] = deque()  # (time, bytes, rtt_s or None if lost)
        self.frames: deque[tuple[float, bool]] = deque()  # (time, answered)
        self.samples: dict[str, deque[tuple[float, float]]] = {'rtt': deque(), 'goodput': deque()}
        self.bounds: deque[tuple[float, float]] = deque()  # goodput lower bounds: transfers too fast to tell
        self.last_frame_sample: float | None = None  # when a frame last told something of the goodput
        self.overheads: deque[tuple[float, float]] = deque()  # (time, ms)
        self.swings: deque[tuple[float, float]] = deque()  # goodput's (time, log ratio to the median of its time)
        self.rtt_history: deque[tuple[float, float]] = deque()  # RTT samples over the volatility window: the noise
        self.changes = 0
        self.last_change: float | None = None

    def add_probe(self, now: float, size: int, rtt_s: float | None) -> bool:
        """A probe of `size` bytes came back after `rtt_s` (None: it was lost).

        Returns True when it was a goodput sample that disagrees with the estimate by more than `change_ratio`:
        one more sample soon would confirm a change (or not).
        """
        self.probes.append((now, size, rtt_s))
        self._trim(now)
        if rtt_s is None:
            return False
        smallest = min(s for _, s, r in self.probes if r is not None)
        if size == smallest:
            self._add('rtt', now, rtt_s * 1e3)
            self.rtt_history.append((now, rtt_s * 1e3))
            while self.rtt_history[0][0] < now - self.volatility_window_s:
                self.rtt_history.popleft()
            return False
        base = self._rtt()
        extra = rtt_s - (base / 1e3 if base is not None else 0.0)
        before = self._median('goodput')
        if extra * 1e3 > MIN_RESOLUTION_MS and self._measurable(size):
            value = (size - smallest) * 8 / extra / 1e6
            self._add('goodput', now, value)
        else:
            value = size * 8 / rtt_s / 1e6
            self._add_bound(now, value)
            if before is not None and value <= before:
                return False
        return before is not None and max(value, before) > self.change_ratio * max(min(value, before), 1e-12)

    def add_frame(self, now: float, size: int, seconds: float | None) -> None:
        """A real frame of `size` bytes spent `seconds` on the link (round trip minus the edge's work).

        None: the edge never answered it (lost, or never sent while the uplink was still busy).
        """
        self.frames.append((now, seconds is not None))
        self._trim(now)
        rtt = self._rtt()
        if seconds is None or rtt is None or seconds <= 1e-4:
            return  # lost; or nothing to measure against yet; or the edge's own work hid the transfer
        transfer_ms = seconds * 1e3 - rtt
        if transfer_ms <= MIN_RESOLUTION_MS or not self._measurable(size):  # only bounds the goodput from below
            self._add_bound(now, size * 8 / seconds / 1e6)
            return
        self.last_frame_sample = now
        goodput = self._median('goodput')
        if goodput is not None:
            self.overheads.append((now, max(0.0, transfer_ms - size * 8 / (goodput * 1e3))))
        self._add('goodput', now, size * 8 / transfer_ms / 1e3)

    def add_unanswered(self, now: float, size: int, waited_s: float) -> None:
        """A frame of `size` bytes has been on the link `waited_s` without an answer (it fell back).

        It bounds the goodput from above; one below the estimate proves the estimate high: it counts as a
        sample, so that a drop shows at the first frames that miss, not only when their answers come late.
        """
        rtt = self._rtt()
        if rtt is None or waited_s * 1e3 <= rtt:
            return
        bound = size * 8 / (waited_s * 1e3 - rtt) / 1e3
        median = self._median('goodput')
        if median is not None and bound < median:
            self._add('goodput', now, bound)

    def _add_bound(self, now: float, value: float) -> None:
        """A lower bound of the goodput; one above the estimate proves the estimate low: it counts as a sample."""
        self.bounds.append((now, value))
        median = self._median('goodput')
        if median is not None and value > median:
            self._add('goodput', now, value)

    def goodput_stale(self, now: float) -> bool:
        """No frame has measured the goodput for `stale_s`: probes must.

        The uplink is idle, loses everything, or is too fast for its frames' transfers to stand out.
        """
        return self.last_frame_sample is None or self.last_frame_sample < now - self.stale_s

    def _measurable(self, size: int) -> bool:
        """Whether `size` bytes take long enough at the current estimate to stand out of the timing noise."""
        goodput = self._goodput()
        return goodput is None or size * 8 / (goodput * 1e3) >= MEASURABLE_RESOLUTIONS * self.resolution_ms()

    def resolution_ms(self) -> float:
        """The shortest transfer that stands out of the path's timing noise (ms).

        Twice the small probes' RTT spread below their median over the volatility window (the path's noise
        outlives a change of rate): the lower half, since a probe queued behind a frame measures the frame.
        """
        values = [v for _, v in self.rtt_history]
        if len(values) < 4:
            return MIN_RESOLUTION_MS
        median, lower = np.quantile(values, [0.5, 0.25])
        return max(MIN_RESOLUTION_MS, 2.0 * float(median - lower))

    def _goodput(self) -> float | None:
        """The median sample; without samples the largest bound (a link too fast for what it carried)."""
        median = self._median('goodput')
        if median is not None or not self.bounds:
            return median
        return max(v for _, v in self.bounds)

    def _add(self, kind: str, now: float, value: float) -> None:
        earlier = [v for _, v in self.samples[kind]]
        if kind == 'goodput':
            if len(earlier) >= 3:
                self.swings.append((now, float(np.log(max(value, 1e-9) / max(float(np.median(earlier)), 1e-9)))))
            while self.swings and self.swings[0][0] < now - self.volatility_window_s:
                self.swings.popleft()
        self.samples[kind].append((now, value))
        self._detect_change(now)

    def _median(self, kind: str) -> float | None:
        values = [v for _, v in self.samples[kind]]
        return float(np.median(values)) if values else None

    def _rtt(self) -> float | None:
        """The path's own round trip: the least of the small probes' over the last `BASE_RTT_WINDOW_S`.

        A probe queued behind a frame measures the frame. While this vehicle's own frames keep the uplink
        busy, every probe queues, and an RTT taken from them (as a quantile of the window, which a change
        restarts) would count the queue as path delay: it hid the queue from the frames' transfer times,
        the goodput looked higher than the link, and no leaner code looked any better. As BBR's min-RTT
        filter, a rise of the path's delay shows here after `BASE_RTT_WINDOW_S`, and in the frames' own
        times (goodput, overhead) at once.
        """
        if not self.rtt_history:
            return None
        newest = self.rtt_history[-1][0]
        return min(v for t, v in self.rtt_history if t >= newest - BASE_RTT_WINDOW_S)

    def _detect_change(self, now: float) -> None:
        if self.last_change is not None and now - self.last_change < self.change_window_s:
            return  # the restarted window still holds samples from before the change
        split = now - self.change_window_s
        # RTT needs three recent samples and 10 ms: one probe queued behind the vehicle's own frame is no change
        for kind, floor, least in (('goodput', 0.0, 2), ('rtt', 10.0, 3)):
            recent = [v for t, v in self.samples[kind] if t >= split]
            older = [v for t, v in self.samples[kind] if t < split]
            if len(recent) < least or len(older) < 3:
                continue
            new, old = float(np.median(recent)), float(np.median(older))
            if abs(new - old) > floor and max(new, old) > self.change_ratio * max(min(new, old), 1e-12):
                self._restart(self._change_point(kind, split, new, old), now)
                return

    def _change_point(self, kind: str, split: float, new: float, old: float) -> float:
        """When the change happened: just after the last recent sample that still looks like the old value."""
        since = split
        for t, v in self.samples[kind]:
            if t >= split and abs(np.log(max(v, 1e-12) / old)) < abs(np.log(max(v, 1e-12) / new)):
                since = t + 1e-9
        return since

    def _restart(self, since: float, now: float) -> None:
        timed: list[TimedSamples] = [self.probes, self.frames, self.overheads, self.bounds, *self.samples.values()]
        for samples in timed:
            while samples and samples[0][0] < since:
                samples.popleft()
        self.changes += 1
        self.last_change = now

    def _trim(self, now: float) -> None:
        timed: list[TimedSamples] = [self.probes, self.frames, self.bounds, *self.samples.values()]
        for samples in timed:
            while samples and samples[0][0] < now - self.window_s:
                samples.popleft()
        while len(self.overheads) > self.kept_transfers and self.overheads[0][0] < now - self.window_s:
            self.overheads.popleft()

    def _spread(self, typical: float) -> tuple[float, ...] | None:
        """The typical goodput times the volatility's ratios, or the window's own spread while that is short.

        None (a constant) when there is nothing to spread (a goodput known only as a bound).
        """
        swings = [ratio for _, ratio in self.swings]
        if len(swings) >= 10:
            return _quantiles(typical * np.exp(np.asarray(swings)))
        values = [v for _, v in self.samples['goodput']]
        return _quantiles(np.asarray(values)) if values else None

    def estimate(self, now: float) -> LinkEstimate:
        """Statistics over the window ending at `now`."""
        self._trim(now)
        sent = len(self.probes) + len(self.frames)
        answered = sum(rtt is not None for _, _, rtt in self.probes) + sum(ok for _, ok in self.frames)
        loss = 1.0 - answered / sent if sent else 0.0
        rtt, goodput = self._rtt(), self._goodput()
        overheads = [v for _, v in self.overheads]
        return LinkEstimate(
            rtt, goodput, loss, sent, self.changes, self.last_change, None,
            self._spread(goodput) if goodput is not None else None,
            _quantiles(np.asarray(overheads)) if len(overheads) >= 3 else None,
        )  # fmt: skip


def _quantiles(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.quantile(values, LEVELS))


class StageStats:
    """Per-stage times and per-outcome counts from the nodes' telemetry over a window."""

    def __init__(self, window_s: float = 10.0) -> None:
        """Keep samples for `window_s` seconds."""
        self.window_s = window_s
        self.samples: deque[tuple[float, str, dict[str, str]]] = deque()

    def add(self, now: float, outcome: str, values: dict[str, str]) -> None:
        """One frame's telemetry."""
        self.samples.append((now, outcome, values))
        while self.samples and self.samples[0][0] < now - self.window_s:
            self.samples.popleft()

    def frame_rate_hz(self, now: float, outcomes: tuple[str, ...]) -> float:
        """Frames per second with one of `outcomes` in the window up to `now`; 0 while fewer than three say.

        Counted from the second time on, so that a burst at the window's start (one answer per camera of a
        batch) does not count as a rate.
        """
        times = [when for when, outcome, _ in self.samples if outcome in outcomes and when >= now - self.window_s]
        if len(times) < 3 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - times.count(times[0])) / (times[-1] - times[0])

    def summary(self) -> dict[str, float]:
        """Median of each `*_ms` value, count of each outcome, mean bytes."""
        numbers: dict[str, list[float]] = {}
        result: dict[str, float] = {}
        for _, outcome, values in self.samples:
            result[f'count_{outcome}'] = result.get(f'count_{outcome}', 0) + 1
            for key, value in values.items():
                if key.endswith('_ms') or key == 'bytes':
                    try:
                        numbers.setdefault(key, []).append(float(value))
                    except ValueError:
                        continue
        for key, measured in numbers.items():
            result[f'{key}_p50' if key != 'bytes' else 'bytes_mean'] = float(
                np.median(measured) if key != 'bytes' else np.mean(measured)
            )
        return result
