# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The edge's fleet scheduler: batching, earliest deadline first, fair share, busy at once, expiry."""

import math
import threading

import pytest

from splitee_ros.pipeline.scheduler import EdgeScheduler, Refused, Request, SchedulerSettings, ServiceTime


class Clock:
    """A clock that moves only when the test moves it."""

    def __init__(self) -> None:
        """Start at 100 s."""
        self.now = 100.0

    def __call__(self) -> float:
        """The time now."""
        return self.now


def scheduler(**settings) -> tuple[EdgeScheduler, Clock]:
    clock = Clock()
    edge = EdgeScheduler(SchedulerSettings(**settings), clock)
    edge.service.observe('stage2', 1, 0.001)  # a fast tail, so that admission is about the queue
    return edge, clock


def request(vehicle: str, deadline: float, key: str = 'stage2', item: int = 0) -> Request[int]:
    return Request(vehicle, key, deadline, item)


def test_a_full_batch_runs_at_once_and_a_partial_one_after_the_queue_delay():
    edge, clock = scheduler(max_batch=3, max_queue_delay_s=0.01)
    for index in range(4):
        assert edge.submit(request(f'v{index % 2}', clock.now + 1.0, item=index)) == Refused()
    batch = edge.take(0)
    assert [r.item for r in batch.requests] == [0, 1, 2]
    edge.done(batch, 0.003)
    assert edge.take(0).requests == []  # one request left: it waits for company
    clock.now += 0.011
    assert [r.item for r in edge.take(0).requests] == [3]


def test_earliest_deadline_first_across_vehicles_and_graphs():
    edge, clock = scheduler(max_batch=4, max_queue_delay_s=0.0)
    edge.submit(request('a', clock.now + 0.5, 'stage1', 1))
    edge.submit(request('b', clock.now + 0.2, 'stage2', 2))
    edge.submit(request('c', clock.now + 0.3, 'stage1', 3))
    edge.submit(request('a', clock.now + 0.4, 'stage2', 4))
    first = edge.take(0)
    assert [r.item for r in first.requests] == [2, 4]  # b's deadline is first: its graph runs, with a's frame
    edge.done(first, 0.002)
    assert [r.item for r in edge.take(0).requests] == [3, 1]


def test_a_request_whose_deadline_passed_is_not_computed_but_handed_back():
    edge, clock = scheduler(max_batch=4, max_queue_delay_s=0.05)
    late = edge.submit(request('a', clock.now, item=0))  # no time left when it arrives
    assert [r.item for r in late.expired] == [0] and late.busy == []
    edge.submit(request('a', clock.now + 0.02, item=1))
    edge.submit(request('b', clock.now + 5.0, item=2))
    clock.now += 0.03
    batch = edge.take(0)
    assert [r.item for r in batch.expired] == [1] and edge.counts['expired'] == 2
    assert batch.requests == []  # b's frame still waits for its queue delay


def test_a_request_that_cannot_finish_in_time_is_busy_at_once():
    edge, clock = scheduler(max_batch=1, max_queue_delay_s=0.0)
    edge.service = ServiceTime(initial_s=0.05)
    for index in range(4):  # 50 ms each, one at a time: the fourth finishes at 200 ms
        assert edge.submit(request('a', clock.now + 0.2, item=index)) == Refused()
    refused = edge.submit(request('a', clock.now + 0.22, item=9)).busy  # its vehicle's four frames go first
    assert [r.item for r in refused] == [9] and edge.counts['busy'] == 1
    assert edge.submit(request('a', clock.now + 0.3, item=10)) == Refused()  # with a later deadline it still fits
    assert edge.submit(request('b', clock.now + 0.06, item=11)) == Refused()  # another vehicle's first goes first


def test_an_idle_edge_takes_a_request_whatever_its_estimate():
    edge, clock = scheduler(max_batch=1, max_queue_delay_s=0.0)
    edge.service = ServiceTime(initial_s=5.0)  # a stall taught it that a frame takes 5 s
    assert edge.submit(request('a', clock.now + 0.2, item=1)) == Refused()  # idle: it tries, and learns
    assert [r.item for r in edge.submit(request('a', clock.now + 0.2, item=2)).busy] == [2]  # busy behind it


def test_round_robin_across_vehicles_then_earliest_deadline():
    edge, clock = scheduler(max_batch=1, max_queue_delay_s=0.0)
    for index in range(4):  # a's backlog
        edge.submit(request('a', clock.now + 1.0 + index, item=f'a{index}'))
    edge.submit(request('b', clock.now + 3.5, item='b0'))  # later, and due later than most of a's
    edge.submit(request('c', clock.now + 0.5, item='c0'))
    order = []
    while len(edge):
        batch = edge.take(0)
        order += [taken.item for taken in batch.requests]
        edge.done(batch, 0.001)
    assert order == ['c0', 'a0', 'b0', 'a1', 'a2', 'a3']  # every vehicle's first, by deadline; then a's others


def test_a_batch_takes_each_vehicle_s_share_of_it():
    edge, clock = scheduler(max_batch=8, max_queue_delay_s=0.0, queue_capacity=32)
    for index in range(8):
        edge.submit(request('f', math.inf, item=f'f{index}'))
    edge.submit(request('a', math.inf, item='a0'))
    edge.submit(request('b', math.inf, item='b0'))
    first = edge.take(0)  # three vehicles heard: at most ceil(8 / 3) = 3 of one vehicle's frames per batch
    assert sorted(r.item for r in first.requests) == ['a0', 'b0', 'f0', 'f1', 'f2']
    edge.done(first, 0.01)
    clock.now += 2.0  # a and b fall silent: the flood may fill the batches again
    edge.submit(request('f', math.inf, item='f8'))
    assert [r.item for r in edge.take(0).requests] == ['f3', 'f4', 'f5', 'f6', 'f7', 'f8']


def test_a_flooding_vehicle_keeps_its_share_and_cannot_push_the_others_out():
    edge, _ = scheduler(max_batch=2, queue_capacity=8)
    refused_flood = []
    for index in range(20):  # vehicle f floods the queue
        refused_flood += edge.submit(request('f', math.inf, item=index)).busy
    assert len(edge) == 8 and len(refused_flood) == 12
    for index in range(3):  # the others are still taken: f's latest requests make room
        refused = edge.submit(request(f'v{index}', math.inf, item=100 + index)).busy
        assert [(r.vehicle, r.item) for r in refused] == [('f', 7 - index)]
    vehicles = [r.vehicle for r in edge._queue]
    assert {'v0', 'v1', 'v2'} <= set(vehicles)
    assert len(edge) == 8 and vehicles.count('f') == 5


def test_fair_share_holds_under_a_sustained_flood():
    """One vehicle at 10x the others' rate saturates the edge: the others are all served in time, it is busy."""
    edge, clock = scheduler(max_batch=4, queue_capacity=16, max_queue_delay_s=0.002)
    edge.service = ServiceTime(initial_s=0.01)
    outcomes = {vehicle: {'served': 0, 'busy': 0, 'expired': 0, 'waits': []} for vehicle in 'fab'}
    for tick in range(1000):  # 1 ms ticks; the edge runs a batch of up to four per 10 ms (0.4 frames/ms)
        clock.now += 0.001
        for vehicle in ['f'] + (['a', 'b'] if tick % 10 == 0 else []):  # f: 1 frame/ms, a and b: 0.1
            for refused in edge.submit(request(vehicle, clock.now + 0.25)).busy:
                outcomes[refused.vehicle]['busy'] += 1
        if tick % 10 == 5:
            batch = edge.take(0)
            for taken in batch.requests:
                outcomes[taken.vehicle]['served'] += 1
                outcomes[taken.vehicle]['waits'].append(clock.now - taken.arrived)
            for expired in batch.expired:
                outcomes[expired.vehicle]['expired'] += 1
            edge.done(batch, 0.01)
    for vehicle in 'ab':
        assert outcomes[vehicle]['busy'] == outcomes[vehicle]['expired'] == 0
        assert outcomes[vehicle]['served'] >= 95  # of 100: all but those still queued at the end
        assert max(outcomes[vehicle]['waits']) <= 0.02  # within two batches: behind at most one of the flood's
    assert outcomes['f']['busy'] > 0.5 * 1000


def test_workers_limit_the_batches_in_flight():
    edge, _ = scheduler(max_batch=1, max_queue_delay_s=0.0, workers=1)
    edge.submit(request('a', math.inf, item=1))
    edge.submit(request('a', math.inf, item=2))
    first = edge.take(0)
    assert edge.take(0).requests == []  # the only worker is busy
    edge.done(first, 0.001)
    assert [r.item for r in edge.take(0).requests] == [2]


def test_take_waits_for_a_submit_and_close_wakes_it():
    edge = EdgeScheduler(SchedulerSettings(max_batch=1, max_queue_delay_s=0.0))
    taken = []
    worker = threading.Thread(target=lambda: taken.append(edge.take(5.0)))
    worker.start()
    edge.submit(Request('a', 'stage2', math.inf, 7))
    worker.join(5.0)
    assert [r.item for r in taken[0].requests] == [7]
    waiting = threading.Thread(target=lambda: taken.append(edge.take(30.0)))
    waiting.start()
    edge.close()
    waiting.join(5.0)
    assert not waiting.is_alive() and taken[1].requests == []


def test_close_hands_back_what_was_queued_and_refuses_what_comes_after():
    edge, _ = scheduler(max_batch=4, max_queue_delay_s=1.0)
    edge.submit(request('a', math.inf, item=1))
    assert [r.item for r in edge.close()] == [1]
    assert [r.item for r in edge.submit(request('a', math.inf, item=2)).busy] == [2]


def test_service_time_learns_fixed_and_per_item_costs():
    service = ServiceTime()
    for _ in range(200):
        service.observe('tail', 1, 0.010)
        service.observe('tail', 8, 0.024)
    assert service.seconds('tail', 1) == pytest.approx(0.010, rel=0.1)
    assert service.seconds('tail', 8) == pytest.approx(0.024, rel=0.1)


@pytest.mark.parametrize('settings', [{'max_batch': 0}, {'queue_capacity': 2, 'max_batch': 4}, {'workers': 0},
                                      {'max_queue_delay_s': -1.0}])  # fmt: skip
def test_settings_that_cannot_work_are_refused(settings):
    with pytest.raises(ValueError, match=r'need max_batch|max_queue_delay_s must be'):
        SchedulerSettings(**settings)
