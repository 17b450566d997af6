# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Windowed link statistics from ping-pong probes and real transfers: RTT, goodput, loss, overhead.

Probes of a few sizes measure the link: the smallest ones its RTT, each larger one a goodput sample from its
extra round-trip time over the smallest ones' (or, where the link is too fast to tell them apart, the bound
its whole round trip gives). Real frames measure what the link model leaves out: a frame's time on the link
(round trip minus the edge's work) beyond RTT and bytes / goodput is the path's overhead (protocol,
executors, queues), kept as a distribution; the last `kept_transfers` stay past the window, so an idle
uplink keeps what it last measured.

A window of several seconds keeps the estimates steady; a sudden change must not wait for it to roll over.
So every new sample compares the last `change_window_s` with the rest of the window: when the median RTT
or goodput differs by more than `change_ratio`, the older samples are dropped and the estimate restarts
from the recent ones.

The spread that the latency model draws from is the link's volatility over `volatility_window_s`: how far
each new sample fell from the median of its time (as a ratio), applied to the current median. A link that
has dropped suddenly before keeps that risk in its spread after the window has restarted.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from splitee_ros.control.profile import LEVELS


@dataclass(frozen=True)
class LinkEstimate:
    """The link over the last window; None where there is nothing to estimate from yet."""

    rtt_ms: float | None  # median round trip of the smallest probes
    goodput_mbps: float | None  # median of the larger probes' goodput samples
    loss: float  # fraction of probes without a reply
    probes: int
    changes: int = 0  # changes detected so far
    last_change: float | None = None  # when the last one was detected
    rtt_quantiles_ms: tuple[float, ...] | None = None  # the spread behind rtt_ms, at profile.LEVELS
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
    ) -> None:
        """Keep samples for `window_s` seconds, look for changes over the last `change_window_s`."""
        self.window_s = window_s
        self.change_window_s = change_window_s
        self.change_ratio = change_ratio
        self.volatility_window_s = volatility_window_s
        self.kept_transfers = kept_transfers
        self.probes: deque[tuple[float, int, float | None]] = deque()  # (time, bytes, rtt_s or None if lost)
        self.samples: dict[str, deque[tuple[float, float]]] = {'rtt': deque(), 'goodput': deque()}
        self.overheads: deque[tuple[float, float]] = deque()  # (time, ms)
        self.swings: dict[str, deque[tuple[float, float]]] = {'rtt': deque(), 'goodput': deque()}  # (time, log ratio)
        self.changes = 0
        self.last_change: float | None = None

    def add_probe(self, now: float, size: int, rtt_s: float | None) -> None:
        """A probe of `size` bytes came back after `rtt_s` (None: it was lost)."""
        self.probes.append((now, size, rtt_s))
        self._trim(now)
        if rtt_s is None:
            return
        smallest = min(s for _, s, r in self.probes if r is not None)
        if size == smallest:
            self._add('rtt', now, rtt_s * 1e3)
            return
        small_rtts = [r for _, s, r in self.probes if r is not None and s == smallest]
        extra = rtt_s - float(np.median(small_rtts))
        rate = (size - smallest) * 8 / extra if extra > 2e-4 else size * 8 / rtt_s  # too fast to tell: a bound
        self._add('goodput', now, rate / 1e6)

    def add_transfer(self, now: float, size: int, seconds: float) -> None:
        """A real frame of `size` bytes spent `seconds` on the link (round trip minus the edge's work)."""
        goodput = self._median('goodput')
        rtt = self._median('rtt')
        if goodput is None or rtt is None:
            return
        self.overheads.append((now, max(0.0, seconds * 1e3 - rtt - size * 8 / (goodput * 1e3))))
        self._trim(now)

    def _add(self, kind: str, now: float, value: float) -> None:
        earlier = [v for _, v in self.samples[kind]]
        swings = self.swings[kind]
        if len(earlier) >= 3:
            swings.append((now, float(np.log(max(value, 1e-9) / max(float(np.median(earlier)), 1e-9)))))
        while swings and swings[0][0] < now - self.volatility_window_s:
            swings.popleft()
        self.samples[kind].append((now, value))
        self._detect_change(now)

    def _median(self, kind: str) -> float | None:
        values = [v for _, v in self.samples[kind]]
        return float(np.median(values)) if values else None

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
                self._restart(split, now)
                return

    def _restart(self, since: float, now: float) -> None:
        for samples in (self.probes, self.overheads, *self.samples.values()):
            while samples and samples[0][0] < since:
                samples.popleft()
        self.changes += 1
        self.last_change = now

    def _trim(self, now: float) -> None:
        for samples in (self.probes, *self.samples.values()):
            while samples and samples[0][0] < now - self.window_s:
                samples.popleft()
        while len(self.overheads) > self.kept_transfers and self.overheads[0][0] < now - self.window_s:
            self.overheads.popleft()

    def _spread(self, kind: str, typical: float) -> tuple[float, ...]:
        """The typical value times the volatility's ratios, or the window's own spread while that is short."""
        swings = [ratio for _, ratio in self.swings[kind]]
        if len(swings) >= 10:
            return _quantiles(typical * np.exp(np.asarray(swings)))
        return _quantiles(np.asarray([v for _, v in self.samples[kind]]))

    def estimate(self, now: float) -> LinkEstimate:
        """Statistics over the window ending at `now`."""
        self._trim(now)
        answered = sum(rtt is not None for _, _, rtt in self.probes)
        loss = 1.0 - answered / len(self.probes) if self.probes else 0.0
        rtt, goodput = self._median('rtt'), self._median('goodput')
        overheads = [v for _, v in self.overheads]
        return LinkEstimate(
            rtt, goodput, loss, len(self.probes), self.changes, self.last_change,
            self._spread('rtt', rtt) if rtt is not None else None,
            self._spread('goodput', goodput) if goodput is not None else None,
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
        for key, values in numbers.items():
            result[f'{key}_p50' if key != 'bytes' else 'bytes_mean'] = float(
                np.median(values) if key != 'bytes' else np.mean(values)
            )
        return result
