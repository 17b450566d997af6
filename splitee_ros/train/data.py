# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Training and evaluation data: COCO data sets (made on demand for synthetic drives) as torch tensors."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from splitee_ros.data.coco import CocoDataset
from splitee_ros.data.synth_dataset import SynthConfig, make_synthetic_dataset
from splitee_ros.runtime.preprocess import to_model_input
from splitee_ros.train.registry import Registry

SOURCES: Registry = Registry('data source')


@SOURCES.register('synth')
def synthetic_source(options: Mapping[str, Any], cache: Path) -> Path:
    """Synthetic drives, made once into `cache` (remade when the options change); returns the COCO file."""
    config = SynthConfig(**{'bag_storage': None, 'image_format': 'jpg', **options})
    annotation_file = cache / 'annotations.json'
    if annotation_file.is_file() and json.loads(annotation_file.read_text())['info']['config'] == _as_json(config):
        return annotation_file
    make_synthetic_dataset(cache, config)
    return annotation_file


@SOURCES.register('coco')
def coco_source(options: Mapping[str, Any], cache: Path) -> Path:
    """An existing COCO data set: `annotations` is the JSON file (images relative to it or to `images`)."""
    path = Path(options['annotations'])
    if not path.is_file():
        raise FileNotFoundError(f'COCO annotation file {path} does not exist')
    return path


def _as_json(config: SynthConfig) -> dict:
    return json.loads(json.dumps(config.__dict__))


def open_dataset(spec: Mapping[str, Any], class_names: Sequence[str], cache: Path) -> CocoDataset:
    """Open the data set that `spec` ({source: options}) names, making it if it is synthetic."""
    if len(spec) != 1:
        raise ValueError(f'a data set names exactly one source ({", ".join(SOURCES.names())}), got {list(spec)}')
    ((source, options),) = spec.items()
    annotation_file = SOURCES[source](options or {}, cache)
    return CocoDataset(annotation_file, class_names, image_root=(options or {}).get('images'))


def to_input(image_bgr: np.ndarray, input_size: tuple[int, int]) -> tuple[torch.Tensor, tuple[float, float]]:
    """BGR uint8 image → float RGB tensor (3, H, W) in [0, 1] at the model's input size, and (sy, sx) scales."""
    height, width = image_bgr.shape[:2]
    tensor = torch.from_numpy(to_model_input(image_bgr, input_size))
    return tensor, (input_size[0] / height, input_size[1] / width)


class DetectionDataset(Dataset):
    """A COCO data set as (image tensor, target) pairs; training adds flips and photometric jitter."""

    def __init__(self, coco: CocoDataset, input_size: tuple[int, int], augment: bool = False, seed: int = 0) -> None:
        """Serve `coco` at `input_size`."""
        self.coco = coco
        height, width = input_size
        self.input_size = (height, width)
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        """Number of images."""
        return len(self.coco)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Image tensor and {'boxes', 'labels', 'crowd', 'image_id'} in input pixels."""
        image, (scale_y, scale_x) = to_input(self.coco.image(index), self.input_size)
        target = self.coco.target(index)
        boxes = torch.from_numpy(target.boxes * np.array([scale_x, scale_y, scale_x, scale_y], np.float32))
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            if rng.random() < 0.5:
                image = image.flip(-1)
                boxes = torch.stack(
                    [self.input_size[1] - boxes[:, 2], boxes[:, 1], self.input_size[1] - boxes[:, 0], boxes[:, 3]], 1
                )
            gain, bias = float(rng.uniform(0.75, 1.25)), float(rng.uniform(-0.08, 0.08))
            image = (image * gain + bias).clamp_(0, 1)
        target_tensors = {
            'boxes': boxes.reshape(-1, 4),
            'labels': torch.from_numpy(target.labels),
            'crowd': torch.from_numpy(target.crowd),
            'image_id': torch.tensor(self.coco.images[index]['id']),
        }
        return image, target_tensors


def collate(batch):
    """Stack images; keep targets as a list."""
    images, targets = zip(*batch, strict=True)
    return torch.stack(images), list(targets)
