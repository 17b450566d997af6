# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Run the timing tests (DDS, processes, namespaces) N times each, with a core kept busy, and count passes.

    python bench/test_reliability.py [--runs 10] [--busy 1] [TEST ...]

A test that involves DDS, processes or namespaces must pass every run while another process keeps a core
busy (`--busy` spinning processes at the lowest priority, besides whatever else runs, e.g. a training job;
on this machine nice has no measurable effect, so a spinner takes a whole core; `--beside` records what else
kept a core busy, such as a training job pinned to one core in the spinner's place). Writes
bench/results/test_reliability.json: per test, the commit it ran on, the runs, passes, failures with their
last lines, and the durations; a run of some tests keeps the others' last counts. A failed run's whole output
(pytest's, with the nodes' logs it prints) goes to `--logs` (default bench/results/reliability_logs/, not
committed), since the cause of a rare failure is seldom in the last lines.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_TESTS = ('test/test_two_host.py', 'test/test_nodes.py', 'test/test_dds_smoke.py', 'test/test_player.py',
                 'test/test_fleet.py', 'test/test_routed.py', 'test/test_serving.py')  # fmt: skip


def _spin() -> None:
    os.nice(19)
    while True:
        pass


def main() -> None:
    """Repeat each test, report the pass counts."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('tests', nargs='*', default=list(DEFAULT_TESTS))
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--busy', type=int, default=1, help='processes that keep a core busy meanwhile')
    parser.add_argument('--beside', default='', help='what else keeps a core busy meanwhile (recorded), e.g. a '
                        'training job pinned to one core in place of a spinner')  # fmt: skip
    parser.add_argument('--out', type=Path, default=HERE / 'results' / 'test_reliability.json')
    parser.add_argument('--logs', type=Path, default=HERE / 'results' / 'reliability_logs')
    args = parser.parse_args()

    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.busy)]
    for spinner in spinners:
        spinner.start()
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    kept = json.loads(args.out.read_text())['tests'] if args.out.exists() else {}  # other tests' last counts
    report: dict = {'runs': args.runs, 'busy_processes': args.busy, 'tests': kept}
    try:
        for test in args.tests:
            outcomes = []
            for run in range(args.runs):
                started = time.monotonic()
                result = subprocess.run(
                    [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', test],
                    capture_output=True, text=True,
                )  # fmt: skip
                seconds = round(time.monotonic() - started, 1)
                passed = result.returncode == 0
                load = round(os.getloadavg()[0], 2)  # what else ran: the spinners, a training job
                if not passed:
                    args.logs.mkdir(parents=True, exist_ok=True)
                    log = args.logs / f'{Path(test).stem}-{commit}-run{run}.log'
                    log.write_text(result.stdout + '\n--- stderr ---\n' + result.stderr)
                outcomes.append({'run': run, 'passed': passed, 'seconds': seconds, 'load_1min': load,
                                 **({} if passed else {'tail': result.stdout.splitlines()[-25:]})})  # fmt: skip
                print(f'{test} run {run + 1}/{args.runs}: {"pass" if passed else "FAIL"} in {seconds} s', flush=True)
            report['tests'][test] = {
                'commit': commit, 'busy_processes': args.busy, **({'beside': args.beside} if args.beside else {}),
                'passes': sum(o['passed'] for o in outcomes),
                'runs': len(outcomes), 'outcomes': outcomes,
            }  # fmt: skip
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=1) + '\n')
    finally:
        for spinner in spinners:
            spinner.terminate()
    for test in args.tests:
        entry = report['tests'][test]
        print(f'{test}: {entry["passes"]}/{entry["runs"]}')


if __name__ == '__main__':
    main()
