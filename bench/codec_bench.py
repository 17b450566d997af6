# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Bytes per frame and encode/decode time of every codec at every split point of the demo detector.

Tensors come from the demo model package (or, without one, the demo detector with random weights and 16-channel
bottlenecks) run on frames of held-out synthetic drives: the cut tensor itself (no bottleneck) and the
bottleneck code. The learned codec runs where the package has its tables (the codes). Writes
bench/results/codec.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from splitee_ros.codec.frame import FrameDecoder, WireSpec, encode_frame, model_id_of
from splitee_ros.codec.registry import CODECS
from splitee_ros.data.synth import sample_frames
from splitee_ros.model.config import BottleneckConfig, ModelConfig
from splitee_ros.model.families import build_detector
from splitee_ros.model.package import ModelPackage
from splitee_ros.train.data import to_input

RESULTS = Path(__file__).parent / 'results'
MODEL_ID = model_id_of(b'bench')


def drive_frames(count: int, size: tuple[int, int]) -> list[torch.Tensor]:
    """Frames of held-out synthetic drives (a seed no training set uses), one condition after another."""
    return [to_input(image, size)[0] for image in sample_frames(count, seed=9000)]


def stats(samples: list[float]) -> dict[str, float]:
    """Median and p95 in milliseconds."""
    return {'median_ms': float(np.median(samples)) * 1e3, 'p95_ms': float(np.percentile(samples, 95)) * 1e3}


def measure(tensors: list[np.ndarray], codec, decoder: FrameDecoder, split_index: int, repeats: int) -> dict:
    """Encode and decode every tensor `repeats` times; bytes are per frame (header included)."""
    sizes, encode_times, decode_times, errors = [], [], [], []
    for tensor in tensors:
        for _ in range(repeats):
            start = time.perf_counter()
            frame = encode_frame(tensor, codec, MODEL_ID, split_index, 0)
            middle = time.perf_counter()
            decoded = decoder.decode(frame).tensor
            encode_times.append(middle - start)
            decode_times.append(time.perf_counter() - middle)
        sizes.append(len(frame))
        errors.append(float(np.abs(decoded - tensor).max()))
    return {
        'bytes': float(np.mean(sizes)),
        'encode': stats(encode_times),
        'decode': stats(decode_times),
        'max_abs_error': max(errors),
    }


def main() -> None:
    """Run the benchmark and write its results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--frames', type=int, default=4)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--package', default='models/splitee_demo', help='model package (random weights if absent)')
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    if args.package and (Path(args.package) / 'manifest.yaml').is_file():
        package = ModelPackage.load(args.package)
        detector, tables, source = package.detector().eval(), package.codecs(), f'trained package {args.package}'
        learned = {c.name: c for c in tables.values() if c.name.startswith('learned')}
    else:
        config = ModelConfig(family='splitee_demo', bottlenecks={'*': BottleneckConfig(16, 2)})
        detector, learned, source = build_detector(config), {}, 'demo detector with random weights'
    frames = drive_frames(args.frames, detector.input_size)
    results: dict = {'source': source, 'frames': args.frames, 'repeats': args.repeats, 'tensors': {}}
    for split_index, split in enumerate(detector.split_points):
        for variant, use_bottleneck in (('cut', False), ('code', True)):
            head = detector.head(split, bottleneck=use_bottleneck, exits=False)
            with torch.no_grad():
                tensors = [head(frame[None])['code'].numpy() for frame in frames]
            shape = tensors[0].shape
            codecs = dict(CODECS)
            if use_bottleneck:  # the learned codecs have tables for codes only (a rate level each)
                codecs |= {name: codec for name, codec in learned.items() if (split_index, codec.level) in codec.tables}
            spec = WireSpec(MODEL_ID, tuple(shape if i == split_index else (1,) for i in range(split_index + 1)),
                            max_bytes=1 << 28, codecs={c.codec_id: c for c in codecs.values()})  # fmt: skip
            decoder = FrameDecoder(spec)
            rows = {name: measure(tensors, codec, decoder, split_index, args.repeats) for name, codec in codecs.items()}
            results['tensors'][f'{split}/{variant}'] = {'shape': list(shape), 'codecs': rows}
            int8 = rows['int8']
            total_ms = int8['encode']['median_ms'] + int8['decode']['median_ms']
            print(f'{split}/{variant} {shape}: int8 {total_ms:.2f} ms, {int8["bytes"]:.0f} B', flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / 'codec.json').write_text(json.dumps(results, indent=1) + '\n')
    (RESULTS / 'codec.md').write_text(report(results))


def report(results: dict) -> str:
    """A Markdown table per tensor: bytes, lossless size beside it, encode and decode times."""
    lines = [f'# Codec benchmark: {results["source"]}, synthetic drive frames', '']
    lines.append(f'{results["frames"]} frames x {results["repeats"]} repeats; times median / p95 in ms.')
    for name, tensor in results['tensors'].items():
        rows = tensor['codecs']
        lossless = min(row['bytes'] for codec, row in rows.items() if codec.startswith('raw'))
        lines += ['', f'## {name} {"x".join(map(str, tensor["shape"]))}', '',
                  f'Smallest lossless frame (raw + entropy stage): {lossless:.0f} B', '',
                  '| codec | bytes | vs lossless | encode | decode | enc+dec median | max abs error |',
                  '|---|---|---|---|---|---|---|']  # fmt: skip
        for codec, row in rows.items():
            total = row['encode']['median_ms'] + row['decode']['median_ms']
            lines.append(
                f'| {codec} | {row["bytes"]:.0f} | {row["bytes"] / lossless:.3f} | '
                f'{row["encode"]["median_ms"]:.2f} / {row["encode"]["p95_ms"]:.2f} | '
                f'{row["decode"]["median_ms"]:.2f} / {row["decode"]["p95_ms"]:.2f} | {total:.2f} | '
                f'{row["max_abs_error"]:.4g} |'
            )
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
