# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Vehicle and edge in two network namespaces, DDS over UDP through a `tc tbf` bandwidth limit.

The link runs at 20 Mbit/s, drops to 0.6 Mbit/s, and recovers. The test asserts properties that hold
whatever the monitor chose before the drop and however this shared machine stalls (the timing figures,
lateness and on-time accuracy, come from `bench/two_host_bench.py`):
- every frame the head did not count as dropped is answered exactly once, and a dropped one not at all;
- every answer comes by its deadline plus a generous bound (the fallback at the deadline is the guarantee);
- after the drop the head runs a leaner configuration, unless it already fitted the low link, within a
  generous bound (the 2-s goal is the bench's to measure: a loaded machine stretches the reaction);
- from then on, the uplink carries what the low link can (bytes per frame within its rate);
- after the recovery it runs a richer configuration again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DEMO_PACKAGE

from splitee_ros.control.latency import Choice, LatencyModel, choice_from_parameters
from splitee_ros.control.profile import Profile
from splitee_ros.tools.netns import run_two_hosts, unavailable_reason

pytestmark = [
    pytest.mark.ros,
    pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason())),
    pytest.mark.timeout(400),
]

HIGH_MBIT, LOW_MBIT = 20.0, 0.6
# high, low, high again: the rise waits for probes that climb to the new rate in a few steps, through the
# executors' jitter; 3-13 s on this machine beside a busy core, over 24 s once on CI's (the bench times it)
PHASES_S = (14.0, 16.0, 44.0)
DEADLINE_MS = 250.0  # head, tail, monitor and camera share the two cores of a virtual machine
TARGET = 0.99  # the policy aims above what the test asks: stalls of this machine fatten the tails
FPS = 5.0
LEAN_BOUND_S = 5.0  # generous: the monitor acts within 2 s on an idle machine (bench/two_host_bench.py times it)
LATE_BOUND_S = 1.0  # generous: a fallback is published at the deadline; a stalled machine may delay it
VEHICLE_PROFILE = EDGE_PROFILE = 'onnxruntime/cpu/1t'
MODES = ['split', 'offload-image']  # a vehicle that may not run the whole model (its compute is spoken for)
LAUNCHED = {'mode': 'offload-image', 'jpeg_quality': 50}


def frame_choice(values: dict[str, str]) -> Choice:
    """The configuration a frame ran under, from the head's telemetry."""
    return choice_from_parameters({
        'mode': values['mode'], 'split_point': values.get('split', ''), 'codec': values.get('codec', ''),
        'exit_threshold': values.get('exit_threshold', '1.0'), 'jpeg_quality': values.get('jpeg_quality', '0'),
    })  # fmt: skip


def run_pair(tmp_path: Path, cache: Path) -> tuple[dict, float, float, str, int]:
    """Run head, monitor and camera on the vehicle, the tail on the edge: the record, the switch times, the log."""
    common = {'backend': 'onnxruntime', 'threads': 1}
    head_parameters = {
        **common, **LAUNCHED, 'deadline_ms': DEADLINE_MS, 'input_type': 'compressed',
        'image_queue_depth': 4,  # rides out the stalls of a shared virtual machine; a drop is counted
        'qos_overrides./image/compressed.subscription.reliability': 'reliable',
        'qos_overrides./image/compressed.subscription.depth': 50,  # nothing lost before the head sees it
    }  # fmt: skip
    monitor_parameters = {
        'deadline_ms': DEADLINE_MS, 'target': TARGET, 'modes': MODES, 'vehicle_profile': VEHICLE_PROFILE,
        'edge_profile': EDGE_PROFILE,
    }  # fmt: skip
    schedule = [(0.0, HIGH_MBIT), (PHASES_S[0], LOW_MBIT), (PHASES_S[0] + PHASES_S[1], HIGH_MBIT)]
    camera = ['--fps', str(FPS), '--duration', str(sum(PHASES_S))]
    run = run_two_hosts(schedule, head_parameters, common, monitor_parameters, camera, tmp_path,
                        env={'SPLITEE_CACHE': str(cache)})  # fmt: skip
    return run.record, run.changed_at[1][0], run.changed_at[2][0], run.logs['monitor_node'], run.uplink_bytes


def test_monitor_adapts_to_a_bandwidth_drop_between_two_hosts(tmp_path, runtime_cache, demo_exports):
    record, dropped_at, recovered_at, monitor_log, veth_bytes = run_pair(tmp_path, runtime_cache)
    published = {key: when for key, when, _ in record['published']}  # frame key -> time the camera published it
    answers = ('exit', 'edge', 'fallback', 'local')  # the head's one answer per frame ('late' comes after one)
    frames = {key: (outcome, values) for _, outcome, key, values in record['telemetry'] if outcome in answers}
    dropped = {key for _, outcome, key, _ in record['telemetry'] if outcome == 'dropped'}

    # Every frame the head did not count as dropped is answered exactly once; a dropped frame not at all.
    assert dropped <= set(published) and len(dropped) <= 0.1 * len(published), dropped
    assert {key: record['results'].get(key) for key in published if key not in dropped} == {
        key: 1 for key in published if key not in dropped
    }, monitor_log
    assert not dropped & set(record['results'])
    assert set(frames) == set(published) - dropped

    # The link changed when the schedule said (its times are counted from the camera's first frame of this run).
    assert abs(dropped_at - record['start'] - PHASES_S[0]) < 1.0, (dropped_at, record['start'])
    assert abs(recovered_at - record['start'] - PHASES_S[0] - PHASES_S[1]) < 1.0, (recovered_at, record['start'])

    # Every frame the edge answered crossed the shaped veth (no path around the link under test).
    delivered = sum(int(values.get('bytes', 0)) for _, outcome, _, values in record['telemetry']
                    if outcome in ('edge', 'late'))  # fmt: skip
    assert 0 < delivered <= veth_bytes, (delivered, veth_bytes)

    # Every answer by its deadline, give or take this machine's stalls.
    lateness = {key: record['answered_at'][key] - published[key] - DEADLINE_MS / 1e3 for key in frames}
    late = sorted((published[key] - record['start'], round(lateness[key], 3), *frames[key]) for key in frames
                  if lateness[key] >= LATE_BOUND_S)  # fmt: skip
    assert not late, (late, sorted(lateness.values())[-5:], monitor_log)  # when in the run, how, and what was changed

    profile = Profile.load(DEMO_PACKAGE)
    model = LatencyModel(profile, profile.device(VEHICLE_PROFILE), profile.device(EDGE_PROFILE))

    def uplink_bytes(choice: Choice) -> float:
        return model.predict_all([choice], None, DEADLINE_MS)[0].bytes_per_frame

    ordered = sorted(frames, key=published.get)
    before = frame_choice(frames[[k for k in ordered if published[k] < dropped_at][-1]][1])
    fits_low = LOW_MBIT * 1e6 / 8 / FPS  # bytes per frame the low link carries

    # After the drop, a leaner configuration, unless the one before already fitted the low link.
    lean_from = dropped_at
    if uplink_bytes(before) > fits_low:
        changed = [
            published[k] - dropped_at for k in ordered
            if published[k] >= dropped_at and uplink_bytes(frame_choice(frames[k][1])) < uplink_bytes(before)
        ]  # fmt: skip
        assert changed and changed[0] <= LEAN_BOUND_S, (before, changed[:1], monitor_log)
        lean_from = dropped_at + changed[0]
    phase = {
        'low': [k for k in ordered if lean_from <= published[k] < recovered_at],
        'after': [k for k in ordered if published[k] >= recovered_at],
    }

    # From then on the uplink carries what the low link can.
    sent = [float(frames[k][1].get('bytes', 0)) for k in phase['low']]
    assert sum(sent) / len(sent) <= fits_low, (sum(sent) / len(sent), monitor_log)

    # After the recovery, a richer configuration than at the end of the low phase.
    low_choice = frame_choice(frames[phase['low'][-1]][1])
    richest = max(model.accounting(c).intended for c in model.choices(MODES))
    if model.accounting(low_choice).intended < richest - 0.01:
        recovered = {frame_choice(frames[k][1]) for k in phase['after']}
        richer = [c for c in recovered if model.accounting(c).intended > model.accounting(low_choice).intended]
        switches = [line for line in monitor_log.splitlines() if line.startswith('[INFO]')]
        assert richer, (low_choice, recovered, switches)  # the monitor's switches: the full log is too long to read
