# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Detector families and their registry: torchvision detectors split inside the backbone, and the demo model.

Each family builder returns a `SplittableDetector` that shares its modules with the torchvision model, so
that unsplit it is exactly the torchvision model. Split points are chosen where a single tensor crosses the
cut (before the first feature map that the neck reads, or at it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torchvision.models.detection import (
    FasterRCNN,
    RetinaNet,
    fasterrcnn_mobilenet_v3_large_320_fpn,
    fasterrcnn_mobilenet_v3_large_fpn,
    fasterrcnn_resnet50_fpn,
    retinanet_resnet50_fpn,
    ssdlite320_mobilenet_v3_large,
)
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork

from splitee_ros.errors import UnknownNameError
from splitee_ros.model.config import ModelConfig
from splitee_ros.model.detector import Normalize, SplittableDetector
from splitee_ros.model.parts import StagedBackbone, fixed_anchors
from splitee_ros.model.postprocess import PostprocessConfig
from splitee_ros.model.weights import load_weights

if TYPE_CHECKING:
    from typing import TypeAlias

    from torchvision.models.detection.ssd import SSD

    # The torchvision detectors that split here (untyped: torchvision ships no type information).
    TorchvisionDetector: TypeAlias = FasterRCNN | RetinaNet | SSD

Builder = Callable[[ModelConfig], SplittableDetector]
FAMILIES: dict[str, Builder] = {}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def register(name: str) -> Callable[[Builder], Builder]:
    """Register a family builder under `name`."""

    def add(builder: Builder) -> Builder:
        FAMILIES[name] = builder
        return builder

    return add


def build_detector(config: ModelConfig) -> SplittableDetector:
    """Build a detector from its config: family, split points, bottlenecks, exits, then local weights."""
    if config.family not in FAMILIES:
        raise UnknownNameError(f'unknown detector family {config.family!r}; known: {", ".join(sorted(FAMILIES))}')
    detector = FAMILIES[config.family](config)
    for table, what in ((config.bottlenecks, 'bottlenecks'), (config.exits, 'exits')):
        unknown = sorted(set(table) - set(detector.split_points) - {'*'})
        if unknown:
            raise UnknownNameError(
                f'{what} name unknown split points {unknown}; known: {", ".join(detector.split_points)}'
            )
    for split in list(detector.split_points):
        bottleneck = config.for_split(config.bottlenecks, split)
        if bottleneck is not None:
            detector.add_bottleneck(split, bottleneck)
        exit_config = config.for_split(config.exits, split)
        if exit_config is not None:
            detector.add_exit(split, exit_config)
    if config.torchvision_weights and config.family not in TORCHVISION_FAMILIES:
        raise ValueError(f'torchvision_weights only apply to torchvision families, not {config.family!r}')
    if config.weights:
        load_weights(detector, config.weights)
    return detector.eval()


class OneStageNeckHead(nn.Module):
    """Neck (FPN or none) and a one-stage head with anchors fixed for the input size (RetinaNet, SSD)."""

    def __init__(self, neck: nn.Module, head: nn.Module, anchors: Tensor, anchors_per_level: Tensor) -> None:
        """Wrap `neck` (features dict → features dict) and `head` (list of maps → cls/bbox outputs)."""
        super().__init__()
        self.neck = neck
        self.head = head
        self.register_buffer('anchors', anchors, persistent=False)
        self.register_buffer('anchors_per_level', anchors_per_level, persistent=False)

    def forward(self, features: OrderedDict[str, Tensor]) -> dict[str, Tensor]:
        """Return cls_logits (N, A, C) and bbox_regression (N, A, 4); the anchors are buffers."""
        outputs = self.head(list(self.neck(features).values()))
        return {'cls_logits': outputs['cls_logits'], 'bbox_regression': outputs['bbox_regression']}


class FasterRCNNNeckHead(nn.Module):
    """FPN, region proposals and box head of a torchvision Faster R-CNN; final boxes of one image."""

    def __init__(self, model: FasterRCNN, input_size: tuple[int, int]) -> None:
        """Share the neck and both stages of `model`."""
        super().__init__()
        self.fpn = model.backbone.fpn
        self.rpn = model.rpn
        self.roi_heads = model.roi_heads
        self.input_size = input_size

    def forward(self, features: OrderedDict[str, Tensor]) -> dict[str, Tensor]:
        """Return boxes (N, 4), scores (N,), labels (N,) of the image (batch 1), in input pixels."""
        features = self.fpn(features)
        first = next(iter(features.values()))
        if first.shape[0] != 1:
            raise ValueError(f'the Faster R-CNN tail takes one image at a time, got a batch of {first.shape[0]}')
        shape = (first.shape[0], 3, *self.input_size)
        images = ImageList(first.new_zeros((1, 1, 1, 1)).expand(shape), [self.input_size] * first.shape[0])
        proposals, _ = self.rpn(images, features)
        detections, _ = self.roi_heads(features, proposals, images.image_sizes)
        return {key: detections[0][key] for key in ('boxes', 'scores', 'labels')}


def _flatten(body: Mapping[str, nn.Module], expand: Sequence[str] = ()) -> list[tuple[str, nn.Module]]:
    """List a body's children as stages, expanding the named Sequentials into their blocks."""
    stages: list[tuple[str, nn.Module]] = []
    for name, module in body.items():
        if name in expand:
            stages += [(f'{name}_{index}', block) for index, block in enumerate(module.children())]
        else:
            stages.append((name, module))
    return stages


def _last_stage(stages: Sequence[tuple[str, nn.Module]]) -> dict[str, int]:
    """Map each stage name, and each layer name (before '_'), to the index of its last stage."""
    last = {}
    for index, (name, _) in enumerate(stages):
        last[name] = last[name.split('_')[0]] = index
    return last


def _returned(stages: Sequence[tuple[str, nn.Module]], return_layers: Mapping[str, str]) -> dict[int, str]:
    """Map the index of the last stage of each returned layer to the feature's name."""
    last = _last_stage(stages)
    return {last[layer]: feature for layer, feature in return_layers.items()}


def _split_indices(stages: Sequence[tuple[str, nn.Module]], names: Sequence[str]) -> dict[str, int]:
    """Name each split after the last stage that the head runs: split 'layer1' cuts after layer1's last block."""
    last = _last_stage(stages)
    unknown = [name for name in names if name not in last]
    if unknown:
        raise UnknownNameError(
            f'no split point {unknown[0]!r}; the backbone stages are {", ".join(name for name, _ in stages)}'
        )
    return {name: last[name] + 1 for name in names}


def _chosen(config: ModelConfig, defaults: Sequence[str]) -> Sequence[str]:
    return config.splits if config.splits is not None else defaults


def _postprocess(defaults: PostprocessConfig, config: ModelConfig) -> PostprocessConfig:
    unknown = sorted(set(config.postprocess) - set(defaults.__dict__))
    if unknown:
        raise ValueError(f'unknown postprocess keys {unknown}; known: {sorted(defaults.__dict__)}')
    return PostprocessConfig(**{**defaults.__dict__, **config.postprocess})


def _one_stage_neck_head(
    backbone: StagedBackbone,
    normalize: Normalize,
    neck: nn.Module,
    head: nn.Module,
    generator: AnchorGenerator,
    size: tuple[int, int],
) -> OneStageNeckHead:
    backbone.eval()
    neck.eval()
    with torch.no_grad():
        maps = list(neck(backbone.features(normalize(torch.zeros(1, 3, *size)))).values())
    anchors, per_level = fixed_anchors(generator, size, maps)
    return OneStageNeckHead(neck, head, anchors, per_level)


def _ssdlite_stages(model: SSD) -> StagedBackbone:
    features = model.backbone.features
    stages = [(f'features_{i}', block) for i, block in enumerate(features[0])]
    stages += [(f'features_{len(features[0]) + i}', block) for i, block in enumerate(features[1])]
    stages += [(f'extra_{i}', block) for i, block in enumerate(model.backbone.extra)]
    returned = {len(features[0]) - 1: '0', len(features[0]) + len(features[1]) - 1: '1'}
    returned |= {len(features[0]) + len(features[1]) + i: str(2 + i) for i in range(len(model.backbone.extra))}
    return StagedBackbone(stages, returned)


@dataclass(frozen=True)
class TorchvisionFamily:
    """How to build a torchvision detector and where to split it."""

    make: Callable[..., TorchvisionDetector]
    default_size: tuple[int, int]  # (height, width)
    splits: tuple[str, ...]  # default split points, named after the last stage of the head
    expand: tuple[str, ...] = ()  # body layers listed block by block, so that splits can fall inside them
    fixed_size: bool = False  # SSD resizes to a fixed size; the others resize by min/max side

    def model(self, config: ModelConfig) -> TorchvisionDetector:
        """Build the torchvision model with random weights, its transform a no-op at the input size."""
        height, width = config.input_size or self.default_size
        options = {'weights': None, 'weights_backbone': None, 'num_classes': len(config.class_names)}
        if not self.fixed_size:
            options |= {'min_size': min(height, width), 'max_size': max(height, width)}
        model = self.make(**options, **config.options)
        if self.fixed_size:
            model.transform.fixed_size = (width, height)
        if config.torchvision_weights:
            load_weights(model, config.torchvision_weights)
        return model.eval()


TORCHVISION_FAMILIES = {
    'ssdlite320_mobilenet_v3_large': TorchvisionFamily(
        ssdlite320_mobilenet_v3_large, (320, 320), ('features_3', 'features_6', 'features_12'), fixed_size=True
    ),
    'fasterrcnn_mobilenet_v3_large_fpn': TorchvisionFamily(
        fasterrcnn_mobilenet_v3_large_fpn, (480, 640), ('3', '6', '12')
    ),
    'fasterrcnn_mobilenet_v3_large_320_fpn': TorchvisionFamily(
        fasterrcnn_mobilenet_v3_large_320_fpn, (320, 416), ('3', '6', '12')
    ),
    'fasterrcnn_resnet50_fpn': TorchvisionFamily(
        fasterrcnn_resnet50_fpn, (384, 512), ('maxpool', 'layer1_0', 'layer1'), ('layer1',)
    ),
    'retinanet_resnet50_fpn': TorchvisionFamily(
        retinanet_resnet50_fpn, (384, 512), ('maxpool', 'layer1', 'layer2_1', 'layer2'), ('layer1', 'layer2')
    ),
}


def wrap_torchvision(family: str, model: TorchvisionDetector, config: ModelConfig) -> SplittableDetector:
    """Make a torchvision detector splittable; the result shares (not copies) the model's modules."""
    spec = TORCHVISION_FAMILIES[family]
    height, width = config.input_size or spec.default_size
    size = (height, width)
    divisor = model.transform.size_divisible
    if size[0] % divisor or size[1] % divisor:
        raise ValueError(f'{family}: input size {size} must be a multiple of {divisor} (torchvision pads to it)')
    normalize = Normalize(model.transform.image_mean, model.transform.image_std)
    if spec.fixed_size:
        backbone = _ssdlite_stages(model)
        stages = list(zip(backbone.stage_names, backbone.stages, strict=True))
    else:
        body = model.backbone.body
        stages = _flatten(OrderedDict(body.named_children()), spec.expand)
        backbone = StagedBackbone(stages, _returned(stages, body.return_layers))
    neck_head: FasterRCNNNeckHead | OneStageNeckHead
    if isinstance(model, FasterRCNN):
        roi = model.roi_heads
        postprocess = _postprocess(PostprocessConfig(roi.score_thresh, roi.nms_thresh, roi.detections_per_img), config)
        roi.score_thresh, roi.nms_thresh = postprocess.score_thresh, postprocess.nms_thresh
        roi.detections_per_img = postprocess.detections_per_img
        neck_head, kind = FasterRCNNNeckHead(model, size), 'boxes'
    else:
        neck, kind = (model.backbone.fpn, 'retinanet') if isinstance(model, RetinaNet) else (nn.Identity(), 'ssd')
        neck_head = _one_stage_neck_head(backbone, normalize, neck, model.head, model.anchor_generator, size)
        defaults = PostprocessConfig(
            model.score_thresh, model.nms_thresh, model.detections_per_img, model.topk_candidates
        )
        postprocess = _postprocess(defaults, config)
    return SplittableDetector(
        family, normalize, backbone, neck_head, kind, size, config.class_names,
        _split_indices(stages, _chosen(config, spec.splits)), postprocess,
    )  # fmt: skip


def _register_torchvision(family: str) -> None:
    def build(config: ModelConfig) -> SplittableDetector:
        return wrap_torchvision(family, TORCHVISION_FAMILIES[family].model(config), config)

    build.__doc__ = f'Torchvision {family}, split inside its backbone.'
    register(family)(build)


for _family in TORCHVISION_FAMILIES:
    _register_torchvision(_family)


def _separable(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1 convolution, each with batch norm and ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
        nn.BatchNorm2d(in_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _demo_stage(in_channels: int, out_channels: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(
        _separable(in_channels, out_channels, 2),
        *(_separable(out_channels, out_channels, 1) for _ in range(blocks - 1)),
    )


@register('splitee_demo')
def build_demo(config: ModelConfig) -> SplittableDetector:
    """The small demo detector: a separable-conv backbone, a 3-level FPN and a slim RetinaNet head.

    Options: `widths` (stem and four stages), `blocks` (per stage), `fpn_channels`, `head_convs`,
    `anchor_sizes` (per FPN level, strides 8/16/32).
    """
    from torchvision.models.detection.retinanet import RetinaNetHead

    options: dict[str, Any] = {  # as they come from the YAML config
        'widths': (16, 24, 40, 80, 128),
        'blocks': (1, 2, 3, 2),
        'fpn_channels': 48,
        'head_convs': 2,
    }
    options |= {'anchor_sizes': ((12, 20, 32), (40, 64, 96), (128, 192, 288))} | dict(config.options)
    unknown = sorted(set(options) - {'widths', 'blocks', 'fpn_channels', 'head_convs', 'anchor_sizes'})
    if unknown:
        raise ValueError(f'unknown splitee_demo options {unknown}')
    height, width = config.input_size or (480, 640)
    size = (height, width)
    widths, blocks = options['widths'], options['blocks']
    stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
    stages = [('stem', stem)] + [
        (f'stage{i + 1}', _demo_stage(widths[i], widths[i + 1], blocks[i])) for i in range(len(blocks))
    ]
    backbone = StagedBackbone(stages, {2: '0', 3: '1', 4: '2'})
    fpn = FeaturePyramidNetwork(list(widths[2:]), options['fpn_channels'])
    generator = AnchorGenerator(tuple(tuple(s) for s in options['anchor_sizes']), ((0.5, 1.0, 2.0),) * 3)
    head = RetinaNetHead(options['fpn_channels'], generator.num_anchors_per_location()[0], len(config.class_names))
    for branch in (head.classification_head, head.regression_head):
        branch.conv = branch.conv[: options['head_convs']]
    normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD)
    neck_head = _one_stage_neck_head(backbone, normalize, fpn, head, generator, size)
    return SplittableDetector(
        'splitee_demo', normalize, backbone, neck_head, 'retinanet', size, config.class_names,
        _split_indices(stages, _chosen(config, ('stem', 'stage1', 'stage2'))),
        _postprocess(PostprocessConfig(score_thresh=0.3, nms_thresh=0.5, detections_per_img=100), config),
    )  # fmt: skip
