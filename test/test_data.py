# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Synthetic drives, COCO and KITTI input, camera bags."""

import filecmp
import json

import cv2
import numpy as np
import pytest

from splitee_ros.cli import main
from splitee_ros.data.bag import read_camera_frames
from splitee_ros.data.coco import CocoDataset, kitti_to_coco
from splitee_ros.data.synth import CATEGORIES, CONDITIONS, Drive, DriveSpec
from splitee_ros.data.synth_dataset import SynthConfig, make_synthetic_dataset, summarize
from splitee_ros.model.config import DRIVING_CLASSES


def files_of(folder):
    return sorted(path.relative_to(folder) for path in folder.rglob('*') if path.is_file())


def test_same_seed_gives_identical_bytes(tmp_path):
    config = SynthConfig(seed=11, drives=2, frames=3, fps=5)
    make_synthetic_dataset(tmp_path / 'a', config)
    make_synthetic_dataset(tmp_path / 'b', config)
    names = files_of(tmp_path / 'a')
    assert names == files_of(tmp_path / 'b')
    assert len(names) == 2 * 3 + 1 + 2  # images, annotations.json, bag file and its metadata
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / 'a', tmp_path / 'b', [str(n) for n in names], shallow=False)
    assert mismatch == [] and errors == []
    make_synthetic_dataset(tmp_path / 'c', SynthConfig(seed=12, drives=2, frames=3, fps=5, bag_storage=None))
    assert (tmp_path / 'a/images/d000_f0000.png').read_bytes() != (tmp_path / 'c/images/d000_f0000.png').read_bytes()


@pytest.mark.parametrize('condition', CONDITIONS)
def test_boxes_lie_on_the_drawn_objects(condition):
    """Each box covers pixels that the object changed; outside the boxes the objects changed (almost) nothing."""
    drive = Drive(DriveSpec.sample(seed=31, frames=20, fps=10, condition=condition))
    checked = 0
    for index in range(0, 20, 4):
        frame, plate = drive.render(index), drive.render(index, with_objects=False)
        changed = np.abs(frame.image.astype(np.int16) - plate.image.astype(np.int16)).max(axis=2) > 6
        near_boxes = np.zeros(changed.shape, bool)
        for box in frame.boxes:
            x0, y0, x1, y1 = int(box.x0), int(box.y0), int(np.ceil(box.x1)), int(np.ceil(box.y1))
            near_boxes[max(y0 - 4, 0) : y1 + 4, max(x0 - 4, 0) : x1 + 4] = True
            clear = box.visible > 0.9 and box.transmission > 0.3 and box.y1 - box.y0 >= 12
            if clear and not condition.startswith('night'):
                # an unlit object in the dark may be invisible, as it is on a real camera; elsewhere it must show
                assert changed[y0:y1, x0:x1].mean() > 0.3, (box.category, box)
                checked += 1
        outside = changed[~near_boxes].mean()
        # glows of lamps and tail lights reach beyond the boxes at night
        assert outside < (0.03 if condition.startswith('night') else 0.005), outside
    assert checked > 5 or condition.startswith('night')


def test_difficulty_of_a_held_out_set():
    config = SynthConfig(seed=2027, drives=20, frames=1)
    dataset = {
        'images': [],
        'annotations': [],
        'categories': [{'id': i + 1, 'name': n} for i, n in enumerate(CATEGORIES)],
    }
    for drive_index, spec in enumerate(config.drive_specs()):
        frame = Drive(spec).render(0)
        dataset['images'].append({'id': drive_index, 'condition': frame.condition})
        for box in frame.boxes:
            dataset['annotations'].append({
                'image_id': drive_index, 'category_id': CATEGORIES.index(box.category) + 1, 'iscrowd': int(box.crowd),
                'bbox': [box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0], 'visible': box.visible,
            })  # fmt: skip
    summary = summarize(dataset)
    assert summary['hard_condition_fraction'] == 0.5
    assert summary['small_object_fraction'] >= 0.25
    assert summary['occluded_fraction'] > 0.05
    assert all(count > 0 for count in summary['per_category'].values()), summary['per_category']


def test_coco_and_bag_agree(tmp_path, capsys):
    assert main(['data', 'synth', '--out', str(tmp_path), '--seed', '3', '--drives', '2', '--frames', '4']) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['images'] == 8
    dataset = CocoDataset(tmp_path / 'annotations.json', DRIVING_CLASSES)
    assert len(dataset) == 8
    frames = list(read_camera_frames(tmp_path / 'camera.bag'))
    assert len(frames) == 8
    for index, frame in enumerate(frames):
        entry = dataset.images[index]
        assert frame.stamp_ns == entry['stamp']['sec'] * 10**9 + entry['stamp']['nanosec']
        np.testing.assert_array_equal(frame.image, dataset.image(index))
    stamps = [frame.stamp_ns for frame in frames]
    assert np.allclose(np.diff(stamps)[:3], 1e8)  # 10 fps within a drive
    targets = [dataset.target(i) for i in range(len(dataset))]
    assert sum(len(t.labels) for t in targets) == summary['objects'] + summary['ignored_regions']
    assert {DRIVING_CLASSES[label] for t in targets for label in t.labels} <= set(CATEGORIES)


def test_kitti_labels_convert_to_coco(tmp_path, capsys):
    (tmp_path / 'image_2').mkdir()
    (tmp_path / 'label_2').mkdir()
    for name in ('000000', '000001'):
        cv2.imwrite(str(tmp_path / 'image_2' / f'{name}.png'), np.zeros((375, 1242, 3), np.uint8))
    (tmp_path / 'label_2' / '000000.txt').write_text(
        'Car 0.00 0 -1.58 587.01 173.33 614.12 200.12 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59\n'
        'Van 0.50 2 -1.58 100.00 150.00 200.00 220.00 2.0 1.8 4.0 1.0 1.7 20.0 -1.5\n'
        'DontCare -1 -1 -10 800.00 160.00 825.00 177.00 -1 -1 -1 -1000 -1000 -1000 -10\n'
    )
    (tmp_path / 'label_2' / '000001.txt').write_text(
        'Pedestrian 0.00 0 -0.20 712.40 143.00 810.73 307.92 1.89 0.48 1.20 1.84 1.47 8.41 0.01\n'
        'Misc 0.00 0 -0.20 10.0 10.0 20.0 20.0 1 1 1 1 1 1 0.01\n'
    )
    out = tmp_path / 'kitti.json'
    assert main(['data', 'kitti2coco', str(tmp_path), '--out', str(out)]) == 0
    assert '2 images' in capsys.readouterr().out
    dataset = CocoDataset(out, DRIVING_CLASSES, image_root=tmp_path)
    first, second = dataset.target(0), dataset.target(1)
    assert [DRIVING_CLASSES[label] for label in first.labels[~first.crowd]] == ['car', 'car']
    assert first.crowd.sum() == len(CATEGORIES)  # DontCare ignores every category
    np.testing.assert_allclose(first.boxes[0], [587.01, 173.33, 614.12, 200.12])
    assert [DRIVING_CLASSES[label] for label in second.labels] == ['pedestrian']
    assert dataset.image(1).shape == (375, 1242, 3)

    (tmp_path / 'label_2' / '000001.txt').write_text('Car 0.0 0\n')
    with pytest.raises(ValueError, match=r'000001\.txt:1: a KITTI label has 15 fields'):
        kitti_to_coco(tmp_path)


def test_pulse_train_is_the_box_filtered_step():
    """A pixel's value is the fraction of it that the pattern covers, so fine patterns average, never alias."""
    from splitee_ros.data.texture import pulse_train

    x = np.linspace(0, 10, 20001)
    for footprint in (0.001, 0.3, 2.5, 40.0):
        value = pulse_train(x, period=1.0, width=0.25, footprint=footprint)
        assert value.min() >= -1e-3 and value.max() <= 1 + 1e-3  # float32 arithmetic
        assert abs(float(value.mean()) - 0.25) < 0.01  # the duty cycle on average, at any footprint
    sharp = pulse_train(np.array([0.1, 0.5]), 1.0, 0.25, 1e-4)
    np.testing.assert_allclose(sharp, [1.0, 0.0], atol=1e-3)
    assert np.ptp(pulse_train(x, 1.0, 0.25, 40.0)) < 0.05  # much finer than a pixel: flat


def test_noise_fades_where_its_features_are_smaller_than_a_pixel():
    from splitee_ros.data.texture import NoiseField

    field = NoiseField(np.random.default_rng(0), features=(0.05,), amplitudes=(1.0,))
    a, b = np.meshgrid(np.linspace(0, 3, 64), np.linspace(0, 3, 64))
    assert field.sample(a, b, 0.005).std() > 0.3  # ten pixels a feature: full contrast
    assert not field.sample(a, b, 0.06).any()  # under a pixel a feature: gone, not aliased


def test_texture_not_noise_makes_the_frames_hard_for_jpeg():
    """Without sensor noise a frame still costs JPEG most of its bytes; the noise only adds to the texture."""
    sizes = {True: [], False: []}
    for seed, condition in enumerate(('day', 'dusk', 'rain')):
        drive = Drive(DriveSpec.sample(seed=40 + seed, frames=2, fps=10, condition=condition))
        for noise in sizes:
            frame = drive.render(1, sensor_noise=noise)
            sizes[noise].append(len(cv2.imencode('.jpg', frame.image, [cv2.IMWRITE_JPEG_QUALITY, 50])[1]))
        clean, noisy = drive.render(1, sensor_noise=False).image, drive.render(1).image
        assert np.abs(clean.astype(np.int16) - noisy.astype(np.int16)).mean() < 6  # the same picture
    assert np.mean(sizes[False]) > 14_000  # a flat-shaded frame took about 17 KB with its noise
    assert np.mean(sizes[False]) > 0.5 * np.mean(sizes[True])


def test_the_road_texture_moves_with_the_world():
    """Grain belongs to the road: a frame later, the same patch of road is seen nearer, where the car moved it."""
    drive = Drive(DriveSpec.sample(seed=5, frames=3, fps=10, condition='day'))
    camera, step = drive.camera, drive.spec.ego_speed / drive.spec.fps
    first, second = (drive.render(i, with_objects=False, sensor_noise=False).image.mean(axis=2) for i in (0, 1))

    def road_row(image, distance):  # the ground across the road at `distance` ahead, 2 m either side of centre
        v = camera.horizon + camera.focal * camera.mount_height / distance - 0.5
        u = camera.width / 2 + camera.focal * np.linspace(-2, 2, 200) / distance - 0.5
        return cv2.remap(image.astype(np.float32), u[None].astype(np.float32),
                         np.full((1, 200), v, np.float32), cv2.INTER_LINEAR)[0]  # fmt: skip

    def correlation(a, b):
        return float(np.corrcoef(a - a.mean(), b - b.mean())[0, 1])

    distance = 6.0
    moved = correlation(road_row(first, distance), road_row(second, distance - step))
    stayed = correlation(road_row(first, distance), road_row(second, distance))
    assert moved > 0.8 and moved > stayed + 0.3, (moved, stayed)
