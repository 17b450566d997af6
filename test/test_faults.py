# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Faults between two hosts while a camera streams: tail killed, monitor killed, link cut, edge restarted.

The tail is killed (SIGKILL) and restarted, the monitor killed, the link cut for 5 s, and the edge restarted
with a new DDS participant.

The test asserts the ordering and generous bounds, whatever this shared machine's stalls (the timing figures,
lateness past the deadline and the time to use the edge again, come from `bench/faults_bench.py`):
- every frame not counted as dropped is answered exactly once, by its deadline plus a generous bound;
- while the edge is gone (killed, or cut off), the frames are answered by the vehicle, and none by the edge,
  and the vehicle notices the loss (frames answered at once with the reason `no live edge`);
- once the edge is back (a new tail active, or the link up), the vehicle uses it again.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from splitee_ros.tools.netns import TwoHostRun, run_two_hosts, unavailable_reason

pytestmark = [
    pytest.mark.ros,
    pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason())),
    pytest.mark.timeout(500),
]

FPS = 5.0
DEADLINE_MS = 250.0
LATE_BOUND_S = 2.0  # generous: a restarting tail loading its model stalls both cores, observer included
# (1.14 s was seen once on an otherwise idle machine; the bench measures p99 20 ms)
BACK_BOUND_S = 10.0  # generous: the vehicle notices an edge back within its lease on an idle machine
LEASE_BOUND_S = 5.0  # generous: the vehicle notices a dead edge within edge_lease_ms (1 s)
FAULTS = ((6.0, 'kill_tail'), (12.0, 'start_tail'), (26.0, 'kill_monitor'), (28.0, 'link_down'),
          (33.0, 'link_up'), (42.0, 'stop_tail'), (44.0, 'start_tail'))  # fmt: skip
SECONDS = 58.0
ACTIVE = re.compile(r'\[(\d+\.\d+)\] \[tail_node\]: active')


def run_faults(folder: Path, cache: Path) -> TwoHostRun:
    """The pair at 20 Mbit/s, the monitor on (adapting split and codec), the faults of `FAULTS`."""
    common = {'backend': 'onnxruntime', 'threads': 1}
    head = {
        **common, 'mode': 'split', 'deadline_ms': DEADLINE_MS, 'input_type': 'compressed', 'image_queue_depth': 4,
        'exits_enabled': False, 'qos_overrides./image/compressed.subscription.reliability': 'reliable',
        'qos_overrides./image/compressed.subscription.depth': 50,
    }  # fmt: skip
    monitor = {'deadline_ms': DEADLINE_MS, 'modes': ['split'], 'vehicle_profile': 'onnxruntime/cpu/1t',
               'edge_profile': 'onnxruntime/cpu/1t'}  # fmt: skip
    camera = ['--fps', str(FPS), '--duration', str(SECONDS)]
    return run_two_hosts([(0.0, 20.0)], head, common, monitor, camera, folder, env={'SPLITEE_CACHE': str(cache)},
                         faults=FAULTS)  # fmt: skip


def edge_back_times(run: TwoHostRun) -> dict[str, float]:
    """When the edge came back (monotonic): each new tail once active (from its log), and the link once up."""
    made = dict((kind, when) for when, kind in run.faults if kind == 'link_up')
    starts = [when for when, kind in run.faults if kind == 'start_tail']
    actives = [float(m.group(1)) - run.wall_offset for m in ACTIVE.finditer(run.logs['tail_node'])]
    for index, started in enumerate(starts):
        made[f'tail restart {index + 1}'] = min((a for a in actives if a >= started), default=float('inf'))
    return made


def test_every_frame_is_answered_once_on_time_through_faults_and_the_edge_is_used_again(tmp_path, runtime_cache,
                                                                                         demo_exports):  # fmt: skip
    run = run_faults(tmp_path, runtime_cache)
    record = run.record
    published = {key: when for key, when, _ in record['published']}
    answers = ('exit', 'edge', 'fallback', 'local')
    frames = {key: outcome for _, outcome, key, _ in record['telemetry'] if outcome in answers}
    reasons = {key: values.get('reason', '') for _, outcome, key, values in record['telemetry'] if outcome in answers}
    dropped = {key for _, outcome, key, _ in record['telemetry'] if outcome == 'dropped'}
    assert [kind for _, kind in run.faults] == [kind for _, kind in FAULTS], run.faults
    logs = '\n'.join(f'--- {name}\n{log[-3000:]}' for name, log in run.logs.items())

    # Once each, on time: a frame not counted as dropped is answered exactly once, by its deadline (+ a bound).
    assert len(dropped) <= 0.1 * len(published), dropped
    assert {key: record['results'].get(key) for key in published if key not in dropped} == {
        key: 1 for key in published if key not in dropped
    }, logs
    assert not dropped & set(record['results'])
    lateness = sorted(record['answered_at'][key] - published[key] - DEADLINE_MS / 1e3 for key in frames)
    assert lateness[-1] < LATE_BOUND_S, lateness[-5:]

    # While the edge is gone, the vehicle answers; once it is back, the edge again.
    fault_at = {kind: when for when, kind in run.faults}
    kill, link_down, stop = fault_at['kill_tail'], fault_at['link_down'], fault_at['stop_tail']
    back = edge_back_times(run)
    outages = [(kill, back['tail restart 1']), (link_down, back['link_up']), (stop, back['tail restart 2'])]
    by_time = sorted((published[key], frames[key]) for key in frames)
    assert any(outcome == 'edge' for when, outcome in by_time if when < kill), by_time[:10]
    for gone, returned in outages:
        assert returned < float('inf'), (gone, back, logs)
        during = [outcome for when, outcome in by_time if gone + LEASE_BOUND_S <= when < returned]
        assert 'edge' not in during, (gone, returned, during)
        # the vehicle noticed the loss: frames of the outage answered at once, not sent to wait for their deadline
        noticed = [key for key in frames if gone <= published[key] < returned and reasons[key] == 'no live edge']
        assert noticed, (gone, returned, logs)
        after = [when for when, outcome in by_time if when >= returned and outcome == 'edge']
        assert after and after[0] - returned < BACK_BOUND_S, (gone, returned, after[:3], logs)
