# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Faults between two hosts: how late the answers come, and how soon the edge is used again.

    sudo python bench/faults_bench.py [--runs 3]

The scenario of test/test_faults.py (tail killed and restarted with the monitor on; the monitor killed; the
link cut for 5 s; the edge stopped and restarted with a new DDS participant; a camera at 5 FPS, deadline
250 ms), run `--runs` times. Per run and fault: frames answered once, dropped, answered twice; lateness past
the deadline (p50, p99, max); the time from the fault to the first frame answered at once for want of a live
edge (the vehicle noticing); and the time from the edge's return (the new tail active, or the link up) to the
first frame the edge answered. Writes bench/results/faults.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from results_file import write_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUANTILES = (('p50', 0.5), ('p99', 0.99), ('max', 1.0))
sys.path.insert(0, str(ROOT / 'test'))


def score(run, deadline_ms: float) -> dict:
    """The figures of one run."""
    from test_faults import edge_back_times

    record = run.record
    published = {key: when for key, when, _ in record['published']}
    answers = ('exit', 'edge', 'fallback', 'local')
    frames = {key: (outcome, values) for _, outcome, key, values in record['telemetry'] if outcome in answers}
    dropped = {key for _, outcome, key, _ in record['telemetry'] if outcome == 'dropped'}
    lateness = [
        record['answered_at'][k] - published[k] - deadline_ms / 1e3 for k in frames if k in record['answered_at']
    ]
    fault_at = {kind: when for when, kind in run.faults}
    back = edge_back_times(run)
    by_time = sorted((published[k], outcome, values) for k, (outcome, values) in frames.items())
    recovery = {}
    for name, gone, returned in (('tail killed (monitor on)', fault_at['kill_tail'], back['tail restart 1']),
                                 ('link cut 5 s (monitor off)', fault_at['link_down'], back['link_up']),
                                 ('edge restarted, new participant (monitor off)', fault_at['stop_tail'],
                                  back['tail restart 2'])):  # fmt: skip
        noticed = [w for w, _, values in by_time if w >= gone and values.get('reason') == 'no live edge']
        reused = [w for w, outcome, _ in by_time if w >= returned and outcome == 'edge']
        recovery[name] = {
            'noticed_s': round(noticed[0] - gone, 2) if noticed else None,
            'edge_back_after_s': round(returned - gone, 2),
            'edge_used_again_s': round(reused[0] - returned, 2) if reused else None,
        }
    counts = record['results']
    return {
        'frames': len(published),
        'dropped': len(dropped),
        'answered_once': sum(counts.get(k) == 1 for k in published if k not in dropped),
        'answered_twice': sum(c > 1 for c in counts.values()),
        'outcomes': {o: sum(v[0] == o for v in frames.values()) for o in answers},
        'lateness_ms': {q: round(float(np.quantile(lateness, p)) * 1e3, 1) for q, p in QUANTILES},
        'recovery': recovery,
    }


def main() -> None:
    """Run the scenario, score it, write the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--out', type=Path, default=HERE / 'results' / 'faults.json')
    args = parser.parse_args()

    from test_faults import DEADLINE_MS, FAULTS, FPS, run_faults

    from splitee_ros.runtime.exports import cache_root

    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as scratch:
            runs.append(score(run_faults(Path(scratch), cache_root()), DEADLINE_MS))
    result = {'command': 'sudo python bench/faults_bench.py ' + ' '.join(sys.argv[1:]), 'fps': FPS,
              'deadline_ms': DEADLINE_MS, 'faults': FAULTS, 'runs': runs}  # fmt: skip
    lines = ['# Faults between two hosts', '', f'`{result["command"]}`: camera at {FPS:g} FPS, deadline '
             f'{DEADLINE_MS:g} ms; faults (s after the first frame): {FAULTS}.', '',
             '| run | frames | answered once | dropped | twice | lateness p50 / p99 / max (ms) | outcomes |',
             '|---|---|---|---|---|---|---|']  # fmt: skip
    for index, run in enumerate(runs):
        late = run['lateness_ms']
        lateness = f'{late["p50"]} / {late["p99"]} / {late["max"]}'
        lines.append(
            f'| {index + 1} | {run["frames"]} | {run["answered_once"]} | {run["dropped"]} | '
            f'{run["answered_twice"]} | {lateness} | {run["outcomes"]} |'
        )
    lines += ['', '| run | fault | noticed after (s) | edge back after (s) | edge used again after its return (s) |',
              '|---|---|---|---|---|']  # fmt: skip
    for index, run in enumerate(runs):
        for name, figures in run['recovery'].items():
            lines.append(f'| {index + 1} | {name} | {figures["noticed_s"]} | {figures["edge_back_after_s"]} | '
                         f'{figures["edge_used_again_s"]} |')  # fmt: skip
    write_results(args.out, result, lines)


if __name__ == '__main__':
    main()
