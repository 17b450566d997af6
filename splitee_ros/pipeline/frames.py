# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Frames waiting for the edge: exactly one result per frame, the edge's before the deadline, else a fallback.

Thread-safe: the inference worker adds frames, the edge-result callback resolves them, the deadline timer
expires them, all under one lock, none of them waiting on inference.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, NoReturn, TypeVar

Result = TypeVar('Result')
FrameKey = tuple[int, int, str]  # header stamp (sec, nanosec) and frame_id: what identifies a frame end to end


def elapsed_ms(start: float) -> float:
    """Milliseconds since `start` (a `time.perf_counter()` value)."""
    return (time.perf_counter() - start) * 1e3


class Outcome(enum.Enum):
    """How a frame's result came about (the telemetry's `outcome`)."""

    EXIT = 'exit'  # a confident early exit on the vehicle
    LOCAL = 'local'  # local mode: the whole model on the vehicle
    EDGE = 'edge'  # the edge's result, before the deadline
    FALLBACK = 'fallback'  # the deadline passed first: the best local exit (or nothing)
    LATE = 'late'  # an edge result after the frame's fallback (counted, not published)
    EXIT_CHECK = 'exit_check'  # the edge's answer to a frame an exit answered: how far they agree
    DROPPED = 'dropped'  # replaced by a newer image before the head got to it
    REJECTED = 'rejected'  # an input that could not be used (bad image, bad frame)


@dataclass
class Pending(Generic[Result]):
    """A frame sent to the edge: when it is due and what to publish if the edge is late.

    `info` holds the frame's telemetry values (small); `context` what publishing needs (header, image), dropped
    with the fallback once the frame is done, so that the record kept to recognise late answers stays small.
    """

    key: FrameKey
    sent_at: float  # registered; the sender thread sets it again when it hands the frame to DDS
    deadline: float
    fallback: Callable[[], Result]
    info: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    check: bool = False  # answered already by an exit: the edge's answer only checks it (no fallback)


class DispatchLead:
    """How early the deadline thread wakes, so that a fallback is published by its deadline.

    The thread's wake-ups come late by however long the OS and the interpreter take to run it (on a busy or
    throttled CPU, milliseconds to tens of them), and a fallback then takes its own time to build and publish.
    It wakes that much early: the 95th percentile of how long after its recent planned wake-ups their fallbacks
    were out, at most `max_s`; until it has `WARM_SAMPLES` of them (a node just started: its first fallbacks
    run cold code), `max_s`. An edge answer that comes within the lead after its frame fell back is lost
    (`PendingFrames` counts it as `late_within_lead`). Used by the deadline thread alone.
    """

    QUANTILE = 0.95
    WARM_SAMPLES = 20

    def __init__(self, max_s: float, samples: int = 200) -> None:
        """Lead by at most `max_s` (0: never early), from the last `samples` wake-up delays."""
        if max_s < 0:
            raise ValueError(f'the most lead must be >= 0 s, not {max_s}')
        self.max_s = max_s
        self._delays: deque[float] = deque(maxlen=samples)
        self.lead_s = max_s

    def record(self, delay_s: float) -> None:
        """A planned wake-up's fallbacks (if any were due) were out `delay_s` after it."""
        self._delays.append(max(0.0, delay_s))
        if len(self._delays) < min(self.WARM_SAMPLES, self._delays.maxlen or self.WARM_SAMPLES):
            return
        ordered = sorted(self._delays)
        self.lead_s = min(self.max_s, ordered[min(len(ordered) - 1, int(self.QUANTILE * len(ordered)))])


class LiveEdges:
    """How many edge result writers are alive, from DDS's liveliness-changed status.

    Fast DDS can count one writer's end twice (its lease expiring and its removal racing) and report an
    alive count of -1; a writer that comes alive later then reads 0. So the count is taken from the lowest
    it has fallen to: with its errors counted up from there, a live edge never reads as none.
    """

    def __init__(self) -> None:
        """Nothing heard yet: `count` is None until the first status."""
        self.count: int | None = None
        self._miscounted = 0  # how far below zero the reported count has fallen

    def update(self, alive_count: int) -> bool:
        """Record a status; True when it lost the last live edge."""
        self._miscounted = max(self._miscounted, -alive_count)
        before, self.count = self.count, alive_count + self._miscounted
        return bool(before) and self.count == 0


def _spent() -> NoReturn:
    raise RuntimeError('this frame is done: its fallback was released')


class PendingFrames(Generic[Result]):
    """Frames sent to the edge, by key; counts every outcome."""

    def __init__(self, limit: int = 256) -> None:
        """Keep at most `limit` frames (the oldest fall back first if the edge never answers)."""
        self._lock = threading.Lock()
        self._pending: dict[FrameKey, Pending[Result]] = {}
        # recent frames and how they ended, to tell late results from duplicates and unknown ones
        self._resolved: dict[FrameKey, tuple[Outcome, Pending[Result]]] = {}
        self.limit = limit
        self.counts: Counter[str] = Counter()

    def add(self, pending: Pending[Result]) -> list[Pending[Result]]:
        """Wait for `pending`; returns frames pushed out by the limit (the caller publishes their fallbacks)."""
        with self._lock:
            overflow = []
            if pending.key in self._pending:  # a camera that repeats a stamp: the earlier frame falls back now
                overflow.append(self._finish(pending.key, Outcome.FALLBACK))
            self._pending[pending.key] = pending
            while len(self._pending) > self.limit:
                oldest = next(iter(self._pending))
                overflow.append(self._finish(oldest, Outcome.FALLBACK))
            return overflow

    def resolve(self, key: FrameKey, refused: bool = False) -> tuple[Outcome, Pending[Result] | None]:
        """The edge's reply for `key` arrived: what it means, and the frame it answers.

        (EDGE, frame) if the frame was still waiting; with `refused` (the edge was busy, or the frame expired
        there) (FALLBACK, frame): the frame falls back now, not at its deadline. (LATE, frame) if it fell back
        already (its round trip still measures the link); else (REJECTED, None): a duplicate answer, or one
        for a frame never sent, each counted.
        """
        with self._lock:
            if key in self._pending:
                outcome = Outcome.FALLBACK if refused else Outcome.EDGE
                if refused:
                    self.counts['refused_by_edge'] += 1
                return outcome, self._finish(key, outcome)
            resolved = self._resolved.get(key)
            if resolved is not None and resolved[0] is Outcome.FALLBACK:
                pending = resolved[1]
                self.counts[Outcome.LATE.value] += 1
                if time.monotonic() < pending.deadline:  # it fell back early, by the deadline thread's lead
                    self.counts['late_within_lead'] += 1
                self._resolved[key] = (Outcome.LATE, pending)
                return Outcome.LATE, pending
            self.counts['unknown_edge_results' if resolved is None else 'duplicate_edge_results'] += 1
            return Outcome.REJECTED, None

    def expire(self, now: float) -> list[Pending[Result]]:
        """Frames whose deadline has passed, oldest first; they are done (fallback)."""
        with self._lock:
            due = [key for key, pending in self._pending.items() if pending.deadline <= now]
            return [self._finish(key, Outcome.FALLBACK) for key in due]

    def waiting(self, key: FrameKey) -> bool:
        """Whether frame `key` still waits for the edge (not answered, not fallen back)."""
        with self._lock:
            return key in self._pending

    def due_now(self, key: FrameKey, now: float) -> None:
        """Make a waiting frame due at `now`: it will never be sent, so its fallback need not wait its deadline."""
        with self._lock:
            if key in self._pending:
                self._pending[key].deadline = min(self._pending[key].deadline, now)

    def next_deadline(self) -> float | None:
        """The earliest deadline of the frames still waiting, or None."""
        with self._lock:
            return min((pending.deadline for pending in self._pending.values()), default=None)

    def count(self, outcome: Outcome) -> None:
        """Count a frame that never waited (exit, local, dropped, rejected)."""
        with self._lock:
            self.counts[outcome.value] += 1

    def __len__(self) -> int:
        """Frames still waiting."""
        with self._lock:
            return len(self._pending)

    def _finish(self, key: FrameKey, outcome: Outcome) -> Pending[Result]:
        pending = self._pending.pop(key)
        self._resolved[key] = (outcome, replace(pending, fallback=_spent, context={}))
        while len(self._resolved) > 4 * self.limit:
            del self._resolved[next(iter(self._resolved))]
        if pending.check:
            self.counts['exit_checks' if outcome is Outcome.EDGE else 'exit_checks_unanswered'] += 1
        else:
            self.counts[outcome.value] += 1
        return pending
