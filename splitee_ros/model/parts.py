# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Building blocks of a splittable detector: staged backbone, bottleneck, exit head, fixed anchors."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList


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


class Bottleneck(nn.Module):
    """Injected bottleneck: the encoder ends the head with a small code, the decoder restores the tensor.

    The encoder reduces `channels` to `code_channels` and the resolution by `stride`; the decoder maps the
    code back to the cut tensor's shape, so the unchanged tail can follow it.
    """

    def __init__(self, channels: int, code_channels: int, stride: int) -> None:
        """Build encoder and decoder for a cut tensor of `channels` channels."""
        super().__init__()
        if stride not in (1, 2, 4):
            raise ValueError(f'bottleneck stride must be 1, 2 or 4, got {stride}')
        hidden = max(code_channels * 2, channels)
        self.stride = stride
        self.encoder = nn.Sequential(_conv(channels, hidden, 3, stride), nn.Conv2d(hidden, code_channels, 1))
        self.decoder = nn.Sequential(
            _conv(code_channels, hidden, 1),
            nn.Upsample(scale_factor=stride, mode='nearest') if stride > 1 else nn.Identity(),
            _conv(hidden, hidden, 3),
            nn.Conv2d(hidden, channels, 1),
        )

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
