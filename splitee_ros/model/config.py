# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Model configuration as read from YAML: family, classes, input size, split points, bottlenecks, exits."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from splitee_ros.errors import ConfigError

DRIVING_CLASSES = ('__background__', 'car', 'truck', 'bus', 'pedestrian', 'cyclist', 'traffic_sign', 'traffic_light')


# nearest: upsample first, the blocks at the cut's resolution; pixel_shuffle: the blocks at the code's, then a
# learned sub-pixel upsample (a 1x1 convolution to stride^2 times the channels, rearranged)
DECODER_UPSAMPLES = ('nearest', 'pixel_shuffle')


@dataclass(frozen=True)
class BottleneckConfig:
    """Bottleneck shape: channels of the code, the resolution reduction, and the codec's depth (`parts.Bottleneck`).

    The encoder runs on the vehicle and the decoder on the edge, so the encoder may be made leaner than the
    decoder (`encoder_hidden`, `encoder_blocks`), and the decoder may work at the code's resolution
    (`decoder_upsample: pixel_shuffle`), where a strided code's blocks cost a stride squared less.
    """

    code_channels: int = 16
    stride: int = 2
    hidden: int = 0  # 0: the larger of the cut tensor's channels and twice the code's
    blocks: int = 0  # residual blocks on each side
    encoder_hidden: int = 0  # 0: `hidden`
    encoder_blocks: int = -1  # -1: `blocks`
    decoder_upsample: str = 'nearest'  # one of DECODER_UPSAMPLES

    def __post_init__(self) -> None:
        """Name what is wrong."""
        if self.decoder_upsample not in DECODER_UPSAMPLES:
            choices = list(DECODER_UPSAMPLES)
            raise ConfigError(f'decoder_upsample must be one of {choices}, not {self.decoder_upsample!r}')


EXIT_KINDS = ('pyramid', 'single')


@dataclass(frozen=True)
class ExitConfig:
    """Exit head options: `pyramid` (`parts.PyramidExit`, on the teacher's anchors) or `single` (`parts.ExitHead`)."""

    kind: str = 'single'
    width: int = 64
    target_stride: int = 16  # single
    anchor_sizes: tuple[int, ...] = (24, 48, 96)  # single
    convs: int = 2  # pyramid: separable convolutions in each head tower
    blocks: tuple[int, ...] = (1, 2, 1)  # pyramid: blocks per level (strides 8, 16, 32)

    def __post_init__(self) -> None:
        """Name what is wrong."""
        if self.kind not in EXIT_KINDS:
            raise ConfigError(f'exit kind must be one of {list(EXIT_KINDS)}, not {self.kind!r}')


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a splittable detector."""

    family: str
    class_names: tuple[str, ...] = DRIVING_CLASSES
    input_size: tuple[int, int] | None = None  # (height, width); None: the family's default
    splits: tuple[str, ...] | None = None  # None: the family's default split points
    bottlenecks: Mapping[str, BottleneckConfig] = field(default_factory=dict)  # per split, '*' for all
    exits: Mapping[str, ExitConfig] = field(default_factory=dict)  # per split, '*' for all
    postprocess: Mapping[str, float] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # family-specific builder options
    weights: str | None = None  # our checkpoint of the whole splittable detector
    torchvision_weights: str | None = None  # a torchvision state dict for a torchvision family's model

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Build from a YAML mapping, rejecting unknown keys by name."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f'unknown model config keys {unknown}; known: {sorted(known)}')
        if 'family' not in data:
            raise ValueError('model config needs a family')
        values = dict(data)
        for key in ('class_names', 'input_size', 'splits'):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        values['bottlenecks'] = {
            split: _sub_config(BottleneckConfig, options) for split, options in (data.get('bottlenecks') or {}).items()
        }
        values['exits'] = {
            split: _sub_config(ExitConfig, options) for split, options in (data.get('exits') or {}).items()
        }
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path) -> ModelConfig:
        """Read a YAML file."""
        with open(path, encoding='utf-8') as stream:
            return cls.from_dict(yaml.safe_load(stream))

    def for_split(self, table: Mapping[str, Any], split: str) -> Any:
        """Look a split up in a per-split table, falling back to its '*' entry."""
        return table.get(split, table.get('*'))


def _sub_config(kind: type, options: Mapping[str, Any] | None):
    options = dict(options or {})
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f'unknown {kind.__name__} keys {unknown}; known: {sorted(known)}')
    for key in ('anchor_sizes', 'blocks'):
        if key in options and isinstance(options[key], list):
            options[key] = tuple(options[key])
    return kind(**options)


def load_model_config(target: str | Path) -> ModelConfig:
    """Resolve a model package folder, a model YAML file, a training config, or a family name.

    A package gives its manifest's `model` entry; a training config its `model` entry (what a leg would cost,
    before training it).

    Only a family name needs the registry of families, which loads PyTorch; a package's config does not.
    """
    path = Path(target)
    if path.is_dir():
        manifest = path / 'manifest.yaml'
        if not manifest.is_file():
            raise FileNotFoundError(f'{path} is not a model package: it has no manifest.yaml')
        with open(manifest, encoding='utf-8') as stream:
            data = dict(yaml.safe_load(stream)['model'])
        for key in ('weights', 'torchvision_weights'):
            if data.get(key):
                data[key] = str(path / data[key])
        return ModelConfig.from_dict(data)
    if path.is_file():
        with open(path, encoding='utf-8') as stream:
            data = yaml.safe_load(stream)
        if isinstance(data, dict) and isinstance(data.get('model'), dict):  # a training config
            data = data['model']
        return ModelConfig.from_dict(data)
    from splitee_ros.model.families import FAMILIES

    if str(target) in FAMILIES:
        return ModelConfig(family=str(target))
    raise FileNotFoundError(f'{target} is neither a detector family ({", ".join(sorted(FAMILIES))}) nor a file')
