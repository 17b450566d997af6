# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Windowed link statistics from ping-pong probes and real transfers: RTT, goodput, loss."""

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


class LinkEstimator:
    """Probes and transfers seen in the last `window_s` seconds."""

    def __init__(self, window_s: float = 5.0) -> None:
        """Keep samples for `window_s` seconds."""
        self.window_s = window_s
        self.probes: deque[tuple[float, int, float | None]] = deque()  # (time, bytes, rtt_s or None if lost)
        self.transfers: deque[tuple[float, int, float]] = deque()  # (time, bytes, seconds on the link)

    def add_probe(self, now: float, size: int, rtt_s: float | None) -> None:
        """A probe of `size` bytes came back after `rtt_s` (None: it was lost)."""
        self.probes.append((now, size, rtt_s))
        self._trim(now)

    def add_transfer(self, now: float, size: int, seconds: float) -> None:
        """A real frame of `size` bytes spent `seconds` on the link (round trip minus the edge's work)."""
        if seconds > 0:
            self.transfers.append((now, size, seconds))
        self._trim(now)

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
        return LinkEstimate(rtt_ms, goodput, loss, len(self.probes))


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
