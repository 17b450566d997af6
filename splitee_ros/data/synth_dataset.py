# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""`splitee data synth`: synthetic drives written as a COCO data set and a rosbag2 of the camera."""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from splitee_ros.data.bag import CameraFrame, write_camera_bag
from splitee_ros.data.coco import categories, write_json
from splitee_ros.data.synth import CATEGORIES, CONDITION_SCHEDULE, HARD_CONDITIONS, Camera, Drive, DriveSpec, Frame

EPOCH_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z: a fixed clock, so that the same seed gives the same bag
SMALL_HEIGHT = 24  # pixels: the "small objects" of the difficulty report


@dataclass(frozen=True)
class SynthConfig:
    """What `splitee data synth` makes."""

    seed: int = 0
    drives: int = 4
    frames: int = 50  # per drive
    fps: float = 10.0
    image_format: str = 'png'
    bag_storage: str | None = 'mcap'  # None: no bag
    condition: str | None = None  # None: drawn per drive

    def drive_specs(self) -> list[DriveSpec]:
        """The drives, each with a seed of its own derived from the data set's seed.

        Conditions follow a seeded shuffle of CONDITION_SCHEDULE, repeated, so that every 20 drives hold
        the same mix (half of them night, fog or rain), unless one condition is asked for.
        """
        seeds = np.random.SeedSequence(self.seed).generate_state(self.drives)
        schedule = list(np.random.default_rng([self.seed, 7]).permutation(CONDITION_SCHEDULE))
        return [
            DriveSpec.sample(int(seed), self.frames, self.fps, self.condition or str(schedule[i % len(schedule)]))
            for i, seed in enumerate(seeds)
        ]

    def stamp_ns(self, drive: int, frame: int) -> int:
        """Capture time of a frame: drives follow each other on one clock, a second apart."""
        return EPOCH_NS + round(10**9 * (drive * (self.frames / self.fps + 1.0) + frame / self.fps))


def _render_drive(spec: DriveSpec) -> list[Frame]:
    drive = Drive(spec)
    return [drive.render(index) for index in range(spec.frames)]


def _frames(config: SynthConfig, workers: int) -> Iterator[tuple[int, Frame]]:
    """Every frame of every drive, in order; drives render in `workers` processes (same pixels as in one)."""
    specs = config.drive_specs()
    if workers <= 1 or len(specs) <= 1:
        drives: Iterator[list[Frame]] = map(_render_drive, specs)
        yield from ((i, frame) for i, frames in enumerate(drives) for frame in frames)
        return
    with multiprocessing.get_context('spawn').Pool(min(workers, len(specs))) as pool:
        for drive_index, frames in enumerate(pool.imap(_render_drive, specs)):
            yield from ((drive_index, frame) for frame in frames)


def make_synthetic_dataset(out: str | Path, config: SynthConfig, workers: int | None = None) -> dict:
    """Render the drives into `out`: images/, annotations.json (COCO) and camera.bag/ (rosbag2).

    `workers` processes render drives side by side (default: one per CPU core).

    Returns a summary of what was made, including the difficulty measures (hard conditions, small objects).
    """
    if config.image_format not in ('png', 'jpg'):
        raise ValueError(f'image format must be png or jpg, not {config.image_format!r}')
    out = Path(out)
    (out / 'images').mkdir(parents=True, exist_ok=True)
    camera = Camera()
    images: list[dict[str, Any]] = []  # COCO records
    annotations: list[dict[str, Any]] = []
    bag_frames: list[CameraFrame] = []
    category_id = {c['name']: c['id'] for c in categories()}
    for drive_index, frame in _frames(config, (os.cpu_count() or 1) if workers is None else workers):
        image_id = len(images) + 1
        file_name = f'images/d{drive_index:03d}_f{frame.index:04d}.{config.image_format}'
        parameters = (
            [cv2.IMWRITE_PNG_COMPRESSION, 3] if config.image_format == 'png' else [cv2.IMWRITE_JPEG_QUALITY, 95]
        )
        if not cv2.imwrite(str(out / file_name), frame.image, parameters):
            raise OSError(f'could not write {out / file_name}')
        stamp = config.stamp_ns(drive_index, frame.index)
        images.append({
            'id': image_id, 'file_name': file_name, 'width': camera.width, 'height': camera.height,
            'drive': drive_index, 'frame': frame.index, 'condition': frame.condition,
            'stamp': {'sec': stamp // 10**9, 'nanosec': stamp % 10**9},
        })  # fmt: skip
        for box in frame.boxes:
            width, height = box.x1 - box.x0, box.y1 - box.y0
            annotations.append({
                'id': len(annotations) + 1, 'image_id': image_id, 'category_id': category_id[box.category],
                'bbox': [round(box.x0, 2), round(box.y0, 2), round(width, 2), round(height, 2)],
                'area': round(width * height, 2), 'iscrowd': int(box.crowd),
                'track_id': drive_index * 100000 + box.track_id, 'distance': round(box.distance, 2),
                'visible': round(box.visible, 3), 'transmission': round(box.transmission, 3),
                'truncated': box.truncated,
            })  # fmt: skip
        if config.bag_storage:
            bag_frames.append(CameraFrame(stamp, frame.image))
    dataset = {
        'info': {'description': 'splitee_ros synthetic drives', 'config': asdict(config)},
        'images': images, 'annotations': annotations, 'categories': categories(),
    }  # fmt: skip
    write_json(out / 'annotations.json', dataset)
    if config.bag_storage:
        write_camera_bag(out / 'camera.bag', bag_frames, camera.intrinsics(), config.bag_storage)
    return summarize(dataset)


def summarize(dataset: dict) -> dict:
    """Counts and difficulty measures of a COCO data set made by `make_synthetic_dataset`."""
    images, annotations = dataset['images'], dataset['annotations']
    conditions = Counter(image.get('condition', 'unknown') for image in images)
    scored = [a for a in annotations if not a['iscrowd']]
    names = {c['id']: c['name'] for c in dataset['categories']}
    return {
        'images': len(images),
        'objects': len(scored),
        'ignored_regions': len(annotations) - len(scored),
        'per_category': {name: sum(1 for a in scored if names[a['category_id']] == name) for name in CATEGORIES},
        'per_condition': dict(sorted(conditions.items())),
        'hard_condition_fraction': sum(conditions[c] for c in HARD_CONDITIONS) / max(len(images), 1),
        'small_object_fraction': sum(1 for a in scored if a['bbox'][3] < SMALL_HEIGHT) / max(len(scored), 1),
        'occluded_fraction': sum(1 for a in scored if a.get('visible', 1.0) < 0.9) / max(len(scored), 1),
    }
