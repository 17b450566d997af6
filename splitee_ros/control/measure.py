# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""`splitee profile`: measure a model package's stage times and bytes on this device into `profile.yaml`."""

from __future__ import annotations

import platform
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import cv2

from splitee_ros.codec.frame import FrameDecoder, encode_frame
from splitee_ros.control.profile import DeviceProfile, Distribution, Profile, accuracy_of_package
from splitee_ros.data.synth import sample_frames
from splitee_ros.model.package import ModelPackage
from splitee_ros.runtime.base import make_runtime

Result = TypeVar('Result')
PROFILE_SEED = 4049  # frames no training or evaluation set uses


def _timed(function: Callable[..., Result], *args: object) -> tuple[Result, float]:
    """`function(*args)` and the milliseconds it took."""
    start = time.perf_counter()
    result = function(*args)
    return result, (time.perf_counter() - start) * 1e3


def device_name(backend: str, device: str, threads: int) -> str:
    """The default name of a device profile, e.g. `onnxruntime/cpu/2t`."""
    return f'{backend}/{device}/{threads}t' if threads else f'{backend}/{device}'


def measure_device(
    package_folder: str | Path,
    backend: str,
    device: str = 'cpu',
    threads: int = 0,
    frames: int = 20,
    name: str | None = None,
    jpeg_qualities: Sequence[int] | None = None,
) -> DeviceProfile:
    """Time every head, tail, codec and the whole model on `frames` synthetic camera frames."""
    package = ModelPackage.load(package_folder)
    runtime = make_runtime(package.folder, backend, 'both', device, full=True, threads=threads)
    codecs = {codec.name: codec for codec in package.codecs().values()}
    decoder = FrameDecoder(package.wire_spec())
    qualities = sorted(jpeg_qualities or accuracy_of_package(package.folder).jpeg)
    images = sample_frames(frames, PROFILE_SEED)
    times: dict[str, list[float]] = defaultdict(list)
    for index, image in enumerate(images):
        _, full_ms = _timed(runtime.run_full, image)
        times['full'].append(full_ms)
        for split_index, split in enumerate(runtime.split_names):
            result, head_ms = _timed(runtime.run_head, split, image)
            times[f'head/{split}'].append(head_ms)
            for codec_name, codec in codecs.items():
                frame, encode_ms = _timed(encode_frame, result.code, codec, package.model_id, split_index, index)
                _, decode_ms = _timed(decoder.decode, frame)
                times[f'encode/{split}/{codec_name}'].append(encode_ms)
                times[f'decode/{split}/{codec_name}'].append(decode_ms)
                times[f'bytes/{split}/{codec_name}'].append(len(frame))
            _, tail_ms = _timed(runtime.run_tail, split, result.code, image.shape[:2])
            times[f'tail/{split}'].append(tail_ms)
        for quality in qualities:
            (_, encoded), encode_ms = _timed(cv2.imencode, '.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            _, decode_ms = _timed(cv2.imdecode, encoded, cv2.IMREAD_COLOR)
            times[f'jpeg_encode/{quality}'].append(encode_ms)
            times[f'jpeg_decode/{quality}'].append(decode_ms)
            times[f'jpeg_bytes/{quality}'].append(encoded.size)

    def per_split(kind: str) -> dict[str, Distribution]:
        return {split: Distribution.of(times[f'{kind}/{split}']) for split in runtime.split_names}

    def per_codec(kind: str) -> dict[str, dict[str, Distribution]]:
        return {
            split: {codec: Distribution.of(times[f'{kind}/{split}/{codec}']) for codec in codecs}
            for split in runtime.split_names
        }

    def per_quality(kind: str) -> dict[int, Distribution]:
        return {quality: Distribution.of(times[f'{kind}/{quality}']) for quality in qualities}

    return DeviceProfile(
        name=name or device_name(backend, device, threads),
        backend=backend,
        device=device,
        threads=threads,
        machine=f'{platform.machine()} {platform.processor() or platform.node()}'.strip(),
        frames=frames,
        head_ms=per_split('head'),
        tail_ms=per_split('tail'),
        full_ms=Distribution.of(times['full']),
        encode_ms=per_codec('encode'),
        decode_ms=per_codec('decode'),
        code_bytes=per_codec('bytes'),
        jpeg_encode_ms=per_quality('jpeg_encode'),
        jpeg_decode_ms=per_quality('jpeg_decode'),
        jpeg_bytes=per_quality('jpeg_bytes'),
    )


def profile_package(package_folder: str | Path, device_profile: DeviceProfile) -> Path:
    """Add `device_profile` to the package's `profile.yaml` (other devices kept), accuracy from `eval.json`."""
    package = ModelPackage.load(package_folder)
    accuracy = accuracy_of_package(package.folder)
    try:
        profile = Profile.load(package.folder)
        if profile.model_id != package.model_id.hex():
            profile = Profile(package.model_id.hex(), accuracy)  # another model's measurements: start over
    except FileNotFoundError:
        profile = Profile(package.model_id.hex(), accuracy)
    profile = Profile(profile.model_id, accuracy, profile.devices)
    return profile.with_device(device_profile).save(package.folder)
