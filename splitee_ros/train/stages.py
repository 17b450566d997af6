# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Training stages, by name: `teacher` (the full detector), `bottleneck` (distilled codes), `exits`.

Each stage says which modules it trains, puts the model in the right mode, gives its batches, computes a
batch's losses, and may finish with extra work (the exits calibrate their confidence). Later stages train
against the earlier ones: the frozen detector is the teacher of the bottlenecks and of the exits.

The two distillation stages are built to fit a CPU (see `bench/distill_bench.py`):
- the frozen head's tensors at the cut are computed once and kept (`cache_images`), and so are the teacher's
  outputs for the exits;
- a bottleneck learns on random crops of those tensors (`crop`): its encoder, decoder and the tail's
  convolutions need no whole frame; its losses are at the cut and at the outputs of the later backbone
  stages and the neck (head network distillation, as GHND), so the detection head need not run;
- one split at a time, with its rate levels (`rate_levels`: a β per level, `model.rate.RateLevels`);
- an exit learns from the teacher's class probabilities and boxes on every anchor (dense distillation), with
  the ground truth beside them.
"""

from __future__ import annotations

import abc
import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from splitee_ros.errors import ConfigError
from splitee_ros.model.detector import SplittableDetector
from splitee_ros.model.families import OneStageNeckHead
from splitee_ros.model.parts import PyramidExit
from splitee_ros.model.postprocess import agreement
from splitee_ros.train.losses import DetectionLoss, feature_distillation
from splitee_ros.train.registry import Registry

if TYPE_CHECKING:
    from splitee_ros.model.rate import RateLevels
    from splitee_ros.train.data import DetectionDataset

STAGES: Registry = Registry('training stage')


def options_of(kind: type, options: Mapping[str, Any], stage: str):
    """A stage's options as a dataclass; an unknown key is an error that names the known ones."""
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f'{stage} stage: unknown options {unknown}; known: {sorted(known)}')
    return kind(**options)


def cut_tensors(detector: SplittableDetector, images: Tensor, splits: Sequence[str]) -> dict[str, Tensor]:
    """The tensors at the given split points, from one pass of the (frozen) backbone."""
    wanted = {detector.split_points[name].stage_index: name for name in splits}
    x = detector.normalize(images)
    cuts = {}
    for index in range(max(wanted)):
        x = detector.backbone.stages[index](x)
        if index + 1 in wanted:
            cuts[wanted[index + 1]] = x
    return cuts


def image_batches(dataset: Dataset, batch_size: int, order: Sequence[int], device: torch.device) -> Iterator[Any]:
    """(images, targets) batches of `dataset` in `order`, on `device`."""
    from splitee_ros.train.data import collate

    loader = DataLoader(Subset(dataset, list(order)), batch_size=batch_size, collate_fn=collate, num_workers=0)
    for images, targets in loader:
        yield images.to(device), [{key: value.to(device) for key, value in t.items()} for t in targets]


class Stage(abc.ABC):
    """Base of the stages: options come from the YAML file."""

    def __init__(self, detector: SplittableDetector, options: Mapping[str, Any]) -> None:
        """Keep the detector and the options."""
        self.detector = detector
        self.extra_modules: dict[str, RateLevels] = {}  # trained, not the detector's: rate levels by split

    @abc.abstractmethod
    def trained_modules(self) -> dict[str, nn.Module]:
        """The modules this stage changes, by name: what its checkpoint holds.

        Only these are saved, so a later change to another part of the model config (a new bottleneck or exit
        design) still resumes from the checkpoints of the stages it does not touch.
        """

    def parameters(self) -> list[nn.Parameter]:
        """Parameters this stage trains."""
        return [p for module in self.trained_modules().values() for p in module.parameters()]

    def clipped_parameters(self) -> list[nn.Parameter]:
        """The parameters whose gradient norm is clipped: all but those of auxiliary losses on their own scale."""
        return self.parameters()

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """The optimiser's parameter groups (one: the stage's learning rate `lr` for every parameter)."""
        return [{'params': self.parameters()}]

    def train_mode(self) -> None:
        """Everything frozen (batch norm statistics included) except the trained modules."""
        self.detector.eval()
        for module in self.trained_modules().values():
            module.train()

    def prepare(self, dataset: DetectionDataset, device: torch.device) -> None:  # noqa: B027 - most need nothing
        """Work before the first batch (caches)."""

    def size(self, dataset: DetectionDataset) -> int:
        """Items in one epoch."""
        return len(dataset)

    def batches(
        self, dataset: DetectionDataset, batch_size: int, order: Sequence[int], device: torch.device
    ) -> Iterable:
        """The epoch's batches, items in `order`."""
        return image_batches(dataset, batch_size, order, device)

    @abc.abstractmethod
    def losses(self, batch: Any) -> dict[str, Tensor]:
        """Losses of one batch (their sum is minimised)."""

    def finish(self, calibration: Iterable[tuple[Tensor, list[dict[str, Tensor]]]]) -> dict[str, Any]:
        """Work after the last epoch; returns numbers for the training log."""
        return {}


@STAGES.register('teacher')
class TeacherStage(Stage):
    """The whole detector (without bottlenecks and exits) with the focal detection loss."""

    def __init__(self, detector: SplittableDetector, options: Mapping[str, Any]) -> None:
        """Check that the detector has a head this loss fits."""
        super().__init__(detector, options)
        options_of(_NoOptions, options, 'teacher')
        if detector.output_kind != 'retinanet':
            raise ValueError(
                f'the teacher stage trains RetinaNet-style heads; {detector.family} has {detector.output_kind} '
                'outputs: give it torchvision_weights instead'
            )
        self.loss = DetectionLoss()

    def trained_modules(self) -> dict[str, nn.Module]:
        """Backbone, neck and head."""
        return {'backbone': self.detector.backbone, 'neck_head': self.detector.neck_head}

    def losses(self, batch):
        """Detection loss of the full model."""
        images, targets = batch
        outputs = self.detector(images)
        return self.loss(outputs['cls_logits'], outputs['bbox_regression'], self.detector.neck_head.anchors, targets)


@dataclass(frozen=True)
class _NoOptions:
    pass


class CutCache:
    """Head-side tensors at one cut (float16, in memory) of the first `count` images of a data set."""

    def __init__(self, detector: SplittableDetector, dataset: DetectionDataset, splits: Sequence[str], count: int,
                 device: torch.device, with_teacher: bool = False) -> None:  # fmt: skip
        """Run the frozen head (and with `with_teacher` the whole teacher) once per image."""
        from splitee_ros.train.data import collate

        self.count = min(count, len(dataset))
        self.cuts: dict[str, list[Tensor]] = {split: [] for split in splits}
        self.targets: list[dict[str, Tensor]] = []
        self.teacher_scores: list[Tensor] = []  # sqrt of the probability, 0..255 (uint8): fine where it is small
        self.teacher_boxes: list[Tensor] = []  # box deltas, float16
        loader = DataLoader(Subset(dataset, range(self.count)), batch_size=16, collate_fn=collate)
        detector.eval()
        with torch.no_grad():
            for images, targets in loader:
                images = images.to(device)
                for split, cut in cut_tensors(detector, images, splits).items():
                    self.cuts[split] += list(cut.half().cpu())
                self.targets += targets
                if with_teacher:
                    outputs = detector(images)
                    scores = torch.sigmoid(outputs['cls_logits']).sqrt().mul(255).round().to(torch.uint8)
                    self.teacher_scores += list(scores.cpu())
                    self.teacher_boxes += list(outputs['bbox_regression'].half().cpu())

    def __len__(self) -> int:
        """Images held."""
        return self.count

    def stack(self, split: str, indexes: Sequence[int], device: torch.device) -> Tensor:
        """The cut tensors of `indexes` as one float32 batch."""
        return torch.stack([self.cuts[split][i] for i in indexes]).float().to(device)

    def teacher(self, indexes: Sequence[int], device: torch.device) -> tuple[Tensor, Tensor]:
        """The teacher's class probabilities (N, A, C) and box deltas (N, A, 4) for `indexes`."""
        scores = torch.stack([self.teacher_scores[i] for i in indexes]).float().div(255).square().to(device)
        return scores, torch.stack([self.teacher_boxes[i] for i in indexes]).float().to(device)


class CachedStage(Stage):
    """A stage that may learn from a `CutCache` (set by its `prepare`) instead of the images themselves."""

    cache: CutCache | None = None

    def size(self, dataset):
        """Cached images, or the whole data set."""
        return len(self.cache) if self.cache is not None else len(dataset)

    def batches(self, dataset, batch_size, order, device):
        """Index batches into the cache (('cached', indexes, device)); whole-image batches without one."""
        if self.cache is None:
            return super().batches(dataset, batch_size, order, device)
        return (('cached', order[i : i + batch_size], device) for i in range(0, len(order), batch_size))


@dataclass(frozen=True)
class BottleneckOptions:
    """Options of the `bottleneck` stage (see the module docstring)."""

    splits: tuple[str, ...] = ()  # default: every split with a bottleneck
    cache_images: int = 0  # 0: the head runs on every batch's images (whole frames, no crops)
    crop: float = 1.0  # crop height and width, as a fraction of the cut tensor's (with a cache)
    feature_weight: float = 1.0  # at the cut
    stage_weight: float = 0.0  # at each later backbone stage's output
    neck_weight: float = 0.0  # at each output of the neck (FPN)
    output_weight: float = 0.0  # at the head's raw outputs (whole frames only: no cache)
    rate_levels: tuple[float, ...] = ()  # β of each rate level, finest first; empty: no rate term
    gains: tuple[float, ...] = ()  # the levels' initial gains (default: halving from 1)
    entropy_lr_factor: float = 10.0  # the priors and gains learn this much faster than the codec


@STAGES.register('bottleneck')
class BottleneckStage(CachedStage):
    """Head network distillation of bottlenecks against the frozen detector (as in sc2bench / GHND).

    The decoded tensor is compared with the teacher's at the cut, and both are run through the frozen later
    stages (and neck) to be compared there too; the rate levels add Entropic Student's rate term, β times the
    code's bits per input pixel, each level with its own β and gain. Codes see uniform rounding noise, so that
    they survive integer quantisation.
    """

    def __init__(self, detector: SplittableDetector, options: Mapping[str, Any]) -> None:
        """Set up the rate levels of every split."""
        super().__init__(detector, options)
        self.options = options_of(BottleneckOptions, _tuples(options), 'bottleneck')
        self.splits = list(self.options.splits or detector.bottlenecks.keys())
        if not self.splits:
            raise ValueError('the bottleneck stage needs bottlenecks in the model config')
        unknown = sorted(set(self.splits) - set(detector.bottlenecks))
        if unknown:
            raise ValueError(f'bottleneck stage: no bottleneck at {unknown}; there are {sorted(detector.bottlenecks)}')
        if self.options.output_weight and self.options.cache_images:
            raise ValueError('bottleneck stage: output_weight needs whole frames, so no cache_images')
        levels = self.options.rate_levels
        if levels:
            from splitee_ros.model.rate import RateLevels

            gains = self.options.gains or tuple(0.5**level for level in range(len(levels)))
            if len(gains) != len(levels):
                raise ValueError(f'bottleneck stage: {len(levels)} rate levels but {len(gains)} gains')
            self.extra_modules = {
                split: RateLevels(detector.bottleneck_at(split).code_channels, gains) for split in self.splits
            }
        self._level = 0

    def clipped_parameters(self) -> list[nn.Parameter]:
        """All but the priors' quantiles.

        Their auxiliary loss is on a scale of its own (thousands): clipping its gradient together with the
        codec's would all but stop the codec learning.
        """
        quantiles = {id(prior.quantiles) for levels in self.extra_modules.values() for prior in levels.priors}
        return [p for p in self.parameters() if id(p) not in quantiles]

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """The codec at the stage's learning rate `lr`, the priors and gains `entropy_lr_factor` faster.

        A prior learns slowly, and the gains set the rate: at the codec's rate the levels would take tens of
        thousands of iterations to spread.
        """
        rates = [p for levels in self.extra_modules.values() for p in levels.parameters()]
        ids = {id(p) for p in rates}
        groups: list[dict[str, Any]] = [{'params': [p for p in self.parameters() if id(p) not in ids]}]
        if rates:
            groups.append({'params': rates, 'lr': lr * self.options.entropy_lr_factor})
        return groups

    def trained_modules(self) -> dict[str, nn.Module]:
        """The bottlenecks of its splits and their rate levels."""
        bottlenecks = {f'bottleneck.{split}': self.detector.bottlenecks[split] for split in self.splits}
        return bottlenecks | {f'entropy.{split}': module for split, module in self.extra_modules.items()}

    def prepare(self, dataset, device):
        """Cache the cut tensors of the first `cache_images` images."""
        if self.options.cache_images:
            self.cache = CutCache(self.detector, dataset, self.splits, self.options.cache_images, device)

    def losses(self, batch):
        """Distillation (and rate) losses summed over the splits."""
        self._level = (self._level + 1) % max(1, len(self.options.rate_levels))
        if batch[0] == 'cached':
            _, indexes, device = batch
            return _sum(self._split_losses(split, self._crop(self.cache.stack(split, indexes, device)), None)
                        for split in self.splits)  # fmt: skip
        images, _ = batch
        with torch.no_grad():
            cuts = cut_tensors(self.detector, images, self.splits)
            teacher = self.detector(images) if self.options.output_weight else None
        return _sum(self._split_losses(split, cuts[split], teacher) for split in self.splits)

    def _crop(self, cuts: Tensor) -> Tensor:
        """One random crop of the batch's tensors, aligned to the later stages' strides."""
        if self.options.crop >= 1.0:
            return cuts
        align = 8  # what the later stages of any split here downsample by, at most
        height, width = cuts.shape[2:]
        h = max(align, round(height * self.options.crop / align) * align)
        w = max(align, round(width * self.options.crop / align) * align)
        top = int(torch.randint(0, (height - h) // align + 1, ())) * align
        left = int(torch.randint(0, (width - w) // align + 1, ())) * align
        return cuts[:, :, top : top + h, left : left + w]

    def _split_losses(self, split: str, cut: Tensor, teacher: dict[str, Tensor] | None) -> dict[str, Tensor]:
        options, bottleneck = self.options, self.detector.bottleneck_at(split)
        totals: dict[str, Tensor] = {}
        code = bottleneck.encode(cut)
        if split in self.extra_modules:
            levels = self.extra_modules[split]
            code, likelihoods = levels(code, self._level)
            stride = self.detector.split_points[split].stride
            pixels = cut.shape[0] * cut.shape[2] * cut.shape[3] * stride * stride
            bits = -torch.log2(likelihoods.clamp(min=1e-9)).sum() / pixels
            totals['rate_bpp'] = options.rate_levels[self._level] * bits
            totals['entropy_aux'] = levels.aux_loss()
        else:
            code = code + (torch.rand_like(code) - 0.5)
        decoded = bottleneck.decode(code)
        totals['feature'] = options.feature_weight * feature_distillation(decoded, cut)
        if options.stage_weight or options.neck_weight:
            start = self.detector.split_points[split].stage_index
            with torch.no_grad():
                wanted = self.detector.backbone.features(cut, start)  # the neck's inputs, the cut among them
            student = self.detector.backbone.features(decoded, start)
            later = [name for name in wanted if wanted[name] is not cut]
            if options.stage_weight:
                totals['stages'] = options.stage_weight * sum(
                    feature_distillation(student[n], wanted[n]) for n in later
                ) / max(1, len(later))  # fmt: skip
            if options.neck_weight:
                neck_head = self.detector.neck_head
                if not isinstance(neck_head, OneStageNeckHead):
                    raise ValueError(
                        f'bottleneck stage: neck_weight needs a one-stage head, {self.detector.family} has none'
                    )
                neck = neck_head.neck
                with torch.no_grad():
                    wanted_neck = neck(wanted)
                student_neck = neck(student)
                totals['neck'] = options.neck_weight * sum(
                    feature_distillation(student_neck[n], wanted_neck[n]) for n in wanted_neck
                ) / len(wanted_neck)  # fmt: skip
        if teacher is not None:
            outputs = self.detector.tail(split, bottleneck=False)(decoded)
            totals['output'] = options.output_weight * sum(
                feature_distillation(outputs[key], teacher[key]) for key in ('cls_logits', 'bbox_regression')
            )  # fmt: skip
        return totals


def _sum(parts: Iterable[dict[str, Tensor]]) -> dict[str, Tensor]:
    totals: dict[str, Tensor] = {}
    for part in parts:
        for key, value in part.items():
            totals[key] = totals[key] + value if key in totals else value
    return totals


def _tuples(options: Mapping[str, Any]) -> dict[str, Any]:
    return {key: tuple(value) if isinstance(value, list) else value for key, value in options.items()}


@dataclass(frozen=True)
class ExitOptions:
    """Options of the `exits` stage."""

    splits: tuple[str, ...] = ()  # default: every split with an exit
    cache_images: int = 0  # 0: the head (and the teacher) run on every batch's images
    detection_weight: float = 1.0  # focal loss on the ground truth
    distill_weight: float = 0.0  # dense distillation of the teacher's class probabilities on every anchor
    box_weight: float = 1.0  # ... and of its boxes where it is confident (relative to distill_weight)
    box_score: float = 0.3  # the teacher's score above which its box is a target
    focal_gamma: float = 2.0  # the soft targets' focal weighting
    agreement_iou: float = 0.5  # confidence calibration: what counts as agreeing with the full model
    init_from_teacher: bool = True  # pyramid exits start from the teacher's head


@STAGES.register('exits')
class ExitStage(CachedStage):
    """Exit heads from the ground truth and the teacher's dense outputs, then confidence calibration.

    With `distill_weight`, every anchor of the exit learns the teacher's class probabilities (a soft binary
    cross-entropy with a focal weight |p - q|^gamma, as quality focal loss) and, where the teacher is confident, its
    box; this needs the exit to predict on the teacher's anchors (`PyramidExit`). The confidence is then fitted
    to predict the exit's agreement with the full model (F1 of matched detections) on the calibration images.
    """

    def __init__(self, detector: SplittableDetector, options: Mapping[str, Any]) -> None:
        """Find the exits to train; start pyramid exits from the teacher's head."""
        super().__init__(detector, options)
        self.options = options_of(ExitOptions, _tuples(options), 'exits')
        self.splits = list(self.options.splits or detector.exits.keys())
        if not self.splits:
            raise ValueError('the exits stage needs exits in the model config')
        self.dense = self.options.distill_weight > 0
        teacher_anchors = getattr(detector.neck_head, 'anchors', None)
        for split in self.splits:
            head = detector.exit_at(split)
            if self.dense and (teacher_anchors is None or not torch.equal(head.anchors, teacher_anchors)):
                raise ValueError(f"exits stage: dense distillation needs the exit at {split} on the teacher's anchors")
            if self.options.init_from_teacher and isinstance(head, PyramidExit):
                head.init_from_teacher(detector.neck_head.head)
        self.loss = DetectionLoss()

    def trained_modules(self) -> dict[str, nn.Module]:
        """The exit heads (confidence layers included)."""
        return {f'exit.{split}': self.detector.exits[split] for split in self.splits}

    def parameters(self) -> list[nn.Parameter]:
        """The exit heads but their confidence layers, which are fitted in `finish`."""
        return [p for split in self.splits for name, p in self.detector.exits[split].named_parameters()
                if not name.startswith('confidence')]  # fmt: skip

    def prepare(self, dataset, device):
        """Cache the cut tensors and the teacher's outputs of the first `cache_images` images."""
        if self.options.cache_images:
            self.cache = CutCache(
                self.detector, dataset, self.splits, self.options.cache_images, device, with_teacher=self.dense
            )

    def losses(self, batch):
        """Detection (and dense distillation) losses summed over the exits."""
        if batch[0] == 'cached':
            _, indexes, device = batch
            cuts = {split: self.cache.stack(split, indexes, device) for split in self.splits}
            targets = [{k: v.to(device) for k, v in self.cache.targets[i].items()} for i in indexes]
            teacher = self.cache.teacher(indexes, device) if self.dense else None
        else:
            images, targets = batch
            with torch.no_grad():
                cuts = cut_tensors(self.detector, images, self.splits)
                outputs = self.detector(images) if self.dense else None
            teacher = (torch.sigmoid(outputs['cls_logits']), outputs['bbox_regression']) if outputs else None
        totals: dict[str, Tensor] = {}
        for split in self.splits:
            head = self.detector.exits[split]
            cls_logits, bbox_regression, _ = head.predict(cuts[split])
            if self.options.detection_weight:
                ground_truth = self.loss(cls_logits, bbox_regression, head.anchors, targets)
                totals = _sum([totals, {'detection': self.options.detection_weight * sum(ground_truth.values())}])
            if teacher is not None:
                totals = _sum([totals, self._dense(cls_logits, bbox_regression, *teacher)])
        return totals

    def _dense(self, cls_logits: Tensor, bbox_regression: Tensor, scores: Tensor, boxes: Tensor) -> dict[str, Tensor]:
        """Soft focal cross-entropy to the teacher's probabilities; L1 to its boxes where it is confident."""
        options = self.options
        probability = torch.sigmoid(cls_logits)
        weight = (probability - scores).abs().pow(options.focal_gamma)
        classes = F.binary_cross_entropy_with_logits(cls_logits, scores, reduction='none') * weight
        confident = scores.amax(dim=-1)
        normaliser = confident.sum().clamp(min=1.0)
        mask = confident >= options.box_score
        box = (F.l1_loss(bbox_regression, boxes, reduction='none').sum(-1) * confident * mask).sum()
        box_normaliser = (confident * mask).sum().clamp(min=1.0)
        return {
            'distill': options.distill_weight * classes.sum() / normaliser,
            'distill_box': options.distill_weight * options.box_weight * box / box_normaliser,
        }

    def finish(self, calibration):
        """Fit each exit's confidence to its agreement with the full model; report the fit."""
        summaries = {split: [] for split in self.splits}
        agreements = {split: [] for split in self.splits}
        self.detector.eval()
        device = next(self.detector.parameters()).device
        with torch.no_grad():
            for images, _ in calibration:
                images = images.to(device)
                full = self.detector.detections(_numpy(self.detector(images)))
                cuts = cut_tensors(self.detector, images, self.splits)
                for split in self.splits:
                    head = self.detector.exits[split]
                    cls_logits, bbox_regression, summary = head.predict(cuts[split])
                    outputs = _numpy({f'exit.{split}.cls_logits': cls_logits,
                                      f'exit.{split}.bbox_regression': bbox_regression})  # fmt: skip
                    exits = self.detector.detections(outputs, exit_name=split)
                    summaries[split].append(summary.cpu())
                    agreements[split] += [agreement(e, f, self.options.agreement_iou)
                                          for e, f in zip(exits, full, strict=True)]  # fmt: skip
        report = {}
        for split in self.splits:
            features = torch.cat(summaries[split])
            target = torch.tensor(agreements[split], dtype=torch.float32)
            report[split] = _fit_confidence(self.detector.exits[split].confidence, features, target)
        return {'confidence_calibration': report}


def _numpy(tensors: dict[str, Tensor]) -> dict[str, np.ndarray]:
    return {key: value.detach().cpu().numpy() for key, value in tensors.items()}


def _fit_confidence(layer: nn.Linear, features: Tensor, target: Tensor) -> dict[str, float]:
    """Logistic regression of the agreement on the exit's summary features (the confidence layer)."""
    mean, std = features.mean(0), features.std(0).clamp(min=1e-6)
    normalised = (features - mean) / std
    weight = torch.zeros(1, features.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=200, line_search_fn='strong_wolfe')

    def closure():
        optimizer.zero_grad()
        logits = normalised @ weight.T + bias
        loss = F.binary_cross_entropy_with_logits(logits.squeeze(1), target) + 1e-3 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():  # fold the normalisation into the layer
        layer.weight.copy_(weight / std)
        layer.bias.copy_(bias - (weight / std) @ mean)
        predicted = torch.sigmoid(layer(features.to(layer.weight.device))).squeeze(1).cpu()
    return {
        'images': len(target),
        'mean_agreement': float(target.mean()),
        'mean_abs_error': float((predicted - target).abs().mean()),
        'baseline_abs_error': float((target.mean() - target).abs().mean()),
        'ece': _calibration_error(predicted, target),
    }


def _calibration_error(predicted: Tensor, target: Tensor, bins: int = 10) -> float:
    """Expected calibration error of the confidence against the agreement, over equal-width bins."""
    edges = torch.linspace(0, 1, bins + 1)
    error = 0.0
    for low, high in itertools.pairwise(edges.tolist()):
        inside = (predicted >= low) & ((predicted < high) | (high == 1.0))
        if inside.any():
            error += float(inside.float().mean()) * abs(float(predicted[inside].mean() - target[inside].mean()))
    return round(error, 4)
