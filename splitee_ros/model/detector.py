# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The splittable detector: preprocessing, backbone stages, neck and detection head, split into head and tail."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from splitee_ros.errors import UnknownNameError
from splitee_ros.model.config import BottleneckConfig, ExitConfig
from splitee_ros.model.parts import Bottleneck, ExitHead, PyramidExit, StagedBackbone
from splitee_ros.model.postprocess import Detections, PostprocessConfig, postprocess


@dataclass(frozen=True)
class SplitPoint:
    """A named place to cut the backbone: the head runs the first `stage_index` stages."""

    name: str
    stage_index: int
    shape: tuple[int, int, int]  # (channels, height, width) of the tensor at the cut, batch 1
    stride: int  # input pixels per cell of that tensor


class Normalize(nn.Module):
    """Per-channel normalisation of a float image in [0, 1] (N, 3, H, W)."""

    mean: Tensor  # buffers (1, 3, 1, 1)
    std: Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Store mean and standard deviation per channel."""
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: Tensor) -> Tensor:
        """Return (image - mean) / std."""
        return (image - self.mean) / self.std


class SplittableDetector(nn.Module):
    """Normalise → backbone stages → neck and detection head, with named split points.

    `neck_head` maps the backbone's returned features to the raw outputs of kind `output_kind` (see
    `postprocess.detections_from_outputs`). Per split point there may be a bottleneck and an exit head.
    """

    def __init__(
        self,
        family: str,
        normalize: Normalize,
        backbone: StagedBackbone,
        neck_head: nn.Module,
        output_kind: str,
        input_size: tuple[int, int],
        class_names: Sequence[str],
        split_stages: Mapping[str, int],
        postprocess: PostprocessConfig,
    ) -> None:
        """Assemble the detector and measure the tensor shape at every split point."""
        super().__init__()
        self.family = family
        self.normalize = normalize
        self.backbone = backbone
        self.neck_head = neck_head
        self.output_kind = output_kind
        height, width = input_size
        self.input_size = (height, width)
        self.class_names = list(class_names)
        self.postprocess_config = postprocess
        self.bottlenecks = nn.ModuleDict()
        self.exits = nn.ModuleDict()
        self.split_points = self._measure_split_points(split_stages)

    def _measure_split_points(self, split_stages: Mapping[str, int]) -> dict[str, SplitPoint]:
        if not split_stages:
            raise ValueError(f'{self.family}: a detector needs at least one split point')
        duplicates = sorted({index for index in split_stages.values() if list(split_stages.values()).count(index) > 1})
        if duplicates:
            same = [name for name, index in split_stages.items() if index in duplicates]
            raise ValueError(f'{self.family}: split points {same} cut at the same place')
        for name, index in split_stages.items():
            if not self.backbone.crosses_one_tensor(index):
                raise ValueError(
                    f'{self.family}: split {name!r} at stage {index} would cut a skip connection to the neck'
                )
        shapes: dict[int, tuple[int, ...]] = {}
        self.backbone.eval()
        x = self.normalize(torch.zeros(1, 3, *self.input_size))
        with torch.no_grad():
            for index in range(max(split_stages.values())):
                x = self.backbone.stages[index](x)
                shapes[index + 1] = tuple(x.shape[1:])
        points = {}
        for name, index in sorted(split_stages.items(), key=lambda item: item[1]):
            channels, height, width = shapes[index]
            points[name] = SplitPoint(name, index, (channels, height, width), self.input_size[0] // height)
        return points

    @property
    def num_classes(self) -> int:
        """Number of classes, background included."""
        return len(self.class_names)

    def split(self, name: str) -> SplitPoint:
        """Return the split point called `name`, with a clear error listing the known ones."""
        if name not in self.split_points:
            raise UnknownNameError(f'{self.family} has no split point {name!r}; known: {", ".join(self.split_points)}')
        return self.split_points[name]

    def add_bottleneck(self, split: str, config: BottleneckConfig) -> Bottleneck:
        """Inject a bottleneck at `split`."""
        channels, height, width = self.split(split).shape
        stride = config.stride
        if stride not in (1, 2, 4) or config.code_channels < 1:
            raise ValueError(f'split {split!r}: bottleneck needs code_channels >= 1 and stride 1, 2 or 4')
        if height % stride or width % stride:
            raise ValueError(f'split {split!r}: {height}x{width} is not divisible by bottleneck stride {stride}')
        bottleneck = Bottleneck(channels, config)
        self.bottlenecks[split] = bottleneck
        return bottleneck

    def bottleneck_at(self, split: str) -> Bottleneck:
        """The bottleneck at `split`, typed (a ModuleDict's items are typed Module)."""
        bottleneck = self.bottlenecks[split]
        assert isinstance(bottleneck, Bottleneck)  # only add_bottleneck fills `bottlenecks`
        return bottleneck

    def exit_at(self, split: str) -> ExitHead | PyramidExit:
        """The exit head at `split`, typed (a ModuleDict's items are typed Module)."""
        exit_head = self.exits[split]
        assert isinstance(exit_head, (ExitHead, PyramidExit))  # only add_exit fills `exits`
        return exit_head

    def add_exit(self, split: str, config: ExitConfig) -> nn.Module:
        """Attach an exit head of `config`'s kind to the features at `split`."""
        self.__dict__.pop('_constants', None)  # the exit brings anchors of its own
        point = self.split(split)
        channels, height, width = point.shape
        if config.kind == 'single':
            self.exits[split] = ExitHead(
                channels, point.stride, (height, width), self.input_size, self.num_classes, width=config.width,
                target_stride=config.target_stride, anchor_sizes=config.anchor_sizes,
            )  # fmt: skip
            return self.exits[split]
        anchors, per_level = (
            getattr(self.neck_head, 'anchors', None),
            getattr(self.neck_head, 'anchors_per_level', None),
        )
        if self.output_kind != 'retinanet' or anchors is None or per_level is None or len(per_level) != 3:
            raise ValueError(f"{self.family}: a pyramid exit predicts on a three-level RetinaNet head's anchors")
        finest = (height * point.stride // 8) * (width * point.stride // 8)  # cells at stride 8
        exit_head = PyramidExit(
            channels, point.stride, anchors, per_level, int(per_level[0]) // finest, self.num_classes,
            width=config.width, convs=config.convs, blocks=config.blocks,
        )  # fmt: skip
        exit_head.init_from_teacher(self.neck_head.head)
        self.exits[split] = exit_head
        return exit_head

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """Run the whole, unsplit model on a float image (N, 3, H, W) in [0, 1]; return raw outputs."""
        return self.neck_head(self.backbone.features(self.normalize(image)))

    def head(self, split: str, bottleneck: bool = True, exits: bool = True) -> HeadModel:
        """The vehicle side of `split`."""
        return HeadModel(self, self.split(split), bottleneck, exits)

    def tail(self, split: str, bottleneck: bool = True) -> TailModel:
        """The edge side of `split`."""
        return TailModel(self, self.split(split), bottleneck)

    @functools.cached_property
    def _constants(self) -> dict[str, np.ndarray]:
        return self.constants()

    def constants(self) -> dict[str, np.ndarray]:
        """Fixed tensors that post-processing needs besides the graph outputs (anchors of tail and exits)."""
        constants = {}
        for prefix, module in (('', self.neck_head), *((f'exit.{name}.', head) for name, head in self.exits.items())):
            for key in ('anchors', 'anchors_per_level'):
                if hasattr(module, key):
                    constants[prefix + key] = getattr(module, key).detach().cpu().numpy()
        return constants

    def detections(
        self, outputs: Mapping[str, np.ndarray], frame_size: tuple[int, int] | None = None, exit_name: str | None = None
    ) -> list[Detections]:
        """Post-process raw tail outputs, or an exit's outputs from a head, into detections (numpy).

        Boxes are in the model's input pixels, or in the camera frame's if `frame_size` (height, width) is given.
        """
        return postprocess(
            self.output_kind, outputs, self._constants, self.input_size, self.postprocess_config, exit_name, frame_size
        )


EXIT_OUTPUTS = ('cls_logits', 'bbox_regression', 'confidence')


class HeadModel(nn.Module):
    """Vehicle side: image → code (the cut tensor, or its bottleneck encoding) and the exits at or before the cut."""

    def __init__(self, detector: SplittableDetector, point: SplitPoint, bottleneck: bool, exits: bool) -> None:
        """Share the detector's modules up to `point`."""
        super().__init__()
        self.normalize = detector.normalize
        self.stages = detector.backbone.stages[: point.stage_index]
        self.encoder = (
            detector.bottleneck_at(point.name).encoder if bottleneck and point.name in detector.bottlenecks else None
        )
        self.exit_stages = {
            other.stage_index - 1: name
            for name, other in detector.split_points.items()
            if exits and name in detector.exits and other.stage_index <= point.stage_index
        }
        self.exits = nn.ModuleDict({name: detector.exits[name] for name in self.exit_stages.values()})

    @property
    def output_names(self) -> list[str]:
        """Names of the outputs in the order of `forward`'s dict (also the ONNX output names)."""
        names = ['code']
        for name in self.exit_stages.values():
            names += [f'exit.{name}.{key}' for key in EXIT_OUTPUTS]
        return names

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """Return {'code': ..., 'exit.<split>.<output>': ...}."""
        x = self.normalize(image)
        outputs: dict[str, Tensor] = {}
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index in self.exit_stages:
                name = self.exit_stages[index]
                for key, value in self.exits[name](x).items():
                    outputs[f'exit.{name}.{key}'] = value
        return {'code': self.encoder(x) if self.encoder is not None else x, **outputs}


class TailModel(nn.Module):
    """Edge side: code → raw detector outputs."""

    def __init__(self, detector: SplittableDetector, point: SplitPoint, bottleneck: bool) -> None:
        """Share the detector's modules after `point`."""
        super().__init__()
        self.backbone = detector.backbone.suffix(point.stage_index)
        self.neck_head = detector.neck_head
        self.decoder = (
            detector.bottleneck_at(point.name).decoder if bottleneck and point.name in detector.bottlenecks else None
        )

    def forward(self, code: Tensor) -> dict[str, Tensor]:
        """Return the detector's raw outputs."""
        x = self.decoder(code) if self.decoder is not None else code
        return self.neck_head(self.backbone.features(x))
