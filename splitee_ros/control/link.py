# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Windowed link statistics from ping-pong probes and real transfers: RTT, goodput, loss, with change detection.

A window of several seconds keeps the estimates steady; a sudden change must not wait for it to roll over.
So every new sample compares the last `change_window_s` with the rest of the window: when the median
goodput of real transfers or the median RTT of the smallest probes differs by more than `change_ratio`,
the older samples are dropped and the estimate restarts from the recent ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LinkEstimate:
    """The link over the last window; None where there is nothing to estimate from yet."""

    rtt_ms: float | None  # median round trip of the smallest probes
    goodput_mbps: float | None  # from probe size differences and real transfers
    loss: float  # fraction of probes without a reply
    probes: int
    changes: int = 0  # changes detected so far
    last_change: float | None = None  # when the last one was detected


class LinkEstimator:
    """Probes and transfers seen in the last `window_s` seconds."""

    def __init__(self, window_s: float = 5.0, change_window_s: float = 1.0, change_ratio: float = 2.0) -> None:
        """Keep samples for `window_s` seconds; look for changes over the last `change_window_s`."""
        self.window_s = window_s
        self.change_window_s = change_window_s
        self.change_ratio = change_ratio
        self.probes: deque[tuple[float, int, float | None]] = deque()  # (time, bytes, rtt_s or None if lost)
        self.transfers: deque[tuple[float, int, float]] = deque()  # (time, bytes, seconds on the link)
        self.changes = 0
        self.last_change: float | None = None

    def add_probe(self, now: float, size: int, rtt_s: float | None) -> None:
        """A probe of `size` bytes came back after `rtt_s` (None: it was lost)."""
        self.probes.append((now, size, rtt_s))
        self._trim(now)
        self._detect_change(now)

    def add_transfer(self, now: float, size: int, seconds: float) -> None:
        """A real frame of `size` bytes spent `seconds` on the link (round trip minus the edge's work)."""
        if seconds > 0:
            self.transfers.append((now, size, seconds))
        self._trim(now)
        self._detect_change(now)

    def _detect_change(self, now: float) -> None:
        if self.last_change is not None and now - self.last_change < self.change_window_s:
            return  # the restarted window still holds samples from before the change
        split = now - self.change_window_s
        smallest = min((size for _, size, rtt in self.probes if rtt is not None), default=None)
        rtts = [(t, rtt) for t, size, rtt in self.probes if rtt is not None and size == smallest]
        rates = [(t, size * 8 / seconds) for t, size, seconds in self.transfers]
        for samples, least_recent, floor in ((rates, 3, 0.0), (rtts, 2, 0.005)):
            recent = [value for t, value in samples if t >= split]
            older = [value for t, value in samples if t < split]
            if len(recent) < least_recent or len(older) < 3:
                continue
            new, old = float(np.median(recent)), float(np.median(older))
            if abs(new - old) > floor and max(new, old) > self.change_ratio * max(min(new, old), 1e-12):
                self._restart(split, now)
                return

    def _restart(self, since: float, now: float) -> None:
        for samples in (self.probes, self.transfers):
            while samples and samples[0][0] < since:
                samples.popleft()
        self.changes += 1
        self.last_change = now

    def _trim(self, now: float) -> None:
        for samples in (self.probes, self.transfers):
            while samples and samples[0][0] < now - self.window_s:
                samples.popleft()

    def estimate(self, now: float) -> LinkEstimate:
        """Statistics over the window ending at `now`."""
        self._trim(now)
        answered = [(size, rtt) for _, size, rtt in self.probes if rtt is not None]
        loss = 1.0 - len(answered) / len(self.probes) if self.probes else 0.0
        by_size: dict[int, list[float]] = {}
        for size, rtt in answered:
            by_size.setdefault(size, []).append(rtt)
        rtt_ms = float(np.median(by_size[min(by_size)])) * 1e3 if by_size else None
        rates = []
        if len(by_size) >= 2:
            small, large = min(by_size), max(by_size)
            extra = float(np.median(by_size[large]) - np.median(by_size[small]))
            if extra > 0:
                rates.append((large - small) * 8 / extra / 1e6)
        rates += [size * 8 / seconds / 1e6 for _, size, seconds in self.transfers]
        goodput = float(np.median(rates)) if rates else None
        return LinkEstimate(rtt_ms, goodput, loss, len(self.probes), self.changes, self.last_change)


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
