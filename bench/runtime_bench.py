# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Per split, head and tail latency per backend, start-up time, and the cost of switching the split point.

Every time is a `SplitRuntime` call as the nodes make it: `run_head` includes pre-processing, `run_tail`
post-processing. The switch cost is the first frame after a split change minus that split's median (every
split is loaded and warm, so it should be noise). Batched tails (`--batches`) time `run_tails` on that many codes
at once, as the edge runs frames of several vehicles: frames per second against the batch's latency. Writes
bench/results/runtime_<device>.{json,md}.

    python bench/runtime_bench.py                                    # this CPU: torch and onnxruntime
    python bench/runtime_bench.py --device cuda --backends torch torch+cudagraphs onnxruntime tensorrt
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import platform
import time
from pathlib import Path

import numpy as np

from splitee_ros.data.synth import sample_frames
from splitee_ros.runtime.base import SplitRuntime, make_runtime

RESULTS = Path(__file__).parent / 'results'


def stats(samples: list[float]) -> dict[str, float]:
    """Median and p95 in milliseconds."""
    return {'median_ms': float(np.median(samples)), 'p95_ms': float(np.percentile(samples, 95)), 'n': len(samples)}


def timed_ms(function) -> float:
    """Wall time of one call in milliseconds."""
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1e3


def load(package: str, backend: str, device: str, threads: int) -> SplitRuntime:
    """A runtime with every head and tail (and the full model) loaded and warm."""
    name, _, variant = backend.partition('+')
    options = {'cuda_graphs': True} if variant == 'cudagraphs' else {}
    if name == 'tensorrt':
        return make_runtime(package, name, 'both', device, full=True, options={'precision': variant or 'fp16'})
    return make_runtime(package, name, 'both', device, full=True, threads=threads, options=options)


def measure(runtime: SplitRuntime, frames: list[np.ndarray], repeats: int, batches: list[int]) -> dict:
    """Head and tail latency per split, the full model, every split change's extra cost, and batched tails."""
    results: dict = {'splits': {}}
    codes = {}
    for split in runtime.split_names:
        heads, tails = [], []
        for frame in itertools.islice(itertools.cycle(frames), repeats):
            heads.append(
                timed_ms(lambda split=split, frame=frame: codes.__setitem__(split, runtime.run_head(split, frame)))
            )
            tails.append(
                timed_ms(lambda split=split, frame=frame: runtime.run_tail(split, codes[split].code, frame.shape[:2]))
            )
        results['splits'][split] = {'head': stats(heads), 'tail': stats(tails)}
    results['full'] = stats(
        [timed_ms(lambda f=f: runtime.run_full(f)) for f in itertools.islice(itertools.cycle(frames), repeats)]
    )
    switches = []
    for before, after in itertools.permutations(runtime.split_names, 2):
        for frame in frames[:3]:
            runtime.run_head(before, frame)
        first = timed_ms(lambda after=after: runtime.run_head(after, frames[0]))
        switches.append({'from': before, 'to': after, 'first_frame_ms': first,
                         'extra_ms': first - results['splits'][after]['head']['median_ms']})  # fmt: skip
    results['switches'] = switches
    results['switch_extra_ms_max'] = max(s['extra_ms'] for s in switches)
    results['batched_tails'] = {split: batched_tails(runtime, split, codes[split].code, repeats, batches)
                                for split in runtime.split_names}  # fmt: skip
    return results


def batched_tails(runtime: SplitRuntime, split: str, code: np.ndarray, repeats: int, batches: list[int]) -> dict:
    """Per batch size: latency of one `run_tails` call and the frames per second it implies."""
    rows = {}
    for batch in batches:
        call = functools.partial(runtime.run_tails, split, [code] * batch, [None] * batch)
        call()  # the first call of a new batch shape may allocate
        timing = stats([timed_ms(call) for _ in range(repeats)])
        rows[str(batch)] = {**timing, 'frames_per_s': batch * 1e3 / timing['median_ms']}
    return rows


def main() -> None:
    """Measure every backend asked for and write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--package', default='models/splitee_demo')
    parser.add_argument('--backends', nargs='+', default=['torch', 'onnxruntime'])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--frames', type=int, default=30, help='timed calls per split and stage')
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 2, 4, 8], help='batched tail sizes')
    args = parser.parse_args()
    frames = sample_frames(6, seed=9100)
    report: dict = {'package': args.package, 'device': args.device, 'threads': args.threads,
                    'machine': platform.processor() or platform.machine(), 'backends': {}}  # fmt: skip
    for backend in args.backends:
        start = time.perf_counter()
        runtime = load(args.package, backend, args.device, args.threads)
        startup = time.perf_counter() - start
        report['backends'][backend] = {
            'startup_s': startup,
            'graphs': len(runtime.sessions),
            **measure(runtime, frames, args.frames, args.batches),
        }
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f'runtime_{args.device.replace(":", "")}'
    stem.with_suffix('.json').write_text(json.dumps(report, indent=2) + '\n')
    stem.with_suffix('.md').write_text(markdown(report))
    print(markdown(report))


def cell(timing: dict) -> str:
    """A table cell: median / p95."""
    return f'{timing["median_ms"]:.1f} / {timing["p95_ms"]:.1f}'


def markdown(report: dict) -> str:
    """The report as a Markdown table."""
    backends = list(report['backends'])
    lines = [
        f'# Runtime latency: {report["package"]} on {report["device"]}',
        '',
        f'{report["machine"]}, {report["threads"]} threads.',
        '',
        'Median / p95 in ms per call; heads include pre-processing and every exit at or before the split, tails '
        'post-processing.',
        '',
        '| split | ' + ' | '.join(f'{b} head | {b} tail' for b in backends) + ' |',
        '|---|' + '---|---|' * len(backends),
    ]
    splits = report['backends'][backends[0]]['splits']
    for split in splits:
        times = [report['backends'][b]['splits'][split] for b in backends]
        row = [f'{cell(t["head"])} | {cell(t["tail"])}' for t in times]
        lines.append(f'| {split} | ' + ' | '.join(row) + ' |')
    lines.append(
        '| full model | ' + ' | '.join(f'{cell(report["backends"][b]["full"])} | n/a' for b in backends) + ' |'
    )
    lines += [
        '',
        '| backend | start-up (load and warm every graph) | graphs | worst split-change extra |',
        '|---|---|---|---|',
    ]
    for backend, row in report['backends'].items():
        lines.append(
            f'| {backend} | {row["startup_s"]:.1f} s | {row["graphs"]} | {row["switch_extra_ms_max"]:+.1f} ms |'
        )
    lines += ['', 'Split-change extra: first head call after switching from another split, minus that split\'s median '
              '(all ordered pairs; the worst shown). One frame period at 10 FPS is 100 ms.', '']  # fmt: skip
    batches = list(next(iter(report['backends'][backends[0]]['batched_tails'].values())))
    lines += [
        '## Batched tails',
        '',
        'One `run_tails` call on a batch of codes: median latency and the frames per second it implies.',
        '',
        '| backend | split | ' + ' | '.join(f'batch {b}' for b in batches) + ' |',
        '|---|---|' + '---|' * len(batches),
    ]
    for backend, row in report['backends'].items():
        for split, sizes in row['batched_tails'].items():
            cells = [f'{t["median_ms"]:.1f} ms, {t["frames_per_s"]:.0f}/s' for t in sizes.values()]
            lines.append(f'| {backend} | {split} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
