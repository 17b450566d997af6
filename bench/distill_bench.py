# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Bottleneck distillation on this CPU, before and after: images per CPU-hour, and the gap after one CPU-hour.

    python bench/distill_bench.py --teacher artifacts/train/demo_cpu/checkpoints/teacher.pt [--cpu-hours 1]

Both methods train the bottlenecks of config/train/demo_cpu.yaml from scratch against the same trained teacher,
each in a process of its own on one thread (one CPU-hour is one hour of one core), side by side:
- before: the stage as it was, every split at once, on whole frames, the head run on every batch, losses at
  the cut and at the head's outputs;
- after: one split at a time (the budget shared between them), from cut tensors computed once, on random
  crops, losses at the cut, the later stages and the neck.
Each has the rate term of its finest rate level. Then the gap: mAP@.5 of each split with its code rounded to
integers, against the teacher's, on held-out images. Writes bench/results/distill.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from pathlib import Path

from results_file import write_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG = ROOT / 'config' / 'train' / 'demo_cpu.yaml'
BEFORE = {'feature_weight': 1.0, 'output_weight': 1.0}
AFTER_KEYS = ('cache_images', 'crop', 'feature_weight', 'stage_weight', 'neck_weight')


def _setup(teacher: Path):
    """The detector of the CPU config with the trained teacher's weights, and its training set."""
    import torch

    from splitee_ros.model.families import build_detector
    from splitee_ros.train.data import DetectionDataset, open_dataset
    from splitee_ros.train.engine import TrainConfig

    config = TrainConfig.from_yaml(CONFIG)
    detector = build_detector(config.model)
    modules = torch.load(teacher, map_location='cpu', weights_only=False)['modules']
    detector.backbone.load_state_dict(modules['backbone'])
    detector.neck_head.load_state_dict(modules['neck_head'])
    coco = open_dataset(config.train_data, config.model.class_names, ROOT / config.work_dir / 'data' / 'train')
    return config, detector, DetectionDataset(coco, detector.input_size, augment=True, seed=0)


def _train(method: str, teacher: str, seconds: float, out: str, cache_images: int | None) -> None:
    """One method for `seconds` of one thread; saves the bottlenecks and what was done."""
    import torch

    from splitee_ros.train.stages import STAGES

    torch.set_num_threads(1)
    torch.manual_seed(0)
    config, detector, dataset = _setup(Path(teacher))
    stage_options = next(s.options for s in config.stages if s.kind == 'bottleneck')
    finest = [stage_options['rate_levels'][0]]
    splits = list(detector.bottlenecks)
    if method == 'before':
        plans = [(splits, {**BEFORE, 'rate_levels': finest}, 8, seconds)]
    else:
        after = {key: stage_options[key] for key in AFTER_KEYS} | {'rate_levels': finest}
        after['cache_images'] = cache_images or after['cache_images']
        plans = [([split], after, 16, seconds / len(splits)) for split in splits]
    report = {'method': method, 'splits': {}, 'prepare_seconds': 0.0, 'options': plans[0][1]}
    for plan_splits, options, batch_size, budget in plans:
        stage = STAGES['bottleneck'](detector, {**options, 'splits': plan_splits})
        optimizer = torch.optim.AdamW(stage.param_groups(1e-3), lr=1e-3, weight_decay=0.0)
        started = time.process_time()
        stage.prepare(dataset, torch.device('cpu'))
        prepare = time.process_time() - started
        report['prepare_seconds'] += prepare
        iterations, items = 0, 0
        while time.process_time() - started < budget:
            order = torch.randperm(stage.size(dataset)).tolist()
            for batch in stage.batches(dataset, batch_size, order, torch.device('cpu')):
                stage.train_mode()
                loss = sum(stage.losses(batch).values())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(stage.clipped_parameters(), 10.0)
                optimizer.step()
                iterations += 1
                items += batch_size
                if time.process_time() - started >= budget:
                    break
        crop = options.get('crop', 1.0) if options.get('cache_images') else 1.0
        spent = time.process_time() - started
        for split in plan_splits:
            report['splits'][split] = {
                'iterations': iterations, 'cpu_seconds': spent, 'items': items, 'crop': crop,
                'frame_equivalents_per_cpu_hour': items * crop * crop / spent * 3600,
                'items_per_cpu_hour': items / spent * 3600,
            }  # fmt: skip
    torch.save({split: detector.bottlenecks[split].state_dict() for split in splits}, Path(out) / f'{method}.pt')
    (Path(out) / f'{method}.json').write_text(json.dumps(report, indent=1))


def _gap(teacher: Path, work: Path, images: int) -> dict:
    """mAP@.5 of the teacher and of every split's rounded code, for each method."""
    import torch

    from splitee_ros.data.coco import CocoDataset
    from splitee_ros.train.data import open_dataset, to_input
    from splitee_ros.train.evaluate import HELD_OUT, CocoScorer

    torch.set_num_threads(2)
    config, detector, _ = _setup(teacher)
    held_out = {'synth': {**HELD_OUT['synth'], 'drives': images // 10, 'frames': 10}}
    coco: CocoDataset = open_dataset(held_out, config.model.class_names, work / 'held_out')
    scorer = CocoScorer(coco)
    inputs = [(image['id'], coco.image(n)) for n, image in enumerate(coco.images)]

    def score(run) -> float:
        with torch.no_grad():
            results = {i: run(to_input(bgr, detector.input_size)[0][None], bgr.shape[:2]) for i, bgr in inputs}
        return scorer.score(results).map50

    def whole(x, size):
        return detector.detections({k: v.numpy() for k, v in detector(x).items()}, size)[0]

    report = {'teacher_map50': score(whole), 'images': len(inputs), 'methods': {}}
    for method in ('before', 'after'):
        for split, state in torch.load(work / f'{method}.pt', weights_only=True).items():
            detector.bottlenecks[split].load_state_dict(state)
        detector.eval()
        gaps = {}
        for split in detector.bottlenecks:
            head, tail = detector.head(split, exits=False), detector.tail(split)

            def split_run(x, size, head=head, tail=tail):
                outputs = tail(torch.round(head(x)['code']))
                return detector.detections({k: v.numpy() for k, v in outputs.items()}, size)[0]

            map50 = score(split_run)
            gaps[split] = {'map50': map50, 'gap_points': round(100 * (report['teacher_map50'] - map50), 2)}
        report['methods'][method] = {**json.loads((work / f'{method}.json').read_text()), 'gap': gaps}
    return report


def main() -> None:
    """Run both methods side by side, score them, write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--teacher', type=Path, required=True, help='a finished teacher stage checkpoint')
    parser.add_argument('--cpu-hours', type=float, default=1.0)
    parser.add_argument('--images', type=int, default=100, help='held-out images for the gap')
    parser.add_argument('--cache-images', type=int, help="images the cache holds (default: the config's)")
    parser.add_argument('--work', type=Path, default=ROOT / 'artifacts' / 'distill_bench')
    parser.add_argument('--out', type=Path, default=HERE / 'results')
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    seconds = args.cpu_hours * 3600
    context = multiprocessing.get_context('spawn')
    workers = [context.Process(target=_train, args=(m, str(args.teacher), seconds, str(args.work), args.cache_images))
               for m in ('before', 'after')]  # fmt: skip
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        if worker.exitcode:
            raise SystemExit(f'a training process failed ({worker.exitcode})')
    report = {'config': str(CONFIG.relative_to(ROOT)), 'cpu_hours': args.cpu_hours, **_gap(args.teacher, args.work,
                                                                                          args.images)}  # fmt: skip
    lines = [
        f'# Bottleneck distillation on this CPU: {args.cpu_hours:g} CPU-hour per method',
        '',
        f'`python bench/distill_bench.py --teacher {args.teacher} --cpu-hours {args.cpu_hours:g}'
        f'{f" --cache-images {args.cache_images}" if args.cache_images else ""}`; teacher mAP@.5 '
        f'{report["teacher_map50"]:.3f} on {report["images"]} held-out images; codes rounded to integers.',
        '',
        '| method | split | items per CPU-hour | frame-equivalents per CPU-hour | mAP@.5 | gap (points) |',
        '|---|---|---|---|---|---|',
    ]
    for method, entry in report['methods'].items():
        for split, done in entry['splits'].items():
            gap = entry['gap'][split]
            rates = f'{done["items_per_cpu_hour"]:.0f} | {done["frame_equivalents_per_cpu_hour"]:.0f}'
            lines.append(f'| {method} | {split} | {rates} | {gap["map50"]:.3f} | {gap["gap_points"]:.1f} |')
    cached = report['methods']['after']['options']['cache_images']
    lines += ['', 'Items: frames (before) or cached crops (after); a frame-equivalent is a crop times its share of '
              f'the frame. The cache ({cached} images) is built once per split inside the budget.']  # fmt: skip
    write_results(args.out / 'distill.json', report, lines)


if __name__ == '__main__':
    main()
