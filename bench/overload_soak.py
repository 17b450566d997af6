# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Overload soak: a camera at twice the head's rate for 10,000 frames, an edge slower than the vehicle.

    python bench/overload_soak.py [--frames 10000] [--factor 2]

head_node (split at stage1: a light head, so the edge runs most of the model and is the slower side) and
tail_node on this host. A short calibration run measures the head's processing rate (the median time from
an image's arrival to its code handed over); the camera then publishes JPEG frames at `--factor` times that
rate until `--frames` have gone. Checks what overload must not break: every frame is answered once or
counted as dropped (the head keeps only the newest image), the frames waiting for the edge stay within the
head's bound, and the resident memory of both nodes stops growing after warm-up (at most +5% from the end of
the first quarter to the end). Writes bench/results/overload_soak.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from results_file import write_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def camera(domain: int, env: dict, fps: float, frames: int, folder: Path) -> dict:
    """Run the camera tool for `frames` frames at `fps`; its record."""
    from splitee_ros.tools.harness import with_parent

    ready, out = folder / 'ready.json', folder / 'record.json'
    for stale in (ready, out):
        stale.unlink(missing_ok=True)
    command = [sys.executable, '-m', 'splitee_ros.tools.camera', '--domain', str(domain), '--fps', str(fps),
               '--duration', str(frames / fps), '--ready', str(ready), '--out', str(out)]  # fmt: skip
    subprocess.run(with_parent(command), env=env, check=True, timeout=frames / fps + 600)
    return json.loads(out.read_text())


def main() -> None:
    """Calibrate, soak, write the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--frames', type=int, default=10_000)
    parser.add_argument('--factor', type=float, default=2.0, help="the camera's rate over the head's")
    parser.add_argument('--out', type=Path, default=HERE / 'results' / 'overload_soak.json')
    args = parser.parse_args()

    from splitee_ros.runtime.exports import cache_root
    from splitee_ros.tools.harness import Collector, NodeProcess, node_env, rss_mb

    domain = 172
    env = node_env(domain, cache_root())
    common = {'model': str(ROOT / 'models' / 'splitee_demo'), 'backend': 'onnxruntime', 'threads': 1}
    # images reliable into the head: none is lost before it, so it counts every frame it drops (newest first)
    head_parameters = {**common, 'split_point': 'stage1', 'exits_enabled': False, 'input_type': 'compressed',
                       'deadline_ms': 300.0, 'qos_overrides./image/compressed.subscription.reliability': 'reliable',
                       'qos_overrides./image/compressed.subscription.depth': 50}  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        tail = NodeProcess('tail_node', common, env, folder)
        head = NodeProcess('head_node', head_parameters, env, folder, {'image': 'image'})
        collector = Collector(domain)
        samples: list[tuple[float, float, float]] = []  # (time, head RSS, tail RSS)
        waiting: list[int] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(2.0):
                samples.append((time.monotonic(), rss_mb(head.process.pid), rss_mb(tail.process.pid)))
                waiting.append(int(collector.health('head_node').get('waiting_for_edge', 0)))

        try:
            if not collector.wait_until_active(['tail_node', 'head_node'], 300):
                raise SystemExit('the nodes did not come up:\n' + head.log_tail())
            calibration = camera(domain, env, 5.0, 40, folder)
            times = [float(v['head_ms']) + float(v.get('encode_ms', 0)) for _, outcome, _, v in calibration['telemetry']
                     if 'head_ms' in v and outcome in ('edge', 'fallback')]  # fmt: skip
            head_rate = 1e3 / statistics.median(times)
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            soak_started = time.monotonic()
            record = camera(domain, env, args.factor * head_rate, args.frames, folder)
            soak_s = time.monotonic() - soak_started
            stop.set()
            sampler.join()
            alive = {'head_node': head.alive(), 'tail_node': tail.alive()}
        finally:
            head.stop()
            tail.stop()
            collector.close()
    published = [key for key, _, _ in record['published']]
    dropped = {key for _, outcome, key, _ in record['telemetry'] if outcome == 'dropped'}
    outcomes = {}
    for _, outcome, _, _ in record['telemetry']:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    results = record['results']
    quarter = samples[len(samples) // 4] if samples else (0.0, 0.0, 0.0)
    last = samples[-1] if samples else (0.0, 0.0, 0.0)
    report = {
        'command': 'python bench/overload_soak.py ' + ' '.join(sys.argv[1:]),
        'head_rate_fps': round(head_rate, 1), 'camera_fps': round(args.factor * head_rate, 1),
        'frames': len(published), 'seconds': round(soak_s, 1), 'outcomes': outcomes,
        'answered_once': sum(results.get(k) == 1 for k in published), 'dropped': len(dropped),
        'answered_twice': sum(c > 1 for c in results.values()),
        'neither_answered_nor_dropped': sum(k not in results and k not in dropped for k in published),
        'answered_and_dropped': len(dropped & set(results)),
        'waiting_for_edge_max': max(waiting, default=0),
        'rss_mb': {'head_node': [round(s[1]) for s in samples[:: max(1, len(samples) // 8)]],
                   'tail_node': [round(s[2]) for s in samples[:: max(1, len(samples) // 8)]]},
        'rss_growth_after_warm_up': {'head_node': round(last[1] / quarter[1] - 1, 4) if quarter[1] else None,
                                     'tail_node': round(last[2] / quarter[2] - 1, 4) if quarter[2] else None},
        'alive': alive,
    }  # fmt: skip
    growth = report['rss_growth_after_warm_up']
    lines = [
        '# Overload soak', '', f'`{report["command"]}`: the head runs {report["head_rate_fps"]} frames/s (median, '
        f'split at stage1); the camera published {report["frames"]} JPEG frames at {report["camera_fps"]} FPS in '
        f'{report["seconds"]} s; the tail runs the rest of the model on the same 2 cores.', '',
        f'- answered once: {report["answered_once"]}; counted as dropped: {report["dropped"]}; neither: '
        f'{report["neither_answered_nor_dropped"]}; answered twice: {report["answered_twice"]}; answered and '
        f'dropped: {report["answered_and_dropped"]}',
        f'- outcomes: {outcomes}',
        f'- frames waiting for the edge, at most (sampled every 2 s): {report["waiting_for_edge_max"]} (bound: 256)',
        f'- resident memory (MB, sampled): {report["rss_mb"]}; growth after the first quarter: {growth} (goal: < +5%)',
        f'- alive at the end: {alive}',
    ]  # fmt: skip
    write_results(args.out, report, lines)


if __name__ == '__main__':
    main()
