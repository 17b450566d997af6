# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Peak memory (RSS) of each node while it serves frames, and whether PyTorch is mapped into it.

    python bench/rss_bench.py [--model models/splitee_demo] [--backend onnxruntime] [--seconds 40]

Starts head_node and tail_node (onnxruntime in-process by default) and a camera at 5 FPS; the head runs in
split mode with the package's codec for the first half and with the learned codec for the second, so both
ends load every coding path. Every second it samples each process's VmRSS; at the end it reads VmHWM (the
kernel's peak) and looks for libtorch in the process's memory maps. The export cache is filled first, in this
process, so the nodes find their ONNX graphs as they would on a vehicle that was provisioned beforehand.
Goals (issue 16): head_node <= 300 MB, tail_node <= 400 MB. Writes bench/results/rss.{json,md}.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import write_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOALS_MB = {'head_node': 300, 'tail_node': 400}


def _status_mb(pid: int, field: str) -> float:
    """A memory field of /proc/PID/status (kB) in MB."""
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith(field + ':'):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _mapped_torch(pid: int) -> bool:
    """Whether PyTorch's library is mapped into the process."""
    return 'libtorch' in Path(f'/proc/{pid}/maps').read_text()


def main() -> None:
    """Run the nodes, sample, write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default=str(ROOT / 'models' / 'splitee_demo'))
    parser.add_argument('--backend', default='onnxruntime', choices=('onnxruntime', 'tensorrt', 'torch'))
    parser.add_argument('--seconds', type=float, default=40.0)
    parser.add_argument('--out', type=Path, default=HERE / 'results' / 'rss.json')
    args = parser.parse_args()

    from splitee_ros.model.package import ModelPackage
    from splitee_ros.runtime.exports import cache_root, ensure_exported
    from splitee_ros.tools.harness import Collector, NodeProcess, node_env

    package = ModelPackage.load(args.model)
    cache = cache_root()
    ensure_exported(package, cache)
    domain = 150 + os.getpid() % 50
    env = node_env(domain, cache)
    peaks: dict[str, list[float]] = {'head_node': [], 'tail_node': []}
    with tempfile.TemporaryDirectory() as scratch:
        parameters = {'model': str(Path(args.model).resolve()), 'backend': args.backend}
        own = {'head_node': {'input_type': 'compressed'}, 'tail_node': {}}  # the camera sends JPEG
        nodes = {name: NodeProcess(name, parameters | own[name], env, scratch) for name in peaks}
        camera = subprocess.Popen(
            [sys.executable, '-m', 'splitee_ros.tools.camera', '--domain', str(domain), '--fps', '5',
             '--duration', str(args.seconds), '--ready', f'{scratch}/ready.json', '--out', f'{scratch}/out.json'],
            env=env, cwd=ROOT,
        )  # fmt: skip
        collector = Collector(domain)
        try:
            while not Path(f'{scratch}/ready.json').exists():
                if camera.poll() is not None or not all(node.alive() for node in nodes.values()):
                    raise SystemExit('a node or the camera ended early:\n' + nodes['head_node'].log_tail())
                time.sleep(0.5)
            started, switched = time.monotonic(), False
            while camera.poll() is None:
                if not switched and time.monotonic() - started > args.seconds / 2:
                    collector.set_parameters('head_node', {'mode': 'split', 'codec': 'learned'})
                    switched = True
                for name, node in nodes.items():
                    peaks[name].append(_status_mb(node.process.pid, 'VmRSS'))
                time.sleep(1.0)
            record = json.loads(Path(f'{scratch}/out.json').read_text())
            results = {
                name: {
                    'peak_rss_mb': round(_status_mb(node.process.pid, 'VmHWM'), 1),
                    'median_rss_mb': round(sorted(peaks[name])[len(peaks[name]) // 2], 1),
                    'torch_mapped': _mapped_torch(node.process.pid),
                    'goal_mb': GOALS_MB[name],
                }
                for name, node in nodes.items()
            }
            outcomes = collector.outcomes()
            codecs = collections.Counter(values.get('codec', '') for outcome in ('edge', 'fallback')
                                         for values in collector.values_of(outcome))  # fmt: skip
        finally:
            collector.close()
            for node in nodes.values():
                node.stop()
    report = {
        'command': 'python bench/rss_bench.py ' + ' '.join(sys.argv[1:]),
        'model': Path(args.model).name, 'backend': args.backend, 'seconds': args.seconds,
        'frames_published': len(record['published']), 'frames_answered': len(record['results']),
        'head_outcomes': outcomes, 'codecs_sent': dict(codecs), 'nodes': results,
    }  # fmt: skip
    lines = [
        f'# Node memory ({args.backend}, {report["model"]})', '', f'`{report["command"]}`: '
        f'{report["frames_answered"]}/{report["frames_published"]} frames answered; head outcomes {outcomes}; '
        f'codecs of the frames sent {dict(codecs)}.', '',
        '| node | peak RSS (MB) | median RSS (MB) | goal (MB) | libtorch mapped |', '|---|---|---|---|---|',
    ]  # fmt: skip
    lines += [f'| {name} | {r["peak_rss_mb"]} | {r["median_rss_mb"]} | {r["goal_mb"]} | {r["torch_mapped"]} |'
              for name, r in results.items()]  # fmt: skip
    write_results(args.out, report, lines)


if __name__ == '__main__':
    main()
