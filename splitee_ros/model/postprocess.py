# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Detector post-processing in numpy: box decoding, per-class NMS, rescaling to the camera frame.

This is the one implementation used by every runtime (torch, onnxruntime, tensorrt): the tail and exit
graphs end at raw head outputs, and the functions here turn them into detections. They follow
torchvision's RetinaNet and SSD post-processing step by step, so that split models reproduce the
unsplit torchvision models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BBOX_XFORM_CLIP = math.log(1000.0 / 16)


@dataclass(frozen=True)
class Detections:
    """Detections of one image: boxes (N, 4) as x1, y1, x2, y2 in pixels, scores (N,), labels (N,)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        """Return the number of detections."""
        return len(self.scores)

    @classmethod
    def empty(cls) -> Detections:
        """Return a result with no detections."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of `a` (N, 4) with every box of `b` (M, 4): (N, M)."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    intersection = np.clip(bottom_right - top_left, 0, None).prod(-1)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return intersection / np.maximum(area_a[:, None] + area_b[None, :] - intersection, 1e-9)


def agreement(result: Detections, reference: Detections, iou_threshold: float = 0.5) -> float:
    """How far an exit's answer agrees with the full model's: F1 of `result`'s detections against `reference`'s.

    A match has the same label and an IoU of at least the threshold, taken greedily by score.
    """
    if len(result) == 0 and len(reference) == 0:
        return 1.0
    if len(result) == 0 or len(reference) == 0:
        return 0.0
    iou = box_iou(result.boxes, reference.boxes)
    iou[result.labels[:, None] != reference.labels[None, :]] = 0
    matched, used = 0, set()
    for row in np.argsort(-result.scores):
        candidates = [c for c in np.argsort(-iou[row]) if iou[row, c] >= iou_threshold and c not in used]
        if candidates:
            used.add(candidates[0])
            matched += 1
    return 2 * matched / (len(result) + len(reference))


@dataclass(frozen=True)
class PostprocessConfig:
    """Thresholds of the post-processing (torchvision's names and defaults for RetinaNet)."""

    score_thresh: float = 0.05
    nms_thresh: float = 0.5
    detections_per_img: int = 300
    topk_candidates: int = 1000  # per level (RetinaNet) or class (SSD); two-stage detectors select in the graph


def decode_boxes(deltas: np.ndarray, anchors: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """Decode box regression deltas (N, 4) against anchors (N, 4) as torchvision's BoxCoder does."""
    deltas = deltas.astype(np.float32, copy=False)
    anchors = anchors.astype(np.float32, copy=False)
    widths = anchors[:, 2] - anchors[:, 0]
    heights = anchors[:, 3] - anchors[:, 1]
    ctr_x = anchors[:, 0] + np.float32(0.5) * widths
    ctr_y = anchors[:, 1] + np.float32(0.5) * heights
    wx, wy, ww, wh = (np.float32(w) for w in weights)
    dx, dy = deltas[:, 0] / wx, deltas[:, 1] / wy
    dw = np.minimum(deltas[:, 2] / ww, np.float32(BBOX_XFORM_CLIP))
    dh = np.minimum(deltas[:, 3] / wh, np.float32(BBOX_XFORM_CLIP))
    pred_ctr_x = dx * widths + ctr_x
    pred_ctr_y = dy * heights + ctr_y
    half_w = np.float32(0.5) * (np.exp(dw) * widths)
    half_h = np.float32(0.5) * (np.exp(dh) * heights)
    return np.stack([pred_ctr_x - half_w, pred_ctr_y - half_h, pred_ctr_x + half_w, pred_ctr_y + half_h], axis=1)


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Clip boxes to the image."""
    clipped = boxes.copy()
    clipped[:, 0::2] = np.clip(clipped[:, 0::2], 0, width)
    clipped[:, 1::2] = np.clip(clipped[:, 1::2], 0, height)
    return clipped


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int | None = None) -> np.ndarray:
    """Greedy non-maximum suppression; indices of kept boxes by decreasing score (as torchvision.ops.nms).

    Boxes are kept in decreasing score order, so stopping after `max_keep` gives the first `max_keep` of the
    full result.
    """
    order = np.argsort(-scores, kind='stable')
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    areas = (x2 - x1) * (y2 - y1)
    suppressed = np.zeros(len(scores), dtype=bool)
    keep = []
    for position, index in enumerate(order):
        if suppressed[index]:
            continue
        keep.append(index)
        if len(keep) == max_keep:
            break
        rest = order[position + 1 :]
        rest = rest[~suppressed[rest]]
        if rest.size == 0:
            continue
        width = np.maximum(np.minimum(x2[index], x2[rest]) - np.maximum(x1[index], x1[rest]), 0)
        height = np.maximum(np.minimum(y2[index], y2[rest]) - np.maximum(y1[index], y1[rest]), 0)
        intersection = width * height
        with np.errstate(invalid='ignore', divide='ignore'):  # 0/0 for two empty boxes: NaN, never suppresses
            iou = intersection / (areas[index] + areas[rest] - intersection)
        suppressed[rest[iou > iou_threshold]] = True
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou_threshold: float, max_keep: int | None = None
) -> np.ndarray:
    """Non-maximum suppression within each label (boxes of different labels never suppress each other)."""
    if boxes.size == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = labels.astype(boxes.dtype) * (boxes.max() + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold, max_keep)


def _top_candidates(scores: np.ndarray, score_thresh: float, topk: int) -> np.ndarray:
    """Indices of the at most `topk` highest scores above `score_thresh`, by decreasing score."""
    candidates = np.flatnonzero(scores > score_thresh)
    order = np.argsort(-scores[candidates], kind='stable')[:topk]
    return candidates[order]


def _select(boxes, scores, labels, config: PostprocessConfig) -> Detections:
    if not boxes:
        return Detections.empty()
    boxes, scores, labels = np.concatenate(boxes), np.concatenate(scores), np.concatenate(labels)
    keep = batched_nms(boxes, scores, labels, config.nms_thresh, config.detections_per_img)
    return Detections(boxes[keep].astype(np.float32), scores[keep].astype(np.float32), labels[keep].astype(np.int64))


def sigmoid(values: np.ndarray) -> np.ndarray:
    """Logistic function, stable for large magnitudes."""
    values = values.astype(np.float32, copy=False)
    exp_neg_abs = np.exp(-np.abs(values))
    return np.where(values >= 0, 1 / (1 + exp_neg_abs), exp_neg_abs / (1 + exp_neg_abs)).astype(np.float32)


def softmax(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along `axis`."""
    shifted = np.exp(values - values.max(axis=axis, keepdims=True))
    return (shifted / shifted.sum(axis=axis, keepdims=True)).astype(np.float32)


def retinanet_detections(
    cls_logits: np.ndarray,
    bbox_regression: np.ndarray,
    anchors: np.ndarray,
    anchors_per_level: Sequence[int],
    image_size: tuple[int, int],
    config: PostprocessConfig,
    box_weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
) -> Detections:
    """Sigmoid scores per class and level, top-k per level, decode, clip, per-class NMS (one image)."""
    num_classes = cls_logits.shape[-1]
    boxes, scores, labels = [], [], []
    start = 0
    for count in anchors_per_level:
        level = slice(start, start + int(count))
        start += int(count)
        level_scores = sigmoid(cls_logits[level]).reshape(-1)
        chosen = _top_candidates(level_scores, config.score_thresh, config.topk_candidates)
        anchor_index = chosen // num_classes
        decoded = decode_boxes(bbox_regression[level][anchor_index], anchors[level][anchor_index], box_weights)
        boxes.append(clip_boxes(decoded, *image_size))
        scores.append(level_scores[chosen])
        labels.append(chosen % num_classes)
    return _select(boxes, scores, labels, config)


def ssd_detections(
    cls_logits: np.ndarray,
    bbox_regression: np.ndarray,
    anchors: np.ndarray,
    image_size: tuple[int, int],
    config: PostprocessConfig,
    box_weights: Sequence[float] = (10.0, 10.0, 5.0, 5.0),
) -> Detections:
    """Softmax scores, decode, clip, top-k per foreground class, per-class NMS (one image)."""
    class_scores = softmax(cls_logits)
    decoded = clip_boxes(decode_boxes(bbox_regression, anchors, box_weights), *image_size)
    boxes, scores, labels = [], [], []
    for label in range(1, class_scores.shape[-1]):
        chosen = _top_candidates(class_scores[:, label], config.score_thresh, config.topk_candidates)
        boxes.append(decoded[chosen])
        scores.append(class_scores[chosen, label])
        labels.append(np.full(len(chosen), label, dtype=np.int64))
    return _select(boxes, scores, labels, config)


def rescale(detections: Detections, from_size: tuple[int, int], to_size: tuple[int, int]) -> Detections:
    """Map boxes from the model's input size (height, width) to the camera frame's size."""
    scale_y = np.float32(to_size[0]) / np.float32(from_size[0])
    scale_x = np.float32(to_size[1]) / np.float32(from_size[1])
    boxes = detections.boxes * np.array([scale_x, scale_y, scale_x, scale_y], dtype=np.float32)
    return Detections(boxes, detections.scores, detections.labels)


def detections_from_outputs(
    kind: str, outputs: Mapping[str, np.ndarray], image_size: tuple[int, int], config: PostprocessConfig
) -> list[Detections]:
    """Turn a batch of raw outputs of a tail or exit graph into detections, one entry per image.

    `kind` names the head type: `retinanet` and `ssd` outputs are `cls_logits`, `bbox_regression`,
    `anchors` (and `anchors_per_level`); `boxes` outputs are final `boxes`, `scores`, `labels` of one
    image (two-stage detectors run their own selection in the graph).
    """
    if kind == 'boxes':
        return [Detections(outputs['boxes'], outputs['scores'], outputs['labels'].astype(np.int64))]
    if kind not in ('retinanet', 'ssd'):
        raise ValueError(f'unknown output kind {kind!r}; expected retinanet, ssd or boxes')
    results = []
    for cls_logits, bbox_regression in zip(outputs['cls_logits'], outputs['bbox_regression'], strict=True):
        if kind == 'retinanet':
            levels = outputs['anchors_per_level'].reshape(-1).tolist()
            results.append(
                retinanet_detections(cls_logits, bbox_regression, outputs['anchors'], levels, image_size, config)
            )
        else:
            results.append(ssd_detections(cls_logits, bbox_regression, outputs['anchors'], image_size, config))
    return results


def postprocess(
    kind: str,
    outputs: Mapping[str, np.ndarray],
    constants: Mapping[str, np.ndarray],
    input_size: tuple[int, int],
    config: PostprocessConfig,
    exit_name: str | None = None,
    frame_size: tuple[int, int] | None = None,
) -> list[Detections]:
    """Raw outputs of a tail graph, or of exit `exit_name` in a head graph, → detections, one entry per image.

    `constants` are the fixed tensors beside the graphs (anchors). Boxes are in the model's input pixels, or
    in the camera frame's if `frame_size` (height, width) is given. Exits are RetinaNet-style heads.
    """
    values = {**outputs, **constants}
    if exit_name is not None:
        prefix = f'exit.{exit_name}.'
        kind = 'retinanet'
        values = {key[len(prefix) :]: value for key, value in values.items() if key.startswith(prefix)}
    results = detections_from_outputs(kind, values, input_size, config)
    if frame_size is None:
        return results
    return [rescale(result, input_size, frame_size) for result in results]
