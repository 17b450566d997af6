# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Losses: the focal detection loss of RetinaNet-style heads (detector and exits), and distillation losses."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.models.detection import _utils as det_utils
from torchvision.ops import boxes as box_ops
from torchvision.ops import sigmoid_focal_loss

BACKGROUND, IGNORED = -1, -2


class DetectionLoss:
    """Focal classification loss and L1 box loss over anchors, as torchvision's RetinaNet computes them.

    Anchors are matched to ground truth at IoU 0.5 (background below 0.4, ignored between), keeping each
    box's best anchor. Anchors mostly inside a crowd region are ignored rather than taken as background.
    """

    def __init__(self, box_weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> None:
        """Use the box coder weights of the head's post-processing."""
        self.matcher = det_utils.Matcher(0.5, 0.4, allow_low_quality_matches=True)
        self.box_coder = det_utils.BoxCoder(weights=tuple(box_weights))

    def match(self, anchors: Tensor, target: dict[str, Tensor]) -> Tensor:
        """Index of the matched box per anchor, or BACKGROUND / IGNORED."""
        boxes = target['boxes'][~target['crowd']]
        if boxes.numel():
            matched = self.matcher(box_ops.box_iou(boxes, anchors))
        else:
            matched = torch.full((anchors.shape[0],), BACKGROUND, dtype=torch.int64, device=anchors.device)
        crowd = target['boxes'][target['crowd']]
        if crowd.numel():
            area = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
            top_left = torch.max(anchors[:, None, :2], crowd[None, :, :2])
            bottom_right = torch.min(anchors[:, None, 2:], crowd[None, :, 2:])
            inside = (bottom_right - top_left).clamp(min=0).prod(-1) / area[:, None].clamp(min=1e-6)
            matched[(matched < 0) & (inside.max(dim=1).values > 0.5)] = IGNORED
        return matched

    def __call__(
        self, cls_logits: Tensor, bbox_regression: Tensor, anchors: Tensor, targets: Sequence[dict[str, Tensor]]
    ) -> dict[str, Tensor]:
        """Mean losses over the batch: {'classification', 'bbox_regression'}."""
        classification, regression = [], []
        for logits, deltas, target in zip(cls_logits, bbox_regression, targets, strict=True):
            matched = self.match(anchors, target)
            foreground = matched >= 0
            count = max(1, int(foreground.sum()))
            labels = target['labels'][~target['crowd']]
            gt_classes = torch.zeros_like(logits)
            gt_classes[foreground, labels[matched[foreground]]] = 1.0
            valid = matched != IGNORED
            classification.append(sigmoid_focal_loss(logits[valid], gt_classes[valid], reduction='sum') / count)
            if foreground.any():
                boxes = target['boxes'][~target['crowd']][matched[foreground]]
                wanted = self.box_coder.encode_single(boxes, anchors[foreground])
                regression.append(F.l1_loss(deltas[foreground], wanted, reduction='sum') / count)
            else:
                regression.append(deltas.sum() * 0)
        return {'classification': torch.stack(classification).mean(), 'bbox_regression': torch.stack(regression).mean()}


def feature_distillation(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean squared error normalised by the teacher's variance, so that losses at different depths compare."""
    return F.mse_loss(student, teacher) / teacher.detach().var().clamp(min=1e-6)
