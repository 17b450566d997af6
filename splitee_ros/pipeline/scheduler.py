# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The edge's queue for a fleet: dynamic batching, earliest deadline first, fair share, busy and expired.

Every request carries the vehicle it came from, the graph it needs (`batch_key`: a split's tail, or the
whole model for an image) and its deadline in the edge's own clock (arrival plus the budget the vehicle gave,
less the network time the vehicle measured: there are no cross-machine clocks). Then:
- **Admission.** A request whose deadline has passed when it arrives is expired at once (its vehicle gave
  it no time left: the reply still measures the vehicle's link). One that could not finish by its deadline
  behind the work queued before it (earlier deadlines) is refused as busy at once, so that its vehicle falls
  back now rather than at its deadline.
  Each vehicle holds at most its fair share of the queue (`queue_capacity` over the vehicles with requests
  waiting, at least one batch); a full queue makes room for a vehicle under its share by refusing the
  latest-deadline request of the vehicle that holds the most.
- **Order.** Fair queueing across vehicles (start-time fair queueing, one unit per request), earliest
  deadline first among requests of the same round: a request's tag is one more than its vehicle's last
  queued tag, or than the tag now in service when its vehicle had nothing queued; the queue runs by tag,
  then deadline. A vehicle that floods the edge runs ahead in tags, so the others' frames go before its
  backlog rather than behind it, and its excess is refused as busy. The first request in that order decides
  which graph runs next; the batch takes that graph's requests in the same order, up to `max_batch`, and
  from each vehicle at most its share of the batch (`max_batch` over the vehicles heard from in the last
  second): a flood cannot lengthen the batches the others' frames wait for and run in.
- **Batching**, as Triton's dynamic batcher does: a batch runs when it is full, when its first request
  has waited `max_queue_delay_s`, or when waiting longer would make that request late.
- **Expiry.** A request whose deadline has passed is never computed; it is handed back as expired.

Thread-safe: transport callbacks submit, inference workers take batches; nothing here runs a model.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar('Item')
ACTIVE_WINDOW_S = 1.0  # a vehicle heard from within this long shares the batches


@dataclass
class Request(Generic[Item]):
    """One frame for the edge, with what the scheduler needs to know about it."""

    vehicle: str
    batch_key: str  # requests with the same key can run as one batch
    deadline: float  # seconds of the scheduler's clock; math.inf: no deadline
    item: Item
    arrived: float = 0.0  # set by submit
    tag: int = 0  # its place in the fair queue, set by submit


@dataclass
class Batch(Generic[Item]):
    """What a worker does next: run `requests` as one batch, and answer `expired` ones as such."""

    requests: list[Request[Item]] = field(default_factory=list)
    expired: list[Request[Item]] = field(default_factory=list)


@dataclass
class Refused(Generic[Item]):
    """Requests that `submit` turned away, to answer at once."""

    busy: list[Request[Item]] = field(default_factory=list)
    expired: list[Request[Item]] = field(default_factory=list)


@dataclass(frozen=True)
class SchedulerSettings:
    """The batcher's knobs (the tail node's parameters of the same names)."""

    max_batch: int = 8
    max_queue_delay_s: float = 0.004
    queue_capacity: int = 32
    workers: int = 1  # batches that run at once (engine instances)

    def __post_init__(self) -> None:
        """Refuse settings that cannot work."""
        if self.max_batch < 1 or self.queue_capacity < self.max_batch or self.workers < 1:
            raise ValueError(f'need max_batch >= 1, queue_capacity >= max_batch, workers >= 1: {self}')
        if not 0.0 <= self.max_queue_delay_s <= 1.0:
            raise ValueError(f'max_queue_delay_s must be within [0, 1], not {self.max_queue_delay_s}')


class ServiceTime:
    """How long a batch of n takes: `fixed + per_item * n`, learned from the batches run (per graph)."""

    def __init__(self, initial_s: float = 0.01, smoothing: float = 0.2) -> None:
        """Start from `initial_s` per batch of one."""
        self.smoothing = smoothing
        self._estimates: dict[str, tuple[float, float]] = {}  # key -> (time of a batch of one, extra per item)
        self.initial_s = initial_s

    def seconds(self, key: str, items: int) -> float:
        """Expected time of a batch of `items` on graph `key`."""
        single, extra = self._estimates.get(key, (self.initial_s, self.initial_s))
        return single + extra * max(0, items - 1)

    def observe(self, key: str, items: int, seconds: float) -> None:
        """A batch of `items` took `seconds`: move the estimate towards it."""
        single, extra = self._estimates.get(key, (seconds / max(items, 1), seconds / max(items, 1)))
        predicted = single + extra * (items - 1)
        error = (seconds - predicted) * self.smoothing
        if items == 1:
            single += error
        else:  # share the error between the fixed part and the per-item part
            single += error / 2
            extra += error / 2 / (items - 1)
        self._estimates[key] = (max(single, 1e-5), max(extra, 0.0))


class EdgeScheduler(Generic[Item]):
    """Requests in, batches out."""

    def __init__(self, settings: SchedulerSettings, clock: Callable[[], float] = time.monotonic) -> None:
        """Schedule with `settings`; `clock` is the deadlines' clock."""
        self.settings = settings
        self.clock = clock
        self.service = ServiceTime()
        self.counts: Counter[str] = Counter()
        self._queue: list[Request[Item]] = []
        self._last_tag: dict[str, int] = {}  # per vehicle, the tag of its latest accepted request
        self._serving_tag = 0  # the tag of the request that last went into service
        self._heard: dict[str, float] = {}  # per vehicle, when it last submitted
        self._running_batches = 0
        self._changed = threading.Condition()
        self._closed = False

    def submit(self, request: Request[Item]) -> Refused[Item]:
        """Queue `request`; return what is turned away at once: it (expired or busy), or one it displaced."""
        with self._changed:
            now = request.arrived = self.clock()
            self._heard[request.vehicle] = now
            queued_before = any(queued.vehicle == request.vehicle for queued in self._queue)
            request.tag = max(self._last_tag.get(request.vehicle, 0) if queued_before else 0, self._serving_tag) + 1
            if request.deadline <= now and not self._closed:
                self.counts['expired'] += 1
                return Refused(expired=[request])
            if self._closed or not self._can_finish(request, now):
                return Refused(busy=self._refuse([request]))
            share = self._share(request.vehicle)
            held = sum(queued.vehicle == request.vehicle for queued in self._queue)
            if held >= share:
                return Refused(busy=self._refuse([request]))
            refused: Refused[Item] = Refused()
            if len(self._queue) >= self.settings.queue_capacity:
                holders = Counter(queued.vehicle for queued in self._queue)
                biggest, count = max(holders.items(), key=lambda pair: pair[1])
                if count <= held + 1:  # nobody holds more than this vehicle would: no room for it
                    return Refused(busy=self._refuse([request]))
                victim = max((q for q in reversed(self._queue) if q.vehicle == biggest), key=lambda q: q.deadline)
                self._queue.remove(victim)
                refused.busy = self._refuse([victim])
            self._queue.append(request)
            self._last_tag[request.vehicle] = request.tag
            self.counts['accepted'] += 1
            self._changed.notify_all()
            return refused

    def take(self, timeout: float) -> Batch[Item]:
        """The next batch to run, and the requests that expired meanwhile (both empty after `timeout` s)."""
        end = time.monotonic() + timeout
        with self._changed:
            while True:
                now = self.clock()
                expired = [request for request in self._queue if request.deadline <= now]
                if expired:
                    self._queue = [request for request in self._queue if request.deadline > now]
                    self.counts['expired'] += len(expired)
                batch, wake_at = self._ready(now)
                if batch or expired:
                    if batch:
                        self._running_batches += 1
                        self.counts['batches'] += 1
                        self.counts['batched_requests'] += len(batch)
                    return Batch(batch, expired)
                wait = min(end - time.monotonic(), wake_at - now)
                if self._closed or wait <= 0:
                    return Batch()
                self._changed.wait(wait)

    def done(self, batch: Batch[Item], seconds: float) -> None:
        """A worker finished `batch` in `seconds`: learn the service time and free the worker."""
        with self._changed:
            if batch.requests:
                self.service.observe(batch.requests[0].batch_key, len(batch.requests), seconds)
                self._running_batches -= 1
            self._changed.notify_all()

    def close(self) -> list[Request[Item]]:
        """Stop: wake the workers, and return what was still queued (to answer as busy)."""
        with self._changed:
            self._closed = True
            left, self._queue = self._queue, []
            self._changed.notify_all()
            return self._refuse(left)

    def __len__(self) -> int:
        """Requests waiting."""
        with self._changed:
            return len(self._queue)

    def _refuse(self, requests: list[Request[Item]]) -> list[Request[Item]]:
        self.counts['busy'] += len(requests)
        return requests

    def _share(self, vehicle: str) -> int:
        """How many queued requests `vehicle` may hold: its fair share of the queue, at least one batch."""
        vehicles = {queued.vehicle for queued in self._queue} | {vehicle}
        return max(self.settings.max_batch, self.settings.queue_capacity // len(vehicles))

    def _batch_share(self, now: float) -> int:
        """How many requests of one vehicle a batch may take: `max_batch` over the vehicles heard lately."""
        self._heard = {vehicle: at for vehicle, at in self._heard.items() if now - at <= ACTIVE_WINDOW_S}
        return math.ceil(self.settings.max_batch / max(len(self._heard), 1))

    @staticmethod
    def _order(request: Request[Item]) -> tuple[int, float]:
        """A request's place in service order: its fair-queue tag, then its deadline."""
        return request.tag, request.deadline

    def _can_finish(self, request: Request[Item], now: float) -> bool:
        """Whether `request` can be answered by its deadline behind the work served before it."""
        if math.isinf(request.deadline) or (not self._queue and self._running_batches == 0):
            return True  # an idle edge always tries: else a stall's long estimate could refuse everything for good
        ahead = [queued for queued in self._queue if self._order(queued) <= self._order(request)]
        same = sum(queued.batch_key == request.batch_key for queued in ahead)
        batches = math.ceil((same + 1) / self.settings.max_batch)
        work = self.service.seconds(request.batch_key, min(same + 1, self.settings.max_batch)) * batches
        work += sum(self.service.seconds(q.batch_key, 1) for q in ahead if q.batch_key != request.batch_key)
        busy_workers = self._running_batches >= self.settings.workers
        wait = work / self.settings.workers + (self.service.seconds(request.batch_key, 1) if busy_workers else 0.0)
        return now + wait <= request.deadline

    def _ready(self, now: float) -> tuple[list[Request[Item]], float]:
        """A batch to run now (removed from the queue), or none and when to look again."""
        if not self._queue or self._running_batches >= self.settings.workers:
            return [], now + 0.1
        ordered = sorted(self._queue, key=self._order)
        first = ordered[0]
        batch, taken_from = [], Counter[str]()
        cap = self._batch_share(now)
        for request in ordered:
            if request.batch_key == first.batch_key and taken_from[request.vehicle] < cap:
                batch.append(request)
                taken_from[request.vehicle] += 1
                if len(batch) == self.settings.max_batch:
                    break
        run_at = first.arrived + self.settings.max_queue_delay_s
        latest_start = first.deadline - self.service.seconds(first.batch_key, len(batch) + 1)
        if len(batch) < self.settings.max_batch and now < min(run_at, latest_start):
            return [], min(run_at, latest_start)
        taken = {id(request) for request in batch}
        self._queue = [request for request in self._queue if id(request) not in taken]
        self._serving_tag = max(self._serving_tag, first.tag)
        return batch, now
