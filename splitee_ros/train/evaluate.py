# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""`splitee eval`: COCO mAP of a model package, split by split and codec by codec, exits, and the baselines.

Measured on a COCO data set (a held-out synthetic set by default: drives at the camera's 10 FPS, so that
images, video and codes are all scored on the same frames):
- the teacher (the whole model), per COCO size bucket, per condition, per class, with the recall of
  pedestrians and cyclists (an exit or a code must not hide road users behind a good mean);
- every split point with every quantiser and every rate level of the learned codec (entropy stages are
  lossless: they change bytes, not accuracy; every codec's bytes per frame are measured);
- every exit alone, and the exit policy against the threshold: exit where confident, else the edge's answer
  from the split's code (exit rate and mAP of the mixed output);
- what users do today: the frame as JPEG, WebP or PNG, and the drive as H.264 video (x264, zero latency, a GOP
  of 10 frames), decoded at the edge and run through the whole model there; and the JPEG bytes of the same
  frames without sensor noise (what texture costs, against what noise costs).
The operating point (split, codec, exit threshold: the fewest bytes within a point of the teacher, and the
most exits that keep the mixed output within two) goes into the package's manifest as its `defaults`.
Results go to JSON, a rate-accuracy plot and the package's model card.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from splitee_ros.codec.frame import FrameDecoder, encode_frame
from splitee_ros.codec.learned import LearnedCodec
from splitee_ros.data.coco import CocoDataset
from splitee_ros.model.detector import SplittableDetector
from splitee_ros.model.package import ModelPackage
from splitee_ros.model.postprocess import Detections, PostprocessConfig, agreement
from splitee_ros.train.baselines import encode_decode_h264, image_bytes
from splitee_ros.train.data import open_dataset, to_input

EVAL_SCORE_THRESH = 0.05  # mAP is measured over the whole precision-recall curve, as COCO evaluations do
QUANTIZERS = ('raw', 'fp16', 'int8', 'int6', 'int4')  # and the package's learned codecs
IMAGE_BASELINES = (
    *(('jpeg', q) for q in (10, 20, 30, 40, 50, 60, 70, 80, 90, 95)),
    *(('webp', q) for q in (10, 30, 50, 70, 90)),
    ('png', 3),
)
H264_CRFS = (18, 23, 28, 33, 38)
ROAD_USERS = ('pedestrian', 'cyclist')
EXIT_TOLERANCE = 0.02  # the operating point's exits keep the mixed output within two points of the teacher


@dataclass(frozen=True)
class Score:
    """COCO metrics of one way of running the model."""

    map: float  # mAP@[.5:.95]
    map50: float
    small: float
    medium: float
    large: float
    ap50: dict[str, float] = field(default_factory=dict)  # per class
    recall50: dict[str, float] = field(default_factory=dict)  # per class, at IoU 0.5, 100 detections
    published_map50: float | None = None  # mAP@.5 at the deployed score threshold (see CocoScorer)


class CocoScorer:
    """COCO evaluation of per-image detections against a data set's ground truth.

    With `published`, each score also has `published_map50`: the mAP@.5 of the detections as the nodes publish
    them (at the package's deployed score threshold and cap), which is what on-time accuracy measures; COCO's
    low threshold credits detections no node publishes.
    """

    def __init__(self, dataset: CocoDataset, published: PostprocessConfig | None = None) -> None:
        """Index the ground truth."""
        self.dataset = dataset
        self.published = published
        with contextlib.redirect_stdout(io.StringIO()):
            self.coco = COCO(str(dataset.annotation_file))
        self.names = {c['id']: c['name'] for c in self.coco.loadCats(self.coco.getCatIds())}

    def score(self, detections: Mapping[int, Detections], image_ids: Sequence[int] | None = None) -> Score:
        """Score detections keyed by image id (restricted to `image_ids` if given)."""
        ids = list(image_ids if image_ids is not None else detections)
        score = self._coco(detections, ids)
        if self.published is None:
            return score
        as_published = {i: published_detections(detections[i], self.published) for i in ids}
        return replace(score, published_map50=self._coco(as_published, ids).map50)

    def _coco(self, detections: Mapping[int, Detections], ids: Sequence[int]) -> Score:
        results = [
            {'image_id': int(image_id), 'category_id': self.dataset.category_of_label[int(label)],
             'bbox': [float(x0), float(y0), float(x1 - x0), float(y1 - y0)], 'score': float(score)}
            for image_id in ids
            for (x0, y0, x1, y1), score, label in zip(*_arrays(detections[image_id]), strict=True)
            if int(label) in self.dataset.category_of_label
        ]  # fmt: skip
        if not results:
            zeros = dict.fromkeys(self.names.values(), 0.0)
            return Score(0.0, 0.0, 0.0, 0.0, 0.0, zeros, dict(zeros))
        with contextlib.redirect_stdout(io.StringIO()):
            evaluation = COCOeval(self.coco, self.coco.loadRes(results), 'bbox')
            evaluation.params.imgIds = list(ids)
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        stats = [max(float(value), 0.0) for value in evaluation.stats]  # -1 means "no ground truth": report 0
        precision = evaluation.eval['precision'][0, :, :, 0, -1]  # IoU .5, every recall, class, all areas, 100 dets
        recall = evaluation.eval['recall'][0, :, 0, -1]
        ap50, recall50 = {}, {}
        for k, category in enumerate(evaluation.params.catIds):
            values = precision[:, k]
            ap50[self.names[category]] = round(float(values[values > -1].mean()) if (values > -1).any() else 0.0, 4)
            recall50[self.names[category]] = round(max(float(recall[k]), 0.0), 4)
        return Score(stats[0], stats[1], stats[3], stats[4], stats[5], ap50, recall50)


def published_detections(result: Detections, config: PostprocessConfig) -> Detections:
    """The detections a node publishes of `result`: those above its score threshold, the highest first.

    The same as postprocessing at that threshold: NMS visits boxes by falling score, so a box under the threshold
    never suppresses one above it.
    """
    keep = np.flatnonzero(result.scores > config.score_thresh)
    keep = keep[np.argsort(-result.scores[keep], kind='stable')][: config.detections_per_img]
    return Detections(result.boxes[keep], result.scores[keep], result.labels[keep])


def _arrays(result: Detections):
    return result.boxes, result.scores, result.labels


def _numpy(outputs: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {key: value.detach().numpy() for key, value in outputs.items()}


class Evaluation:
    """Runs a package's detector every way that `evaluate` reports, over one data set."""

    def __init__(self, package: ModelPackage, dataset: CocoDataset) -> None:
        """Load the detector and the wire spec; score with COCO's usual low threshold, and as published."""
        self.package = package
        self.detector: SplittableDetector = package.detector().eval()
        deployed = self.detector.postprocess_config
        self.detector.postprocess_config = replace(
            deployed, score_thresh=min(deployed.score_thresh, EVAL_SCORE_THRESH), detections_per_img=100
        )
        self.dataset = dataset
        self.scorer = CocoScorer(dataset, published=deployed)
        self.spec = package.wire_spec(max_bytes=1 << 30)
        self.decoder = FrameDecoder(self.spec)
        self.image_ids = [image['id'] for image in dataset.images]
        self.images = [dataset.image(index) for index in range(len(dataset))]  # read once, used by every pass
        self.edge_results: dict[tuple[str, str], dict[int, Detections]] = {}  # (split, codec) -> detections

    def _run(self, predict: Callable[[np.ndarray, torch.Tensor], Detections]) -> dict[int, Detections]:
        results = {}
        with torch.no_grad():
            for index, image_id in enumerate(self.image_ids):
                bgr = self.images[index]
                results[image_id] = predict(bgr, to_input(bgr, self.detector.input_size)[0][None])
        return results

    def teacher(self) -> dict[int, Detections]:
        """Detections of the whole model."""
        return self._run(lambda bgr, _: self._whole_model(bgr))

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
            if isinstance(codec, LearnedCodec) and (index, codec.level) not in codec.tables:
                continue  # a rate level this split was not trained for
            frames = [encode_frame(code, codec, self.package.model_id, index, n) for n, code in enumerate(codes)]
            report['bytes'][name] = float(np.mean([len(frame) for frame in frames]))
            if name not in QUANTIZERS and not name.startswith('learned'):  # an entropy stage on a quantiser
                continue
            results = {}
            with torch.no_grad():
                for n, (image_id, frame) in enumerate(zip(self.image_ids, frames, strict=True)):
                    decoded = torch.from_numpy(self.decoder.decode(frame).tensor)
                    outputs = _numpy(tail(decoded))
                    results[image_id] = self.detector.detections(outputs, self.images[n].shape[:2])[0]
            self.edge_results[split, name] = results
            report['accuracy'][name] = self.scorer.score(results).__dict__
        return report

    def exits(self, thresholds: Sequence[float], mixed_with: Mapping[str, str]) -> dict[str, Any]:
        """Each exit alone, and its mix against the threshold.

        The mix: the exit where it is confident, else the edge's answer from the split's code `mixed_with[split]`.
        """
        report = {}
        for split in self.detector.exits:
            head = self.detector.head(split, bottleneck=False)
            edge = self.edge_results[split, mixed_with[split]]
            exit_results, confidences = {}, {}
            with torch.no_grad():
                for n, image_id in enumerate(self.image_ids):
                    bgr = self.images[n]
                    outputs = _numpy(head(to_input(bgr, self.detector.input_size)[0][None]))
                    exit_results[image_id] = self.detector.detections(outputs, bgr.shape[:2], exit_name=split)[0]
                    confidences[image_id] = float(outputs[f'exit.{split}.confidence'][0])
            agreements = {i: agreement(exit_results[i], edge[i]) for i in self.image_ids}
            curve = []
            for threshold in thresholds:
                taken = {i for i in self.image_ids if confidences[i] >= threshold}
                mixed = {i: exit_results[i] if i in taken else edge[i] for i in self.image_ids}
                score = self.scorer.score(mixed)
                agreed = float(np.mean([agreements[i] for i in taken])) if taken else None
                curve.append({'threshold': threshold, 'exit_rate': len(taken) / len(self.image_ids),
                              'map50': score.map50, 'map': score.map, 'published_map50': score.published_map50,
                              'agreement': agreed})  # fmt: skip
            report[split] = {'alone': self.scorer.score(exit_results).__dict__, 'mixed_with': mixed_with[split],
                             'curve': curve}  # fmt: skip
        return report

    def _whole_model(self, image_bgr: np.ndarray) -> Detections:
        x = to_input(image_bgr, self.detector.input_size)[0][None]
        return self.detector.detections(_numpy(self.detector(x)), image_bgr.shape[:2])[0]

    def baselines(self) -> dict[str, Any]:
        """The whole frame compressed as an image and decoded at the edge, with the whole model there."""
        report = {}
        for kind, quality in IMAGE_BASELINES:
            sizes: list[int] = []

            def predict(bgr, _, kind=kind, quality=quality, sizes=sizes):
                data = image_bytes(bgr, kind, quality)
                sizes.append(len(data))
                return self._whole_model(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))

            results = self._run(predict)
            report[f'{kind}{quality}'] = {'bytes': float(np.mean(sizes)), **self.scorer.score(results).__dict__}
        return report

    def video(self, fps: float) -> dict[str, Any]:
        """Each drive as H.264 at the camera's rate, the whole model on every decoded frame; bytes per frame.

        x264 with zero-latency tuning, a GOP of 10 frames and no B-frames, decoded frame by frame at the edge.
        """
        drives: dict[int, list[int]] = {}
        for n, image in enumerate(self.dataset.images):
            drives.setdefault(int(image.get('drive', 0)), []).append(n)
        report = {}
        for crf in H264_CRFS:
            results, total = {}, 0
            with torch.no_grad():
                for indexes in drives.values():
                    order = sorted(indexes, key=lambda n: self.dataset.images[n].get('frame', n))
                    decoded, size = encode_decode_h264([self.images[n] for n in order], fps, crf)
                    total += size
                    for n, frame in zip(order, decoded, strict=True):
                        results[self.image_ids[n]] = self._whole_model(frame)
            report[f'h264crf{crf}'] = {'bytes': total / len(self.images), 'crf': crf,
                                       **self.scorer.score(results).__dict__}  # fmt: skip
        return report

    def by_condition(self, results: Mapping[int, Detections]) -> dict[str, Any]:
        """Teacher scores per scene condition (images without one count as 'all')."""
        groups: dict[str, list[int]] = {}
        for image in self.dataset.images:
            groups.setdefault(image.get('condition', 'all'), []).append(image['id'])
        return {condition: self.scorer.score(results, ids).__dict__ for condition, ids in sorted(groups.items())}


def evaluate(package_dir: str | Path, data: Mapping[str, Any], work_dir: str | Path, out: str | Path) -> dict:
    """Evaluate a model package on a data set; write JSON, the rate-accuracy plot and the defaults."""
    package = ModelPackage.load(package_dir)
    dataset = open_dataset(data, package.config.class_names, Path(work_dir) / 'data')
    evaluation = Evaluation(package, dataset)
    teacher = evaluation.teacher()
    teacher_score = evaluation.scorer.score(teacher)
    splits = {split: evaluation.split_codecs(split) for split in package.split_names}
    mixed_with = {split: shipped_codec(entry, teacher_score.map50) for split, entry in splits.items()}
    report = {
        'package': str(package_dir), 'model_id': package.model_id.hex(), 'images': len(dataset),
        'data': dict(data), 'teacher': teacher_score.__dict__,
        'teacher_by_condition': evaluation.by_condition(teacher),
        'splits': splits,
        'exits': evaluation.exits([round(t, 2) for t in np.linspace(0, 1, 21)], mixed_with),
        'baselines': evaluation.baselines(),
    }  # fmt: skip
    synth = data.get('synth')
    if synth is not None:
        report['video'] = evaluation.video(float(synth.get('fps', 10.0)))
        report['noise'] = jpeg_bytes_with_and_without_noise(synth)
    report['operating_point'] = operating_point(report)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'eval.json').write_text(json.dumps(report, indent=1) + '\n')
    plot_rate_accuracy(report, out / 'rate_accuracy.png')
    return report


def shipped_codec(split_report: Mapping[str, Any], teacher_map50: float) -> str:
    """A split's code for the exits' mix: the fewest bytes within a point of the teacher, else the most accurate."""
    within = [(size, name) for name, size in split_report['bytes'].items()
              if _codec_map50(split_report, name) >= teacher_map50 - ACCURACY_TOLERANCE]  # fmt: skip
    if within:
        return quantizer_of(min(within)[1])
    return max(split_report['accuracy'], key=lambda q: split_report['accuracy'][q]['map50'])


def quantizer_of(codec: str) -> str:
    """The quantiser of a codec name (`int8+zstd9` -> `int8`): what its accuracy is (entropy coding is lossless)."""
    return codec.split('+')[0]


def _codec_map50(split_report: Mapping[str, Any], codec: str) -> float:
    return split_report['accuracy'][quantizer_of(codec)]['map50']


def operating_point(report: Mapping[str, Any]) -> dict[str, Any]:
    """The package's defaults: a split, a codec and an exit threshold.

    The code with the fewest bytes within a point of the teacher (else the most accurate), and at its split the
    lowest threshold whose mixed output stays within two points.
    """
    teacher = report['teacher']['map50']
    codes = [(size, split, name) for split, entry in report['splits'].items() for name, size in entry['bytes'].items()
             if _codec_map50(entry, name) >= teacher - ACCURACY_TOLERANCE]  # fmt: skip
    if codes:
        size, split, codec = min(codes)
    else:
        _, size, split, codec = max((_codec_map50(entry, name), -size, split, name)
                                    for split, entry in report['splits'].items()
                                    for name, size in entry['bytes'].items())  # fmt: skip
        size = -size
    point = {'split': split, 'codec': codec, 'bytes': size, 'map50': _codec_map50(report['splits'][split], codec),
             'exit_threshold': 1.0, 'exit_rate': 0.0, 'mixed_map50': None}  # fmt: skip
    exits = report['exits'].get(split)
    if exits and quantizer_of(codec) == exits['mixed_with']:
        good = [row for row in exits['curve'] if row['map50'] >= teacher - EXIT_TOLERANCE]
        if good:
            best = max(good, key=lambda row: (row['exit_rate'], row['threshold']))
            point |= {'exit_threshold': best['threshold'], 'exit_rate': best['exit_rate'], 'mixed_map50': best['map50']}
    return point


def jpeg_bytes_with_and_without_noise(synth: Mapping[str, Any], quality: int = 50) -> dict[str, float]:
    """JPEG bytes per frame of a synthetic set as rendered, and of the same frames without sensor noise."""
    from splitee_ros.data.synth import Drive
    from splitee_ros.data.synth_dataset import SynthConfig

    config = SynthConfig(**{k: v for k, v in synth.items() if k in ('seed', 'drives', 'frames', 'fps')})
    sizes: dict[str, list[int]] = {'with_noise': [], 'without_noise': []}
    for spec in config.drive_specs():
        drive = Drive(spec)
        for index in range(spec.frames):
            for key, noise in (('with_noise', True), ('without_noise', False)):
                sizes[key].append(len(image_bytes(drive.render(index, sensor_noise=noise).image, 'jpeg', quality)))
    return {'quality': quality, **{key: float(np.mean(values)) for key, values in sizes.items()}}


def plot_rate_accuracy(report: Mapping[str, Any], path: Path) -> None:
    """Bytes per frame against mAP@.5: every split's codes, the images and the video."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 4.8))
    for split, entry in report['splits'].items():
        fixed = sorted((min(b for n, b in entry['bytes'].items() if quantizer_of(n) == q), s['map50'])
                       for q, s in entry['accuracy'].items() if not q.startswith('learned'))  # fmt: skip
        learned = sorted(
            (entry['bytes'][q], s['map50']) for q, s in entry['accuracy'].items() if q.startswith('learned')
        )
        line = axes.plot(*zip(*fixed, strict=True), 'o-', label=f'{split}: quantisers + best entropy stage')[0]
        if learned:
            axes.plot(*zip(*learned, strict=True), 'D-', color=line.get_color(), label=f'{split}: learned, 4 rates')
    for prefix, style, label in (('jpeg', 's--', 'JPEG q10-95'), ('webp', '^--', 'WebP q10-90')):
        points = sorted((e['bytes'], e['map50']) for n, e in report['baselines'].items() if n.startswith(prefix))
        axes.plot(*zip(*points, strict=True), style, color='gray' if prefix == 'jpeg' else 'silver', label=label)
    if report.get('video'):
        points = sorted((e['bytes'], e['map50']) for e in report['video'].values())
        axes.plot(*zip(*points, strict=True), 'v:', color='black', label='H.264 (x264, GOP 10)')
    teacher = report['teacher']['map50']
    axes.axhline(teacher, color='black', lw=0.8, label='teacher')
    axes.axhspan(teacher - ACCURACY_TOLERANCE, teacher, color='green', alpha=0.08, label='within 1 point')
    axes.set_xscale('log')
    axes.set_xlabel('bytes per frame')
    axes.set_ylabel('mAP@.5')
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc='lower right')
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


HELD_OUT = {'synth': {'seed': 2027, 'drives': 40, 'frames': 10, 'fps': 10.0, 'image_format': 'png'}}
ACCURACY_TOLERANCE = 0.01  # "at the teacher's accuracy": within one point of mAP@.5


def smallest_within(report: Mapping[str, Any], tolerance: float = ACCURACY_TOLERANCE) -> dict[str, Any]:
    """The fewest bytes per frame within `tolerance` of the teacher's mAP@.5: codes, JPEG, WebP and H.264."""
    floor = report['teacher']['map50'] - tolerance
    candidates: dict[str, list[tuple[float, str, float]]] = {
        'code': [(size, f'{split} {name}', _codec_map50(entry, name)) for split, entry in report['splits'].items()
                 for name, size in entry['bytes'].items()],
        'jpeg': [(e['bytes'], n, e['map50']) for n, e in report['baselines'].items() if n.startswith('jpeg')],
        'webp': [(e['bytes'], n, e['map50']) for n, e in report['baselines'].items() if n.startswith('webp')],
        'h264': [(e['bytes'], n, e['map50']) for n, e in report.get('video', {}).items()],
    }  # fmt: skip
    best = {kind: min((c for c in rows if c[2] >= floor), default=None) for kind, rows in candidates.items()}
    result: dict[str, Any] = {'floor_map50': floor}
    for kind, entry in best.items():
        result[kind] = dict(zip(('bytes', 'config', 'map50'), entry, strict=True)) if entry else None
    code = best['code']
    for kind in ('jpeg', 'webp', 'h264'):
        image = best[kind]
        result[f'{kind}_ratio'] = image[0] / code[0] if code and image else None
    return result


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A Markdown table."""
    return ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header), *('| ' + ' | '.join(r) + ' |' for r in rows)]


def write_model_card(report: Mapping[str, Any], path: Path, reproduce: str, schedule: str = '') -> None:
    """The model card: every measured number of the report, as Markdown tables."""
    teacher = report['teacher']
    best = smallest_within(report)
    recall_header = [f'{c} recall' for c in ROAD_USERS]
    classes = list(teacher['ap50'])
    lines = [
        f'# Model card: {Path(report["package"]).name}', '',
        f'Model id `{report["model_id"]}`. Measured by `splitee eval` on {report["images"]} held-out images '
        f'({json.dumps(report["data"])}), detections scored down to {EVAL_SCORE_THRESH} (at most 100 per '
        'image), as COCO evaluations do. "As published" is the mAP@.5 of the detections the nodes publish (the '
        "manifest's score threshold): what on-time accuracy measures, and what the monitor's policy uses.", '',
        _headline(best), '', '## Reproduce', '', '```bash', reproduce, '```', '', *([schedule, ''] if schedule else []),
        '## Teacher (whole model)', '',
        *_table(['mAP@[.5:.95]', 'mAP@.5', 'small', 'medium', 'large', 'mAP@.5 as published'],
                [[*_sizes(teacher), _published(teacher)]]), '',
        *_table(['condition', 'mAP@[.5:.95]', 'mAP@.5', 'small', 'medium', 'large'],
                [[condition, *_sizes(score)] for condition, score in report['teacher_by_condition'].items()]),
        '', 'AP@.5 per class, and the recall at IoU 0.5 of the road users:', '',
        *_table(['', *classes, *recall_header],
                [_class_row('teacher', teacher, classes)]
                + [_class_row(f'exit {split}', e['alone'], classes) for split, e in report['exits'].items()]),
        '', '## Split points and codecs', '',
        'mAP@.5 of the split model (bottleneck code through each quantiser or learned rate level), the recall of '
        'the road users, and bytes per frame (the frame header included) with the entropy stage that gives the '
        'fewest bytes.', '',
    ]  # fmt: skip
    rows = []
    for split, entry in report['splits'].items():
        for quantizer, score in entry['accuracy'].items():
            name, size = min(((n, b) for n, b in entry['bytes'].items() if quantizer_of(n) == quantizer),
                             key=lambda item: item[1])  # fmt: skip
            rows.append([split, quantizer, f'{score["map50"]:.3f}', f'{score["map50"] - teacher["map50"]:+.3f}',
                         f'{score["map"]:.3f}', *_recalls(score), _published(score),
                         f'{size:.0f} ({name})'])  # fmt: skip
    header = ['split', 'codec', 'mAP@.5', 'Δ vs teacher', 'mAP@[.5:.95]', *recall_header, 'as published',
              'bytes/frame']  # fmt: skip
    lines += [*_table(header, rows), '', '## Exits', '']
    lines += _table(['exit', 'mAP@.5 alone', "of the teacher's", 'mAP@[.5:.95]', *recall_header], [
        [split, f'{e["alone"]["map50"]:.3f}', f'{e["alone"]["map50"] / max(teacher["map50"], 1e-9):.0%}',
         f'{e["alone"]["map"]:.3f}', *_recalls(e['alone'])] for split, e in report['exits'].items()
    ])  # fmt: skip
    mixes = ', '.join(f'{split}: `{entry["mixed_with"]}`' for split, entry in report['exits'].items())
    curves = [entry['curve'] for entry in report['exits'].values()]
    lines += ['', "Exit when the confidence reaches the threshold, else the edge's answer from the split's code "
              f'({mixes}): exit rate and mAP@.5 of the mixed output.', '']  # fmt: skip
    columns = ('rate', 'mAP@.5', 'as published')
    lines += _table(['threshold', *(f'{s} {k}' for s in report['exits'] for k in columns)], [
        [f'{rows[0]["threshold"]:.2f}', *(cell for r in rows
                                          for cell in (f'{r["exit_rate"]:.2f}', f'{r["map50"]:.3f}', _published(r)))]
        for rows in zip(*curves, strict=True)
    ])  # fmt: skip
    lines += ['', '## Baselines: the frame as an image, the drive as video, the whole model on the edge', '']
    lines += _table(['encoding', 'bytes/frame', 'mAP@.5', 'mAP@[.5:.95]', 'as published'], [
        [name, f'{e["bytes"]:.0f}', f'{e["map50"]:.3f}', f'{e["map"]:.3f}', _published(e)]
        for name, e in {**report['baselines'], **report.get('video', {})}.items()
    ])  # fmt: skip
    if report.get('noise'):
        noise = report['noise']
        lines += [
            '',
            f'JPEG q{noise["quality"]} of the held-out frames: {noise["with_noise"]:.0f} B per frame as '
            f'rendered, {noise["without_noise"]:.0f} B for the same frames rendered without sensor noise.',
        ]
    lines += ['', "## Rate at the teacher's accuracy", '',
              f"Fewest bytes per frame within one point of the teacher's mAP@.5 (at least {best['floor_map50']:.3f}):",
              '']  # fmt: skip
    for kind in ('code', 'jpeg', 'webp', 'h264'):
        entry, ratio = best[kind], best.get(f'{kind}_ratio')
        text = f'{entry["bytes"]:.0f} B ({entry["config"]}, mAP@.5 {entry["map50"]:.3f})' if entry else 'none'
        lines.append(f'- {kind}: {text}' + (f'; the code takes {ratio:.1f}x fewer bytes' if ratio else ''))
    point = report.get('operating_point')
    if point:
        mixed = f', mixed mAP@.5 {point["mixed_map50"]:.3f}' if point['mixed_map50'] is not None else ''
        lines += ['', "## Operating point (the manifest's defaults)", '',
                  f'split `{point["split"]}`, codec `{point["codec"]}` ({point["bytes"]:.0f} B per frame, mAP@.5 '
                  f'{point["map50"]:.3f}), exit threshold {point["exit_threshold"]:.2f} (exit rate '
                  f'{point["exit_rate"]:.0%}{mixed})']  # fmt: skip
    lines += ['', '![rate-accuracy](rate_accuracy.png)', '']
    path.write_text('\n'.join(lines))


def schedule_text(package_folder: str | Path) -> str:
    """What training took, stage by stage, from the package's training log: wall hours and CPU-hours."""
    path = Path(package_folder) / 'training_log.json'
    if not path.is_file():
        return ''
    log = json.loads(path.read_text())
    rows, wall, cpu = [], 0.0, 0.0
    for name, entry in log.items():
        hours = entry.get('seconds', 0.0) / 3600
        threads = entry.get('threads', 2)  # the CPU config's
        wall, cpu = wall + hours, cpu + hours * threads
        iterations = entry.get('losses', [{}])[-1].get('iteration', '')
        rows.append([name, str(iterations), f'{hours:.2f}', f'{hours * threads:.2f}'] if 'seconds' in entry
                    else [name, str(iterations), 'not recorded', ''])  # fmt: skip
    return '\n'.join([
        f'Training schedule on this machine ({wall:.1f} wall hours, {cpu:.1f} CPU-hours in all; a resumed stage '
        'counts every run):', '', *_table(['stage', 'iterations', 'wall hours', 'CPU-hours'], rows),
    ])  # fmt: skip


def _sizes(score: Mapping[str, Any]) -> list[str]:
    return [f'{score[k]:.3f}' for k in ('map', 'map50', 'small', 'medium', 'large')]


def _published(score: Mapping[str, Any]) -> str:
    value = score.get('published_map50')
    return 'n/a' if value is None else f'{value:.3f}'


def _recalls(score: Mapping[str, Any]) -> list[str]:
    return [f'{score["recall50"].get(c, 0.0):.3f}' for c in ROAD_USERS]


def _class_row(label: str, score: Mapping[str, Any], classes: Sequence[str]) -> list[str]:
    return [label, *(f'{score["ap50"].get(c, 0.0):.3f}' for c in classes), *_recalls(score)]


def _headline(best: Mapping[str, Any]) -> str:
    """The one line on rate: the code against JPEG (and WebP, H.264) at the teacher's accuracy."""
    code = best['code']
    if not code:
        return "No bottleneck code comes within one point of the teacher's mAP@.5."
    against = [f'{best[f"{k}_ratio"]:.1f}x fewer bytes than {name}' for k, name in
               (('jpeg', 'JPEG'), ('webp', 'WebP'), ('h264', 'H.264')) if best.get(f'{k}_ratio')]  # fmt: skip
    return (f'**Within one point of the teacher, the {code["config"]} code takes {code["bytes"]:.0f} B per frame: '
            + ', '.join(against) + ' at the same accuracy.**')  # fmt: skip
