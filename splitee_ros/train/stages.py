# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Training stages, by name: `teacher` (the full detector), `bottleneck` (distilled codes), `exits`.

Each stage says which parameters it trains, puts the model in the right mode, computes a batch's losses,
and may finish with extra work (the exits calibrate their confidence). Later stages train against the
earlier ones: the frozen detector is the teacher of the bottlenecks and of the exits.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from splitee_ros.model.detector import SplittableDetector
from splitee_ros.model.postprocess import Detections
from splitee_ros.train.losses import DetectionLoss, feature_distillation
from splitee_ros.train.registry import Registry

STAGES: Registry = Registry('training stage')


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


class Stage(abc.ABC):
    """Base of the stages: options come from the YAML file."""

    def __init__(self, detector: SplittableDetector, options: Mapping[str, Any]) -> None:
        """Keep the detector and the options."""
        self.detector = detector
        self.options = dict(options)
        self.extra_modules: dict[str, nn.Module] = {}

    @abc.abstractmethod
    def parameters(self) -> list[nn.Parameter]:
        """Parameters this stage trains."""

    @abc.abstractmethod
    def trained_modules(self) -> dict[str, nn.Module]:
        """The modules this stage changes, by name: what its checkpoint holds.

        Only these are saved, so a later change to another part of the model config (a new bottleneck or exit
        design) still resumes from the checkpoints of the stages it does not touch.
        """

    def train_mode(self) -> None:
        """Put the modules in training or evaluation mode as the stage needs."""
        self.detector.eval()

    @abc.abstractmethod
    def losses(self, images: Tensor, targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Losses of one batch (their sum is minimised)."""

    def finish(self, calibration: Sequence[tuple[Tensor, list[dict[str, Tensor]]]]) -> dict[str, Any]:
        """Work after the last epoch; returns numbers for the training log."""
        return {}


@STAGES.register('teacher')
class TeacherStage(Stage):
    """The whole detector (without bottlenecks and exits) with the focal detection loss."""

    def __init__(self, detector: SplittableDetector, options: Mapping[str, Any]) -> None:
        """Check that the detector has a head this loss fits."""
        super().__init__(detector, options)
        if detector.output_kind != 'retinanet':
            raise ValueError(
                f'the teacher stage trains RetinaNet-style heads; {detector.family} has {detector.output_kind} '
                'outputs: give it torchvision_weights instead'
            )
        self.loss = DetectionLoss()

    def parameters(self) -> list[nn.Parameter]:
        """Everything but bottlenecks and exits."""
        return [p for module in self.trained_modules().values() for p in module.parameters()]

    def trained_modules(self) -> dict[str, nn.Module]:
        """Backbone, neck and head."""
        return {'backbone': self.detector.backbone, 'neck_head': self.detector.neck_head}

    def train_mode(self) -> None:
        """Backbone and head learn, batch norm statistics included."""
        self.detector.eval()
        self.detector.backbone.train()
        self.detector.neck_head.train()

    def losses(self, images, targets):
        """Detection loss of the full model."""
        outputs = self.detector(images)
        return self.loss(outputs['cls_logits'], outputs['bbox_regression'], self.detector.neck_head.anchors, targets)


@STAGES.register('bottleneck')
class BottleneckStage(Stage):
    """Head network distillation of every bottleneck against the frozen detector (as in sc2bench).

    Options: `feature_weight` (the decoded tensor vs the teacher's cut tensor), `output_weight` (the tail's
    raw outputs from the decoded tensor vs the teacher's), and `rate_weight` (β of an Entropic-Student rate
    term; it adds a CompressAI EntropyBottleneck per split, trained with the codes, whose tables the
    learned codec uses). Codes see uniform rounding noise, so that they survive integer quantisation.
    """

    def __init__(self, detector: SplittableDetector, options: Mapping[str, Any]) -> None:
        """Set up the entropy models when a rate term is asked for."""
        super().__init__(detector, options)
        self.splits = list(self.options.get('splits') or detector.bottlenecks.keys())
        if not self.splits:
            raise ValueError('the bottleneck stage needs bottlenecks in the model config')
        self.feature_weight = float(self.options.get('feature_weight', 1.0))
        self.output_weight = float(self.options.get('output_weight', 0.0))
        self.rate_weight = self.options.get('rate_weight')
        if self.rate_weight is not None:
            from splitee_ros.codec.learned import entropy_bottleneck

            self.extra_modules = {
                split: entropy_bottleneck(detector.bottlenecks[split].encoder[-1].out_channels) for split in self.splits
            }

    def parameters(self) -> list[nn.Parameter]:
        """The bottlenecks, and the entropy models' densities."""
        return [p for module in self.trained_modules().values() for p in module.parameters()]

    def trained_modules(self) -> dict[str, nn.Module]:
        """The bottlenecks of its splits and their entropy models."""
        bottlenecks = {f'bottleneck.{split}': self.detector.bottlenecks[split] for split in self.splits}
        return bottlenecks | {f'entropy.{split}': module for split, module in self.extra_modules.items()}

    def train_mode(self) -> None:
        """Only the bottlenecks (and entropy models) learn."""
        self.detector.eval()
        for split in self.splits:
            self.detector.bottlenecks[split].train()
        for module in self.extra_modules.values():
            module.train()

    def losses(self, images, targets):
        """Distillation (and rate) losses summed over the splits."""
        with torch.no_grad():
            cuts = cut_tensors(self.detector, images, self.splits)
            teacher = self.detector(images) if self.output_weight else None
        totals: dict[str, Tensor] = {}
        for split in self.splits:
            bottleneck = self.detector.bottlenecks[split]
            code = bottleneck.encode(cuts[split])
            if self.rate_weight is not None:
                entropy_model = self.extra_modules[split]
                code, likelihoods = entropy_model(code)
                pixels = images.shape[0] * images.shape[2] * images.shape[3]
                bits = -torch.log2(likelihoods.clamp(min=1e-9)).sum() / pixels
                _add(totals, 'rate_bpp', float(self.rate_weight) * bits)
                _add(totals, 'entropy_aux', entropy_model.loss())
            else:
                code = code + (torch.rand_like(code) - 0.5)
            decoded = bottleneck.decode(code)
            _add(totals, 'feature', self.feature_weight * feature_distillation(decoded, cuts[split]))
            if self.output_weight:
                tail = self.detector.tail(split, bottleneck=False)
                outputs = tail(decoded)
                for key in ('cls_logits', 'bbox_regression'):
                    _add(totals, 'output', self.output_weight * feature_distillation(outputs[key], teacher[key]))
        return totals


def _add(totals: dict[str, Tensor], key: str, value: Tensor) -> None:
    totals[key] = totals[key] + value if key in totals else value


@STAGES.register('exits')
class ExitStage(Stage):
    """Exit heads with the focal detection loss on ground truth, then confidence calibration.

    Options: `detection_weight`, `distill_weight` (the teacher's confident detections, score at least
    `distill_score`, as extra targets), `agreement_iou` (0.5). The confidence is then fitted to predict
    the exit's agreement with the full model (F1 of matched detections) on the calibration images.
    """

    def __init__(self, detector: SplittableDetector, options: Mapping[str, Any]) -> None:
        """Find the exits to train."""
        super().__init__(detector, options)
        self.splits = list(self.options.get('splits') or detector.exits.keys())
        if not self.splits:
            raise ValueError('the exits stage needs exits in the model config')
        self.detection_weight = float(self.options.get('detection_weight', 1.0))
        self.distill_weight = float(self.options.get('distill_weight', 0.0))
        self.distill_score = float(self.options.get('distill_score', 0.5))
        self.agreement_iou = float(self.options.get('agreement_iou', 0.5))
        self.loss = DetectionLoss()

    def parameters(self) -> list[nn.Parameter]:
        """The exit heads (their confidence layers are fitted in `finish`)."""
        return [
            p
            for split in self.splits
            for name, p in self.detector.exits[split].named_parameters()
            if not name.startswith('confidence')
        ]

    def trained_modules(self) -> dict[str, nn.Module]:
        """The exit heads (confidence layers included)."""
        return {f'exit.{split}': self.detector.exits[split] for split in self.splits}

    def train_mode(self) -> None:
        """Only the exits learn."""
        self.detector.eval()
        for split in self.splits:
            self.detector.exits[split].train()

    def _teacher_targets(self, images: Tensor) -> list[dict[str, Tensor]]:
        with torch.no_grad():
            outputs = _numpy(self.detector(images))
        targets = []
        for result in self.detector.detections(outputs):
            keep = result.scores >= self.distill_score
            targets.append({
                'boxes': torch.from_numpy(result.boxes[keep]).to(images.device),
                'labels': torch.from_numpy(result.labels[keep]).to(images.device),
                'crowd': torch.zeros(int(keep.sum()), dtype=torch.bool, device=images.device),
            })  # fmt: skip
        return targets

    def losses(self, images, targets):
        """Detection (and distillation) losses summed over the exits."""
        with torch.no_grad():
            cuts = cut_tensors(self.detector, images, self.splits)
        teacher_targets = self._teacher_targets(images) if self.distill_weight else None
        totals: dict[str, Tensor] = {}
        for split in self.splits:
            head = self.detector.exits[split]
            cls_logits, bbox_regression, _ = head.predict(cuts[split])
            losses = self.loss(cls_logits, bbox_regression, head.anchors, targets)
            _add(totals, 'detection', self.detection_weight * sum(losses.values()))
            if teacher_targets is not None:
                distilled = self.loss(cls_logits, bbox_regression, head.anchors, teacher_targets)
                _add(totals, 'distill', self.distill_weight * sum(distilled.values()))
        return totals

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
                    agreements[split] += [agreement(e, f, self.agreement_iou) for e, f in zip(exits, full, strict=True)]
        report = {}
        for split in self.splits:
            features = torch.cat(summaries[split])
            target = torch.tensor(agreements[split], dtype=torch.float32)
            report[split] = _fit_confidence(self.detector.exits[split].confidence, features, target)
        return {'confidence_calibration': report}


def _numpy(tensors: dict[str, Tensor]) -> dict[str, np.ndarray]:
    return {key: value.detach().cpu().numpy() for key, value in tensors.items()}


def agreement(exit_result: Detections, full_result: Detections, iou_threshold: float) -> float:
    """F1 of the exit's detections against the full model's (same label, IoU at least the threshold)."""
    if len(exit_result) == 0 and len(full_result) == 0:
        return 1.0
    if len(exit_result) == 0 or len(full_result) == 0:
        return 0.0
    from torchvision.ops import box_iou

    iou = box_iou(torch.from_numpy(exit_result.boxes), torch.from_numpy(full_result.boxes)).numpy()
    iou[exit_result.labels[:, None] != full_result.labels[None, :]] = 0
    matched, used = 0, set()
    for row in np.argsort(-exit_result.scores):
        candidates = [c for c in np.argsort(-iou[row]) if iou[row, c] >= iou_threshold and c not in used]
        if candidates:
            used.add(candidates[0])
            matched += 1
    return 2 * matched / (len(exit_result) + len(full_result))


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
    }
