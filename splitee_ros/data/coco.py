# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""COCO-format detection data sets: reading any of them, and converting KITTI object labels to one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from splitee_ros.data.synth import CATEGORIES

SUPERCATEGORIES = {
    'car': 'vehicle', 'truck': 'vehicle', 'bus': 'vehicle', 'pedestrian': 'person', 'cyclist': 'person',
    'traffic_sign': 'outdoor', 'traffic_light': 'outdoor',
}  # fmt: skip
# KITTI object types → our categories; DontCare regions become crowd (ignored) annotations, Misc is dropped
KITTI_TYPES = {
    'Car': 'car', 'Van': 'car', 'Truck': 'truck', 'Tram': 'bus', 'Pedestrian': 'pedestrian',
    'Person_sitting': 'pedestrian', 'Cyclist': 'cyclist',
}  # fmt: skip


def categories() -> list[dict]:
    """COCO categories, ids 1.. in the order of the model's class names."""
    return [{'id': i + 1, 'name': name, 'supercategory': SUPERCATEGORIES[name]} for i, name in enumerate(CATEGORIES)]


def write_json(path: Path, data: dict) -> None:
    """Write JSON deterministically (sorted keys, fixed separators), so equal data gives equal bytes."""
    path.write_text(json.dumps(data, sort_keys=True, separators=(',', ':')) + '\n')


@dataclass(frozen=True)
class Target:
    """Ground truth of one image: boxes (N, 4) x1 y1 x2 y2, labels (N,) model class indices, crowd flags."""

    boxes: np.ndarray
    labels: np.ndarray
    crowd: np.ndarray


class CocoDataset:
    """A COCO detection data set: images on disk, annotations in one JSON file.

    Categories are matched to the model's class names by name; annotations of other categories are
    dropped, so any COCO data set with (some of) these classes can be used.
    """

    def __init__(self, annotation_file: str | Path, class_names: Sequence[str], image_root: str | Path | None = None):
        """Read the annotation file; images are found relative to `image_root` (default: the file's folder)."""
        self.annotation_file = Path(annotation_file)
        if not self.annotation_file.is_file():
            raise FileNotFoundError(f'COCO annotation file {self.annotation_file} does not exist')
        self.data = json.loads(self.annotation_file.read_text())
        self.image_root = Path(image_root) if image_root else self.annotation_file.parent
        self.class_names = list(class_names)
        self.images = sorted(self.data['images'], key=lambda image: image['id'])
        label_of = {
            c['id']: self.class_names.index(c['name']) for c in self.data['categories'] if c['name'] in self.class_names
        }
        self.category_of_label = {label: category for category, label in label_of.items()}
        self._targets: dict[int, list] = {image['id']: [] for image in self.images}
        for annotation in self.data['annotations']:
            if annotation['category_id'] in label_of:
                self._targets[annotation['image_id']].append((annotation, label_of[annotation['category_id']]))

    def __len__(self) -> int:
        """Number of images."""
        return len(self.images)

    def image(self, index: int) -> np.ndarray:
        """The BGR image of entry `index`."""
        path = self.image_root / self.images[index]['file_name']
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f'image {path} is missing or unreadable')
        return image

    def target(self, index: int) -> Target:
        """Ground truth of entry `index`."""
        pairs = self._targets[self.images[index]['id']]
        boxes = np.array([[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2], a['bbox'][1] + a['bbox'][3]]
                          for a, _ in pairs], np.float32).reshape(-1, 4)  # fmt: skip
        labels = np.array([label for _, label in pairs], np.int64)
        crowd = np.array([bool(a.get('iscrowd', 0)) for a, _ in pairs], bool)
        return Target(boxes, labels, crowd)


def kitti_to_coco(kitti_root: str | Path, image_folder: str = 'image_2', label_folder: str = 'label_2') -> dict:
    """Convert KITTI object labels (`<root>/label_2/*.txt`, images in `<root>/image_2`) to a COCO dict.

    File names are relative to `kitti_root`. Van counts as car and Tram as bus; DontCare regions become
    crowd annotations (ignored by COCO evaluation); Misc is dropped. KITTI's truncation and occlusion
    levels are kept as attributes.
    """
    root = Path(kitti_root)
    label_files = sorted((root / label_folder).glob('*.txt'))
    if not label_files:
        raise FileNotFoundError(f'no KITTI label files in {root / label_folder}')
    category_id = {c['name']: c['id'] for c in categories()}
    images: list[dict[str, Any]] = []  # COCO records
    annotations: list[dict[str, Any]] = []
    for image_id, label_file in enumerate(label_files, start=1):
        image_path = next((root / image_folder).glob(label_file.stem + '.*'), None)
        if image_path is None:
            raise FileNotFoundError(f'no image for {label_file} in {root / image_folder}')
        image = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f'image {image_path} is unreadable')
        images.append({'id': image_id, 'file_name': str(image_path.relative_to(root)),
                       'height': image.shape[0], 'width': image.shape[1]})  # fmt: skip
        for line_number, line in enumerate(label_file.read_text().splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 15:
                raise ValueError(f'{label_file}:{line_number}: a KITTI label has 15 fields, this has {len(fields)}')
            kind = fields[0]
            x1, y1, x2, y2 = (float(v) for v in fields[4:8])
            if kind == 'DontCare':  # ignored for every category
                names, crowd = list(category_id), 1
            elif kind in KITTI_TYPES:
                names, crowd = [KITTI_TYPES[kind]], 0
            else:
                continue
            for name in names:
                annotations.append({
                    'id': len(annotations) + 1, 'image_id': image_id, 'category_id': category_id[name],
                    'bbox': [x1, y1, x2 - x1, y2 - y1], 'area': (x2 - x1) * (y2 - y1), 'iscrowd': crowd,
                    'truncated': float(fields[1]), 'occluded': int(fields[2]),
                })  # fmt: skip
    return {'info': {'description': f'KITTI objects from {root}'}, 'images': images, 'annotations': annotations,
            'categories': categories()}  # fmt: skip
