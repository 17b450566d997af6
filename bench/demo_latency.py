# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Per-frame CPU time of the demo detector at 640x480: whole model and each split's head and tail.

Runs PyTorch eager and ONNX Runtime on the same frames and writes
bench/results/demo_latency.{json,md}. Times are for this machine only; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from splitee_ros.model.config import ExitConfig, ModelConfig
from splitee_ros.model.export import export_split
from splitee_ros.model.families import build_detector

RESULTS = Path(__file__).parent / 'results'


def timed(function, frames: int, warmup: int = 3) -> dict[str, float]:
    """Median and p95 wall time in milliseconds of `function()` over `frames` calls."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(frames):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1e3)
    return {'median_ms': float(np.median(samples)), 'p95_ms': float(np.percentile(samples, 95)), 'frames': frames}


def main() -> None:
    """Measure and write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--frames', type=int, default=30)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    detector = build_detector(ModelConfig(family='splitee_demo', exits={'*': ExitConfig()}))
    image = torch.rand(1, 3, *detector.input_size)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL

    results: dict = {'machine': platform.processor() or platform.machine(), 'threads': args.threads, 'splits': {}}
    with torch.no_grad():
        whole = timed(lambda: detector.detections({k: v.numpy() for k, v in detector(image).items()}), args.frames)
    results['whole_model_torch_with_postprocess'] = whole
    with tempfile.TemporaryDirectory() as folder:
        for split in detector.split_points:
            exported = export_split(detector, split, folder)
            head, tail = detector.head(split), detector.tail(split)
            with torch.no_grad():
                code = head(image)['code']
                torch_head = timed(lambda head=head: head(image), args.frames)
                torch_tail = timed(lambda tail=tail, code=code: tail(code), args.frames)
            head_session = onnxruntime.InferenceSession(
                str(exported.head_path), options, providers=['CPUExecutionProvider']
            )
            tail_session = onnxruntime.InferenceSession(
                str(exported.tail_path), options, providers=['CPUExecutionProvider']
            )
            feed_head, feed_tail = {'image': image.numpy()}, {'code': code.numpy()}
            results['splits'][split] = {
                'torch_head_with_exits': torch_head,
                'torch_tail': torch_tail,
                'onnxruntime_head_with_exits': timed(lambda s=head_session, f=feed_head: s.run(None, f), args.frames),
                'onnxruntime_tail': timed(lambda s=tail_session, f=feed_tail: s.run(None, f), args.frames),
            }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / 'demo_latency.json').write_text(json.dumps(results, indent=2) + '\n')
    lines = [
        f'# Demo detector CPU time at 640x480 ({results["threads"]} threads, {results["machine"]})',
        '',
        f'Whole model (PyTorch, with post-processing): median {whole["median_ms"]:.1f} ms, '
        f'p95 {whole["p95_ms"]:.1f} ms',
        '',
        '| split | stage | torch head | torch tail | onnxruntime head | onnxruntime tail |',
        '|---|---|---|---|---|---|',
    ]
    for split, row in results['splits'].items():
        cells = [f'{row[key]["median_ms"]:.1f} / {row[key]["p95_ms"]:.1f}' for key in row]
        lines.append(f'| {split} | {detector.split_points[split].stage_index} | ' + ' | '.join(cells) + ' |')
    lines.append('')
    lines.append('Cells: median / p95 in ms. Heads include every exit at or before the split.')
    (RESULTS / 'demo_latency.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
