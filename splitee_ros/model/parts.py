# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Building blocks of a splittable detector: staged backbone, bottleneck, exit head, fixed anchors."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

if TYPE_CHECKING:
    from torchvision.models.detection.retinanet import RetinaNetHead  # untyped: torchvision ships no type information

    from splitee_ros.model.config import BottleneckConfig


class StagedBackbone(nn.Module):
    """A backbone as a flat list of stages; the outputs of some stages are the features the neck reads."""

    def __init__(self, stages: Sequence[tuple[str, nn.Module]], returned: dict[int, str]) -> None:
        """Wrap `stages` (name, module) in order; `returned` maps a stage index to its feature's name."""
        super().__init__()
        self.stage_names = [name for name, _ in stages]
        self.stages = nn.ModuleList(module for _, module in stages)
        self.returned = dict(sorted(returned.items()))

    def __len__(self) -> int:
        """Return the number of stages."""
        return len(self.stages)

    def crosses_one_tensor(self, index: int) -> bool:
        """Whether a cut before stage `index` leaves only that stage's input for the tail to need."""
        return 0 < index <= len(self.stages) and all(returned >= index - 1 for returned in self.returned)

    def suffix(self, start: int) -> StagedBackbone:
        """The stages from `start` on, as a backbone of their own (the tail's part of the backbone)."""
        stages = list(zip(self.stage_names[start:], self.stages[start:], strict=True))
        return StagedBackbone(stages, {i - start: name for i, name in self.returned.items() if i >= start - 1})

    def features(self, x: Tensor, start: int = 0) -> OrderedDict[str, Tensor]:
        """Run the stages from `start` on x; return the features the neck reads, in order.

        When x itself is a returned feature (the output of stage `start - 1`), it is included.
        """
        features: OrderedDict[str, Tensor] = OrderedDict()
        if start - 1 in self.returned:
            features[self.returned[start - 1]] = x
        for index in range(start, len(self.stages)):
            x = self.stages[index](x)
            if index in self.returned:
                features[self.returned[index]] = x
        return features


def fixed_anchors(
    generator: AnchorGenerator, image_size: tuple[int, int], feature_maps: Sequence[Tensor]
) -> tuple[Tensor, Tensor]:
    """Anchors (A, 4) for a fixed input size and the number of anchors of each feature level."""
    images = ImageList(feature_maps[0].new_zeros((1, 1, 1, 1)).expand(1, 3, *image_size), [image_size])
    anchors = generator(images, list(feature_maps))[0]
    per_level = [
        fm.shape[-2] * fm.shape[-1] * a
        for fm, a in zip(feature_maps, generator.num_anchors_per_location(), strict=True)
    ]
    return anchors, torch.tensor(per_level, dtype=torch.int64)


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class _Residual(nn.Module):
    """Two 3x3 convolutions with batch norm around a skip connection."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, 3), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x + self.body(x))


class Bottleneck(nn.Module):
    """Injected bottleneck: the encoder ends the head with a small code, the decoder restores the tensor.

    The encoder reduces `channels` to `code_channels` and the resolution by `stride`; the decoder maps the
    code back to the cut tensor's shape, so the unchanged tail can follow it. `blocks` residual blocks on each
    side give the codec context beyond one 3x3 window (`hidden` channels wide; default the larger of the cut
    tensor's and twice the code's). The encoder runs on the vehicle, inside the head's time: it may be leaner
    (`encoder_hidden` channels, `encoder_blocks` blocks) and leave the capacity to the edge's decoder. The
    decoder's blocks run after a nearest-neighbour upsample, or (`decoder_upsample: pixel_shuffle`) before a
    learned sub-pixel one, at the code's resolution.
    """

    def __init__(self, channels: int, config: BottleneckConfig) -> None:
        """Build encoder and decoder for a cut tensor of `channels` channels."""
        super().__init__()
        code_channels, stride = config.code_channels, config.stride
        if stride not in (1, 2, 4):
            raise ValueError(f'bottleneck stride must be 1, 2 or 4, got {stride}')
        hidden = config.hidden or max(code_channels * 2, channels)
        blocks = config.blocks
        encoder_hidden = config.encoder_hidden or hidden
        encoder_blocks = blocks if config.encoder_blocks < 0 else config.encoder_blocks
        self.stride = stride
        self.code_channels = code_channels
        self.encoder = nn.Sequential(
            _conv(channels, encoder_hidden, 3, stride), *(_Residual(encoder_hidden) for _ in range(encoder_blocks)),
            nn.Conv2d(encoder_hidden, code_channels, 1),
        )  # fmt: skip
        if config.decoder_upsample == 'pixel_shuffle':
            self.decoder = nn.Sequential(
                _conv(code_channels, hidden, 1), _conv(hidden, hidden, 3), *(_Residual(hidden) for _ in range(blocks)),
                nn.Conv2d(hidden, channels * stride**2, 1), nn.PixelShuffle(stride),
            )  # fmt: skip
        else:
            self.decoder = nn.Sequential(
                _conv(code_channels, hidden, 1),
                nn.Upsample(scale_factor=stride, mode='nearest') if stride > 1 else nn.Identity(),
                _conv(hidden, hidden, 3), *(_Residual(hidden) for _ in range(blocks)),
                nn.Conv2d(hidden, channels, 1),
            )  # fmt: skip

    def encode(self, x: Tensor) -> Tensor:
        """Map the cut tensor to the code that crosses the link."""
        return self.encoder(x)

    def decode(self, code: Tensor) -> Tensor:
        """Map a code back to the cut tensor's shape."""
        return self.decoder(code)


class ExitHead(nn.Module):
    """A light detection head on head-side features, with a confidence in [0, 1].

    It pools its input to `target_stride`, runs a small conv trunk and predicts per-anchor class logits
    and box deltas (RetinaNet layout, decoded by `postprocess.retinanet_detections`). The confidence
    predicts whether its detections agree with the full model's; it is calibrated in training.
    """

    anchors: Tensor  # buffers: (A, 4), and the anchors of each level
    anchors_per_level: Tensor

    def __init__(
        self,
        in_channels: int,
        in_stride: int,
        feature_size: tuple[int, int],
        image_size: tuple[int, int],
        num_classes: int,
        width: int = 64,
        target_stride: int = 16,
        anchor_sizes: Sequence[int] = (24, 48, 96),
        aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
    ) -> None:
        """Build the head for an input of `in_channels` channels at `in_stride` pixels per cell."""
        super().__init__()
        factor = max(1, target_stride // in_stride)
        self.pool = nn.AvgPool2d(factor, ceil_mode=True) if factor > 1 else nn.Identity()
        self.trunk = nn.Sequential(_conv(in_channels, width, 3), _conv(width, width, 3))
        generator = AnchorGenerator((tuple(anchor_sizes),), (tuple(aspect_ratios),))
        anchors_per_cell = generator.num_anchors_per_location()[0]
        self.num_classes = num_classes
        self.cls_logits = nn.Conv2d(width, anchors_per_cell * num_classes, 3, padding=1)
        self.bbox_regression = nn.Conv2d(width, anchors_per_cell * 4, 3, padding=1)
        self.confidence = nn.Linear(width + 2, 1)
        assert self.cls_logits.bias is not None  # built with a bias
        nn.init.constant_(self.cls_logits.bias, -4.6)  # focal-loss prior of 0.01
        pooled = self.pool(torch.zeros(1, 1, *feature_size))
        anchors, per_level = fixed_anchors(generator, image_size, [pooled])
        self.register_buffer('anchors', anchors, persistent=False)
        self.register_buffer('anchors_per_level', per_level, persistent=False)

    def predict(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Class logits (N, A, C), box deltas (N, A, 4), and the summary (N, width + 2) the confidence reads."""
        hidden = self.trunk(self.pool(x))
        n = hidden.shape[0]
        cls_logits = self.cls_logits(hidden).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes)
        bbox_regression = self.bbox_regression(hidden).permute(0, 2, 3, 1).reshape(n, -1, 4)
        scores = torch.sigmoid(cls_logits).amax(dim=-1)
        summary = torch.cat(
            [hidden.mean(dim=(2, 3)), scores.amax(dim=1, keepdim=True), scores.mean(dim=1, keepdim=True)], dim=1
        )
        return cls_logits, bbox_regression, summary

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Return cls_logits (N, A, C), bbox_regression (N, A, 4), confidence (N,); the anchors are buffers."""
        cls_logits, bbox_regression, summary = self.predict(x)
        confidence = torch.sigmoid(self.confidence(summary)).squeeze(1)
        return {'cls_logits': cls_logits, 'bbox_regression': bbox_regression, 'confidence': confidence}


def _separable(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """Depthwise 3x3 and pointwise 1x1 convolutions, each with batch norm and ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
        nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
    )  # fmt: skip


class _SeparableHeadConv(nn.Module):
    """A depthwise-separable stand-in for a head's 3x3 convolution (no batch norm, as RetinaNet's head)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))

    @torch.no_grad()
    def init_from(self, conv: nn.Conv2d) -> None:
        """Start from a full 3x3 convolution: its best rank-1 factorisation per input channel (and its bias)."""
        weight = conv.weight  # (out, in, 3, 3)
        for channel in range(weight.shape[1]):
            u, s, v = torch.linalg.svd(weight[:, channel].reshape(weight.shape[0], -1), full_matrices=False)
            self.pointwise.weight[:, channel, 0, 0] = u[:, 0] * s[0]
            self.depthwise.weight[channel, 0] = v[0].reshape(3, 3)
        if conv.bias is not None:
            assert self.pointwise.bias is not None  # built with a bias
            self.pointwise.bias.copy_(conv.bias)


class PyramidExit(nn.Module):
    """An exit built for detection: a small feature pyramid on the head-side tensor and a light RetinaNet head.

    The pyramid reaches the teacher's levels (strides 8, 16, 32 of a stride-4 or stride-8 input), so the exit
    predicts on exactly the teacher's anchors: every anchor of the exit has a teacher anchor to learn from
    (dense distillation), and small objects keep a stride-8 level. The head is the teacher's in shape, with
    depthwise-separable convolutions, and can start from the teacher's weights (`init_from_teacher`). The
    confidence predicts agreement with the full model, as `ExitHead`'s.
    """

    anchors: Tensor  # buffers: the teacher's anchors (A, 4), and the anchors of each level
    anchors_per_level: Tensor

    def __init__(
        self,
        in_channels: int,
        in_stride: int,
        anchors: Tensor,
        anchors_per_level: Tensor,
        anchors_per_cell: int,
        num_classes: int,
        width: int = 48,
        convs: int = 2,
        blocks: Sequence[int] = (1, 2, 1),
    ) -> None:
        """Build for an input of `in_channels` at `in_stride`, predicting on the given anchors (three levels)."""
        super().__init__()
        if in_stride not in (4, 8) or len(blocks) != 3 or len(anchors_per_level) != 3:
            raise ValueError('a pyramid exit takes a stride-4 or stride-8 tensor and predicts on three levels')
        self.stem = _separable(in_channels, width, 2) if in_stride == 4 else _conv(in_channels, width, 1)
        self.levels = nn.ModuleList(
            nn.Sequential(*([] if level == 0 else [_separable(width, width, 2)]),
                          *(_separable(width, width) for _ in range(count)))
            for level, count in enumerate(blocks)
        )  # fmt: skip
        self.num_classes, self.anchors_per_cell = num_classes, anchors_per_cell
        self.register_buffer('anchors', anchors.clone(), persistent=False)
        self.register_buffer('anchors_per_level', anchors_per_level.clone(), persistent=False)

        def tower() -> nn.Sequential:
            return nn.Sequential(*(m for _ in range(convs) for m in (_SeparableHeadConv(width, width), nn.ReLU())))

        self.cls_tower, self.bbox_tower = tower(), tower()
        self.cls_logits = _SeparableHeadConv(width, anchors_per_cell * num_classes)
        self.bbox_regression = _SeparableHeadConv(width, anchors_per_cell * 4)
        assert self.cls_logits.pointwise.bias is not None  # built with a bias
        nn.init.constant_(self.cls_logits.pointwise.bias, -4.6)  # focal-loss prior of 0.01
        self.confidence = nn.Linear(width + 2, 1)

    def features(self, x: Tensor) -> list[Tensor]:
        """The three pyramid levels."""
        maps, x = [], self.stem(x)
        for level in self.levels:
            x = level(x)
            maps.append(x)
        return maps

    def predict(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Class logits (N, A, C), box deltas (N, A, 4) on the teacher's anchors, and the confidence's summary."""
        maps = self.features(x)
        cls_logits = torch.cat([self._flat(self.cls_logits(self.cls_tower(m)), self.num_classes) for m in maps], 1)
        bbox_regression = torch.cat([self._flat(self.bbox_regression(self.bbox_tower(m)), 4) for m in maps], 1)
        scores = torch.sigmoid(cls_logits.amax(dim=-1))  # the sigmoid is monotonic: take it of the best class only
        summary = torch.cat(
            [maps[-1].mean(dim=(2, 3)), scores.amax(dim=1, keepdim=True), scores.mean(dim=1, keepdim=True)], dim=1
        )
        return cls_logits, bbox_regression, summary

    def _flat(self, output: Tensor, per_anchor: int) -> Tensor:
        """(N, A*K, H, W) → (N, H*W*A, K): RetinaNet's anchor order."""
        n, _, height, width = output.shape
        output = output.view(n, self.anchors_per_cell, per_anchor, height, width).permute(0, 3, 4, 1, 2)
        return output.reshape(n, -1, per_anchor)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Return cls_logits (N, A, C), bbox_regression (N, A, 4), confidence (N,); the anchors are buffers."""
        cls_logits, bbox_regression, summary = self.predict(x)
        confidence = torch.sigmoid(self.confidence(summary)).squeeze(1)
        return {'cls_logits': cls_logits, 'bbox_regression': bbox_regression, 'confidence': confidence}

    def init_from_teacher(self, head: RetinaNetHead) -> bool:
        """Start the head from a torchvision RetinaNetHead's weights where the shapes allow; True if they did."""
        towers = ((self.cls_tower, head.classification_head.conv), (self.bbox_tower, head.regression_head.conv))
        predictors = ((self.cls_logits, head.classification_head.cls_logits),
                      (self.bbox_regression, head.regression_head.bbox_reg))  # fmt: skip
        pairs = [
            (ours, theirs[0])
            for tower, teacher in towers
            for ours, theirs in zip([m for m in tower if isinstance(m, _SeparableHeadConv)], teacher, strict=False)
        ]
        pairs += list(predictors)
        fits = all(
            ours.pointwise.weight.shape[:2] == theirs.weight.shape[:2] and theirs.weight.shape[2:] == (3, 3)
            for ours, theirs in pairs
        )
        if fits:
            for ours, theirs in pairs:
                ours.init_from(theirs)
        return fits
