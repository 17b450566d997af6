# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""`splitee eval`: COCO mAP of a model package, split by split and codec by codec, exits, and the baseline.

Measured on a COCO data set (a held-out synthetic set by default):
- the teacher (the whole model), per COCO size bucket and per condition;
- every split point with every quantiser (entropy stages are lossless: they change bytes, not accuracy;
  every codec's bytes per frame are measured);
- every exit alone, and the exit policy against the threshold (exit rate and mAP of the mixed output);
- what users do today: the frame sent as JPEG, WebP or PNG with the whole model on the edge.
Results go to JSON, a rate-accuracy plot and the package's model card.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from splitee_ros.codec.frame import FrameDecoder, encode_frame
from splitee_ros.data.coco import CocoDataset
from splitee_ros.model.detector import SplittableDetector
from splitee_ros.model.package import ModelPackage
from splitee_ros.model.postprocess import Detections
from splitee_ros.train.data import open_dataset, to_input

EVAL_SCORE_THRESH = 0.05  # mAP is measured over the whole precision-recall curve, as COCO evaluations do
QUANTIZERS = ('raw', 'fp16', 'int8', 'int6', 'int4', 'learned')
BASELINES = (('jpeg', 50), ('jpeg', 70), ('jpeg', 85), ('jpeg', 95), ('webp', 50), ('webp', 80), ('png', 3))


@dataclass(frozen=True)
class Score:
    """COCO metrics of one way of running the model."""

    map: float  # mAP@[.5:.95]
    map50: float
    small: float
    medium: float
    large: float


class CocoScorer:
    """COCO evaluation of per-image detections against a data set's ground truth."""

    def __init__(self, dataset: CocoDataset) -> None:
        """Index the ground truth."""
        self.dataset = dataset
        with contextlib.redirect_stdout(io.StringIO()):
            self.coco = COCO(str(dataset.annotation_file))

    def score(self, detections: Mapping[int, Detections], image_ids: Sequence[int] | None = None) -> Score:
        """Score detections keyed by image id (restricted to `image_ids` if given)."""
        ids = list(image_ids if image_ids is not None else detections)
        results = [
            {'image_id': int(image_id), 'category_id': self.dataset.category_of_label[int(label)],
             'bbox': [float(x0), float(y0), float(x1 - x0), float(y1 - y0)], 'score': float(score)}
            for image_id in ids
            for (x0, y0, x1, y1), score, label in zip(*_arrays(detections[image_id]), strict=True)
            if int(label) in self.dataset.category_of_label
        ]  # fmt: skip
        if not results:
            return Score(0.0, 0.0, 0.0, 0.0, 0.0)
        with contextlib.redirect_stdout(io.StringIO()):
            evaluation = COCOeval(self.coco, self.coco.loadRes(results), 'bbox')
            evaluation.params.imgIds = ids
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        stats = [max(float(value), 0.0) for value in evaluation.stats]  # -1 means "no ground truth": report 0
        return Score(stats[0], stats[1], stats[3], stats[4], stats[5])


def _arrays(result: Detections):
    return result.boxes, result.scores, result.labels


def _image_bytes(image_bgr: np.ndarray, kind: str, quality: int) -> bytes:
    if kind == 'jpeg':
        ok, data = cv2.imencode('.jpg', image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    elif kind == 'webp':
        ok, data = cv2.imencode('.webp', image_bgr, [cv2.IMWRITE_WEBP_QUALITY, quality])
    else:
        ok, data = cv2.imencode('.png', image_bgr, [cv2.IMWRITE_PNG_COMPRESSION, quality])
    if not ok:
        raise RuntimeError(f'OpenCV cannot encode {kind}')
    return data.tobytes()


def _numpy(outputs: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {key: value.detach().numpy() for key, value in outputs.items()}


class Evaluation:
    """Runs a package's detector every way that `evaluate` reports, over one data set."""

    def __init__(self, package: ModelPackage, dataset: CocoDataset) -> None:
        """Load the detector and the wire spec of the package; score with COCO's usual low threshold."""
        self.package = package
        self.detector: SplittableDetector = package.detector().eval()
        deployed = self.detector.postprocess_config
        self.detector.postprocess_config = replace(
            deployed, score_thresh=min(deployed.score_thresh, EVAL_SCORE_THRESH), detections_per_img=100
        )
        self.dataset = dataset
        self.scorer = CocoScorer(dataset)
        self.spec = package.wire_spec(max_bytes=1 << 30)
        self.decoder = FrameDecoder(self.spec)
        self.image_ids = [image['id'] for image in dataset.images]
        self.images = [dataset.image(index) for index in range(len(dataset))]  # read once, used by every pass

    def _run(self, predict: Callable[[np.ndarray, torch.Tensor], Detections]) -> dict[int, Detections]:
        results = {}
        with torch.no_grad():
            for index, image_id in enumerate(self.image_ids):
                bgr = self.images[index]
                results[image_id] = predict(bgr, to_input(bgr, self.detector.input_size)[0][None])
        return results

    def teacher(self) -> dict[int, Detections]:
        """Detections of the whole model."""
        return self._run(lambda bgr, x: self.detector.detections(_numpy(self.detector(x)), bgr.shape[:2])[0])

    def split_codecs(self, split: str) -> dict[str, Any]:
        """Accuracy per quantiser and bytes per codec at `split` (what crosses the link: the bottleneck code)."""
        index = self.package.split_names.index(split)
        head, tail = self.detector.head(split, exits=False), self.detector.tail(split)
        codecs = {codec.name: codec for codec in self.spec.codecs.values()}
        with torch.no_grad():
            size = self.detector.input_size
            codes = [head(to_input(bgr, size)[0][None])['code'].numpy() for bgr in self.images]  # fmt: skip
        report: dict[str, Any] = {'bytes': {}, 'accuracy': {}}
        for name, codec in codecs.items():
            frames = [encode_frame(code, codec, self.package.model_id, index, n) for n, code in enumerate(codes)]
            report['bytes'][name] = float(np.mean([len(frame) for frame in frames]))
            if name not in QUANTIZERS:  # an entropy stage on top of a quantiser: same tensor, fewer bytes
                continue
            results = {}
            with torch.no_grad():
                for n, (image_id, frame) in enumerate(zip(self.image_ids, frames, strict=True)):
                    decoded = torch.from_numpy(self.decoder.decode(frame).tensor)
                    outputs = _numpy(tail(decoded))
                    results[image_id] = self.detector.detections(outputs, self.images[n].shape[:2])[0]
            report['accuracy'][name] = self.scorer.score(results).__dict__
        return report

    def exits(self, thresholds: Sequence[float], full: Mapping[int, Detections]) -> dict[str, Any]:
        """Each exit alone, and the mix (exit if confident, else the full model) against the threshold."""
        report = {}
        for split in self.detector.exits:
            head = self.detector.head(split, bottleneck=False)
            exit_results, confidences = {}, {}
            with torch.no_grad():
                for n, image_id in enumerate(self.image_ids):
                    bgr = self.images[n]
                    outputs = _numpy(head(to_input(bgr, self.detector.input_size)[0][None]))
                    exit_results[image_id] = self.detector.detections(outputs, bgr.shape[:2], exit_name=split)[0]
                    confidences[image_id] = float(outputs[f'exit.{split}.confidence'][0])
            curve = []
            for threshold in thresholds:
                taken = {i for i in self.image_ids if confidences[i] >= threshold}
                mixed = {i: exit_results[i] if i in taken else full[i] for i in self.image_ids}
                curve.append({'threshold': threshold, 'exit_rate': len(taken) / len(self.image_ids),
                              **self.scorer.score(mixed).__dict__})  # fmt: skip
            report[split] = {'alone': self.scorer.score(exit_results).__dict__, 'curve': curve}
        return report

    def baselines(self) -> dict[str, Any]:
        """The whole frame compressed as an image and decoded at the edge, with the whole model there."""
        report = {}
        for kind, quality in BASELINES:
            sizes = []

            def predict(bgr, _, kind=kind, quality=quality, sizes=sizes):
                data = _image_bytes(bgr, kind, quality)
                sizes.append(len(data))
                decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                x = to_input(decoded, self.detector.input_size)[0][None]
                return self.detector.detections(_numpy(self.detector(x)), decoded.shape[:2])[0]

            results = self._run(predict)
            report[f'{kind}{quality}'] = {'bytes': float(np.mean(sizes)), **self.scorer.score(results).__dict__}
        return report

    def by_condition(self, results: Mapping[int, Detections]) -> dict[str, Any]:
        """Teacher scores per scene condition (images without one count as 'all')."""
        groups: dict[str, list[int]] = {}
        for image in self.dataset.images:
            groups.setdefault(image.get('condition', 'all'), []).append(image['id'])
        return {condition: self.scorer.score(results, ids).__dict__ for condition, ids in sorted(groups.items())}


def evaluate(package_dir: str | Path, data: Mapping[str, Any], work_dir: str | Path, out: str | Path) -> dict:
    """Evaluate a model package on a data set; write JSON, the rate-accuracy plot and the model card."""
    package = ModelPackage.load(package_dir)
    dataset = open_dataset(data, package.config.class_names, Path(work_dir) / 'data')
    evaluation = Evaluation(package, dataset)
    teacher = evaluation.teacher()
    report = {
        'package': str(package_dir), 'model_id': package.model_id.hex(), 'images': len(dataset),
        'data': dict(data), 'teacher': evaluation.scorer.score(teacher).__dict__,
        'teacher_by_condition': evaluation.by_condition(teacher),
        'splits': {split: evaluation.split_codecs(split) for split in package.split_names},
        'exits': evaluation.exits([round(t, 2) for t in np.linspace(0, 1, 11)], teacher),
        'baselines': evaluation.baselines(),
    }  # fmt: skip
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'eval.json').write_text(json.dumps(report, indent=1) + '\n')
    plot_rate_accuracy(report, out / 'rate_accuracy.png')
    return report


def plot_rate_accuracy(report: Mapping[str, Any], path: Path) -> None:
    """Bytes per frame against mAP@.5: every split with every quantiser (smallest entropy stage), and images."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for split, entry in report['splits'].items():
        points = sorted(
            (min(b for name, b in entry['bytes'].items() if name.split('+')[0] == quantizer), scores['map50'])
            for quantizer, scores in entry['accuracy'].items()
        )
        axes.plot(*zip(*points, strict=True), 'o-', label=f'split {split}')
    baseline = sorted((entry['bytes'], entry['map50'], name) for name, entry in report['baselines'].items())
    axes.plot([b for b, _, _ in baseline], [m for _, m, _ in baseline], 's--', color='gray', label='image offload')
    axes.axhline(report['teacher']['map50'], color='black', lw=0.8, label='teacher')
    axes.set_xscale('log')
    axes.set_xlabel('bytes per frame')
    axes.set_ylabel('mAP@.5')
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


HELD_OUT = {'synth': {'seed': 2027, 'drives': 40, 'frames': 10, 'fps': 2.0, 'image_format': 'png'}}
ACCURACY_TOLERANCE = 0.01  # "at the teacher's accuracy": within one point of mAP@.5


def smallest_within(report: Mapping[str, Any], tolerance: float = ACCURACY_TOLERANCE) -> dict[str, Any]:
    """The fewest bytes per frame within `tolerance` of the teacher's mAP@.5: bottleneck codes vs images."""
    floor = report['teacher']['map50'] - tolerance
    codes = [
        (bytes_, f'{split} {name}', entry['accuracy'][name.split('+')[0]]['map50'])
        for split, entry in report['splits'].items()
        for name, bytes_ in entry['bytes'].items()
        if entry['accuracy'][name.split('+')[0]]['map50'] >= floor
    ]
    images = [
        (entry['bytes'], name, entry['map50']) for name, entry in report['baselines'].items() if entry['map50'] >= floor
    ]
    best_code, best_image = min(codes, default=None), min(images, default=None)
    return {
        'floor_map50': floor,
        'code': dict(zip(('bytes', 'config', 'map50'), best_code, strict=True)) if best_code else None,
        'image': dict(zip(('bytes', 'config', 'map50'), best_image, strict=True)) if best_image else None,
        'ratio': best_image[0] / best_code[0] if best_code and best_image else None,
    }


def write_model_card(report: Mapping[str, Any], path: Path, reproduce: str) -> None:
    """The model card: every measured number of the report, as Markdown tables."""
    teacher = report['teacher']
    lines = [
        f'# Model card: {Path(report["package"]).name}', '',
        f'Model id `{report["model_id"]}`. Measured by `splitee eval` on {report["images"]} held-out images '
        f'({json.dumps(report["data"])}), detections scored down to {EVAL_SCORE_THRESH} (at most 100 per '
        'image), as COCO evaluations do; the deployed threshold is in the manifest.', '',
        '## Reproduce', '', '```bash', reproduce, '```', '',
        '## Teacher (whole model)', '',
        '| mAP@[.5:.95] | mAP@.5 | small | medium | large |', '|---|---|---|---|---|',
        f'| {teacher["map"]:.3f} | {teacher["map50"]:.3f} | {teacher["small"]:.3f} | {teacher["medium"]:.3f} | '
        f'{teacher["large"]:.3f} |', '',
        '| condition | mAP@[.5:.95] | mAP@.5 | small | medium | large |', '|---|---|---|---|---|---|',
    ]  # fmt: skip
    for condition, score in report['teacher_by_condition'].items():
        lines.append(f'| {condition} | {score["map"]:.3f} | {score["map50"]:.3f} | {score["small"]:.3f} | '
                     f'{score["medium"]:.3f} | {score["large"]:.3f} |')  # fmt: skip
    lines += ['', '## Split points and codecs', '',
              'mAP@.5 of the split model (bottleneck code through each quantiser), and bytes per frame (the frame '
              'header included) with the entropy stage that gives the fewest bytes.', '',
              '| split | quantiser | mAP@.5 | Δ vs teacher | mAP@[.5:.95] | bytes/frame (best entropy stage) |',
              '|---|---|---|---|---|---|']  # fmt: skip
    for split, entry in report['splits'].items():
        for quantizer, score in entry['accuracy'].items():
            name, size = min(
                ((n, b) for n, b in entry['bytes'].items() if n.split('+')[0] == quantizer), key=lambda x: x[1]
            )
            lines.append(f'| {split} | {quantizer} | {score["map50"]:.3f} | {score["map50"] - teacher["map50"]:+.3f} | '
                         f'{score["map"]:.3f} | {size:.0f} ({name}) |')  # fmt: skip
    lines += ['', '## Exits', '', '| exit | mAP@.5 alone | mAP@[.5:.95] alone |', '|---|---|---|']
    for split, entry in report['exits'].items():
        lines.append(f'| {split} | {entry["alone"]["map50"]:.3f} | {entry["alone"]["map"]:.3f} |')
    header = ' | '.join(f'{s} rate | {s} mAP@.5' for s in report['exits'])
    lines += ['', 'Exit when the confidence reaches the threshold, else the full model: exit rate and mAP@.5 of '
              'the mixed output.', '', f'| threshold | {header} |',
              '|---|' + '---|---|' * len(report['exits'])]  # fmt: skip
    curves = [entry['curve'] for entry in report['exits'].values()]
    for rows in zip(*curves, strict=True):
        cells = ' | '.join(f'{row["exit_rate"]:.2f} | {row["map50"]:.3f}' for row in rows)
        lines.append(f'| {rows[0]["threshold"]:.1f} | {cells} |')
    lines += ['', '## Baseline: the frame as an image, the whole model on the edge', '',
              '| encoding | bytes/frame | mAP@.5 | mAP@[.5:.95] |', '|---|---|---|---|']  # fmt: skip
    for name, entry in report['baselines'].items():
        lines.append(f'| {name} | {entry["bytes"]:.0f} | {entry["map50"]:.3f} | {entry["map"]:.3f} |')
    best = smallest_within(report)
    floor = best['floor_map50']
    lines += ['', "## Rate at the teacher's accuracy", '',
              f"Fewest bytes per frame within one point of the teacher's mAP@.5 (at least {floor:.3f}):",
              '']  # fmt: skip
    for kind in ('code', 'image'):
        entry = best[kind]
        lines.append(
            f'- {kind}: '
            + (
                f'{entry["bytes"]:.0f} B ({entry["config"]}, mAP@.5 {entry["map50"]:.3f})'
                if entry
                else 'none reaches it'
            )
        )
    if best['ratio']:
        lines.append(f'- the bottleneck code is {best["ratio"]:.1f}x smaller than the image')
    lines += ['', '![rate-accuracy](rate_accuracy.png)', '']
    path.write_text('\n'.join(lines))
