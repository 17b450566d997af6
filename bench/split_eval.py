# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Bottleneck candidates side by side at one split: their codes' bytes and accuracy, on the same held-out set.

    python bench/split_eval.py models/splitee_demo artifacts/models/splitee_demo_wide [--split stage2]

`splitee eval` reports everything about one package (every split and codec, the exits, JPEG, WebP, H.264):
about 40 minutes of both cores here. Choosing between two trainings of one split's bottleneck needs only
that split's codes and the teacher, on the set the packages' own evaluations use (the same seed, drives and
frames): a fraction of the time, and numbers that compare with each package's eval.json. Writes
bench/results/split_eval.{json,md}: per package, the teacher's mAP@.5 and, per codec, bytes per frame and
mAP@.5 (COCO's and as published) with the gap to the teacher.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from results_file import write_results

HERE = Path(__file__).resolve().parent


def _score(evaluation, split: str) -> dict:
    """The teacher's score and the split's codes' bytes and scores."""
    teacher = evaluation.scorer.score(evaluation.teacher()).__dict__
    codes = evaluation.split_codecs(split)
    return {'teacher': teacher, 'bytes': codes['bytes'], 'accuracy': codes['accuracy']}


def _rows(folder: str, report: dict) -> list[str]:
    from splitee_ros.train.evaluate import quantizer_of

    teacher = report['teacher']
    lines = []
    for codec, size in sorted(report['bytes'].items(), key=lambda item: item[1]):
        score = report['accuracy'][quantizer_of(codec)]
        gap = (score['map50'] - teacher['map50']) * 100
        published_gap = (score['published_map50'] - teacher['published_map50']) * 100
        lines.append(f'| {folder} | {codec} | {size:,.0f} | {score["map50"]:.3f} ({gap:+.1f}) | '
                     f'{score["published_map50"]:.3f} ({published_gap:+.1f}) |')  # fmt: skip
    return lines


def main() -> None:
    """Evaluate each package's split on the held-out set, write the table."""
    from splitee_ros.model.package import ModelPackage
    from splitee_ros.train.data import open_dataset
    from splitee_ros.train.evaluate import HELD_OUT, Evaluation

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('packages', nargs='+', help='model package folders')
    parser.add_argument('--split', default='stage2')
    parser.add_argument('--seed', type=int, default=HELD_OUT['synth']['seed'])
    parser.add_argument('--drives', type=int, default=HELD_OUT['synth']['drives'])
    parser.add_argument('--frames', type=int, default=HELD_OUT['synth']['frames'])
    parser.add_argument('--work-dir', default='artifacts/eval', help='where the held-out set is made (as splitee eval)')
    parser.add_argument('--out', type=Path, default=HERE / 'results' / 'split_eval.json')
    args = parser.parse_args()
    data = {'synth': {**HELD_OUT['synth'], 'seed': args.seed, 'drives': args.drives, 'frames': args.frames}}
    command = f'python bench/split_eval.py {" ".join(args.packages)} --split {args.split} ' + (
        f'--seed {args.seed} --drives {args.drives} --frames {args.frames}'
    )
    reports: dict[str, dict] = {}
    for folder in args.packages:
        package = ModelPackage.load(folder)
        dataset = open_dataset(data, package.config.class_names, Path(args.work_dir) / 'data')
        started = time.monotonic()
        reports[folder] = {'model_id': package.model_id.hex(), **_score(Evaluation(package, dataset), args.split)}
        reports[folder]['seconds'] = round(time.monotonic() - started, 1)
        print(f'{folder}: {reports[folder]["seconds"]:.0f} s', flush=True)
    images = args.drives * args.frames
    lines = [
        f'# Bottleneck candidates at {args.split} ({images} held-out images)',
        '',
        f'`{command}`. mAP@.5 as COCO scores it (detections down to 0.05) and as the nodes publish it (above the '
        "deployed score threshold); in brackets, points against the package's own teacher.",
        '',
        '| package | codec | bytes/frame | mAP@.5 | as published |',
        '|---|---|---|---|---|',
    ]
    for folder, report in reports.items():
        teacher = report['teacher']
        lines.append(f'| {folder} | teacher | | {teacher["map50"]:.3f} | {teacher["published_map50"]:.3f} |')
        lines += _rows(folder, report)
    write_results(args.out, {'command': command, 'split': args.split, 'data': data, 'packages': reports}, lines)


if __name__ == '__main__':
    main()
