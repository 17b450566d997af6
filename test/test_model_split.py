# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Splitting is exact: tail(head(x)) reproduces the unsplit torchvision model, for every family and split."""

import functools

import numpy as np
import pytest
import torch
from model_helpers import SEED, camera_like_image, spread_class_scores

from splitee_ros.model.config import ModelConfig
from splitee_ros.model.families import FAMILIES, TORCHVISION_FAMILIES, build_detector, wrap_torchvision
from splitee_ros.model.postprocess import Detections, PostprocessConfig

# Low thresholds so that random weights still give many detections to compare.
LOW_THRESHOLDS = {'score_thresh': 0.0}


@functools.cache
def models(family: str):
    """(splittable detector, the torchvision model it wraps or None), with seeded random weights.

    Every parameter gets seeded noise on top of the initialisation, and the class logits are spread.
    """
    torch.manual_seed(SEED)
    config = ModelConfig(family=family, postprocess=LOW_THRESHOLDS)
    image = camera_like_image(build_detector(config).input_size, seed=5)
    reference = TORCHVISION_FAMILIES[family].model(config) if family in TORCHVISION_FAMILIES else None
    perturbed = reference if reference is not None else build_detector(config)
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for parameter in perturbed.parameters():
            scale = 0.1 * float(parameter.abs().mean()) + 0.01
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    if reference is None:
        spread_class_scores(perturbed, lambda: perturbed(image))
        return perturbed, None
    for key, value in LOW_THRESHOLDS.items():
        if hasattr(reference, key):
            setattr(reference, key, value)
    spread_class_scores(reference, lambda: reference([image[0]]))
    return wrap_torchvision(family, reference, config).eval(), reference


def detector(family: str):
    return models(family)[0]


def numpy_outputs(outputs):
    return {key: value.detach().numpy() for key, value in outputs.items()}


def sorted_detections(result: Detections):
    order = np.lexsort((result.boxes[:, 0], result.labels, -result.scores))
    return result.boxes[order], result.scores[order], result.labels[order]


def assert_same_detections(actual: Detections, expected: Detections):
    assert len(expected) > 0, 'nothing to compare: lower the thresholds'
    assert len(actual) == len(expected)
    boxes, scores, labels = sorted_detections(actual)
    expected_boxes, expected_scores, expected_labels = sorted_detections(expected)
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5, rtol=0)
    np.testing.assert_allclose(boxes, expected_boxes, atol=1e-4, rtol=0)


FAMILY_SPLITS = [(family, split) for family in FAMILIES for split in detector(family).split_points]


def test_every_family_has_at_least_three_split_points():
    assert set(FAMILIES) >= {
        'ssdlite320_mobilenet_v3_large', 'fasterrcnn_mobilenet_v3_large_fpn', 'fasterrcnn_mobilenet_v3_large_320_fpn',
        'fasterrcnn_resnet50_fpn', 'retinanet_resnet50_fpn', 'splitee_demo',
    }  # fmt: skip
    for family in FAMILIES:
        assert len(detector(family).split_points) >= 3, family


@functools.cache
def reference_run(family: str):
    """The unsplit model on one image: our raw outputs, the reference detections, torchvision's raw outputs.

    Two-stage detectors select their boxes in torch, so torchvision's own detections are the reference.
    One-stage detectors end at raw head outputs, which must equal torchvision's; their detections come
    from the shared numpy post-processing (checked against torchvision's in its own test below).
    """
    model, reference = models(family)
    image = camera_like_image(model.input_size, seed=5)
    with torch.no_grad():
        unsplit = numpy_outputs(model(image))
    if reference is None:  # our own model: its unsplit path is the reference
        return image, unsplit, model.detections(unsplit)[0], {}
    two_stage = family.startswith('fasterrcnn')
    if two_stage:
        hooked = [reference.rpn.head, reference.roi_heads.box_predictor]
    else:
        hooked = [reference.head, reference.anchor_generator]
    raw = {}
    handles = [m.register_forward_hook(lambda m, i, o, n=n: raw.__setitem__(n, o)) for n, m in enumerate(hooked)]
    with torch.no_grad():
        result = reference([image[0]])[0]
    for handle in handles:
        handle.remove()
    if two_stage:
        expected = Detections(result['boxes'].numpy(), result['scores'].numpy(), result['labels'].numpy())
    else:
        for key in ('cls_logits', 'bbox_regression'):
            np.testing.assert_array_equal(unsplit[key], raw[0][key].numpy())
        np.testing.assert_array_equal(model.constants()['anchors'], raw[1][0].numpy())  # torchvision's anchors
        expected = model.detections(unsplit)[0]
    return image, unsplit, expected, raw if two_stage else {}


@pytest.mark.parametrize(('family', 'split'), FAMILY_SPLITS)
def test_tail_of_head_is_the_unsplit_model(family, split):
    model = detector(family)
    image, unsplit, expected, reference_raw = reference_run(family)
    raw = {}
    if family.startswith('fasterrcnn'):  # pre-NMS outputs of both stages
        hooked = [model.neck_head.rpn.head, model.neck_head.roi_heads.box_predictor]
        handles = [m.register_forward_hook(lambda m, i, o, n=n: raw.__setitem__(n, o)) for n, m in enumerate(hooked)]
    with torch.no_grad():
        code = model.head(split, bottleneck=False, exits=False)(image)['code']
        outputs = numpy_outputs(model.tail(split, bottleneck=False)(code))
    if family.startswith('fasterrcnn'):
        for handle in handles:
            handle.remove()
        for index in reference_raw:
            for ours, theirs in zip(
                torch.utils._pytree.tree_leaves(raw[index]), torch.utils._pytree.tree_leaves(reference_raw[index]),
                strict=True,
            ):  # fmt: skip
                torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)
    assert code.shape[1:] == model.split_points[split].shape
    assert set(outputs) == set(unsplit)
    for key, value in unsplit.items():  # raw outputs: pre-NMS logits and deltas for one-stage detectors
        assert value.size > 0
        np.testing.assert_allclose(outputs[key], value, atol=1e-4, rtol=0, err_msg=key)
    assert_same_detections(model.detections(outputs)[0], expected)


def distinct_logits(shape, seed: int) -> torch.Tensor:
    """Logits in [-4, 4] that are all different by a margin, so that no score ties make NMS ambiguous."""
    generator = torch.Generator().manual_seed(seed)
    count = int(np.prod(shape))
    return (torch.randperm(count, generator=generator).float() / count * 8 - 4).reshape(shape)


@pytest.mark.parametrize('family', ['ssdlite320_mobilenet_v3_large', 'retinanet_resnet50_fpn'])
def test_numpy_postprocess_matches_torchvision(family):
    model, reference = models(family)
    constants = model.constants()
    anchors = torch.from_numpy(constants['anchors'])
    num_anchors = anchors.shape[0]
    generator = torch.Generator().manual_seed(9)
    cls_logits = distinct_logits((1, num_anchors, model.num_classes), seed=9)
    bbox_regression = 0.5 * torch.randn(1, num_anchors, 4, generator=generator)
    for score_thresh in (0.05, 0.5):
        reference.score_thresh = score_thresh
        model.postprocess_config = PostprocessConfig(
            **{**model.postprocess_config.__dict__, 'score_thresh': score_thresh}
        )
        with torch.no_grad():
            if family.startswith('ssdlite'):
                heads = {'cls_logits': cls_logits, 'bbox_regression': bbox_regression}
                result = reference.postprocess_detections(heads, [anchors], [model.input_size])[0]
            else:
                split = constants['anchors_per_level'].tolist()
                heads = {'cls_logits': list(cls_logits.split(split, dim=1)),
                         'bbox_regression': list(bbox_regression.split(split, dim=1))}  # fmt: skip
                result = reference.postprocess_detections(heads, [list(anchors.split(split))], [model.input_size])[0]
        expected = Detections(result['boxes'].numpy(), result['scores'].numpy(), result['labels'].numpy())
        outputs = {'cls_logits': cls_logits.numpy(), 'bbox_regression': bbox_regression.numpy()}
        assert_same_detections(model.detections(outputs)[0], expected)
    reference.score_thresh = LOW_THRESHOLDS['score_thresh']
    model.postprocess_config = PostprocessConfig(**{**model.postprocess_config.__dict__, **LOW_THRESHOLDS})
