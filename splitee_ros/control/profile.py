# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""A model package's `profile.yaml`: measured stage times and bytes per device, and accuracy per choice.

Times are kept as quantiles (so that a latency model can draw from them); accuracy comes from the
package's `eval.json` (`splitee eval`). Profiles of several devices (the vehicle's, the edge's) live side by
side under `devices`, each under its own name. Plain Python and numpy: the monitor reads it without torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from splitee_ros.errors import UnknownNameError

PROFILE_FILE = 'profile.yaml'
LEVELS = np.linspace(0.0, 1.0, 21)  # the quantile levels a Distribution keeps


@dataclass(frozen=True)
class Distribution:
    """A measured quantity (milliseconds or bytes) as its quantiles at LEVELS."""

    quantiles: tuple[float, ...]

    def __post_init__(self) -> None:
        """Check there is one non-decreasing value per level."""
        if len(self.quantiles) != len(LEVELS) or any(np.diff(self.quantiles) < 0):
            raise ValueError(f'a distribution needs {len(LEVELS)} non-decreasing quantiles, got {self.quantiles}')

    @classmethod
    def of(cls, samples: Sequence[float]) -> Distribution:
        """The distribution of measured `samples`."""
        if len(samples) == 0:
            raise ValueError('no samples')
        return cls(tuple(round(float(v), 4) for v in np.quantile(np.asarray(samples, float), LEVELS)))

    @classmethod
    def constant(cls, value: float) -> Distribution:
        """A quantity that never varies."""
        return cls((float(value),) * len(LEVELS))

    def draw(self, uniforms: np.ndarray) -> np.ndarray:
        """Values at the probabilities `uniforms` (inverse-CDF sampling)."""
        values: np.ndarray = np.interp(uniforms, LEVELS, self.quantiles)
        return values

    def scaled(self, factor: float) -> Distribution:
        """The same shape, every value times `factor`."""
        return Distribution(tuple(v * factor for v in self.quantiles))

    @property
    def median(self) -> float:
        """The 50% quantile."""
        return float(np.interp(0.5, LEVELS, self.quantiles))


@dataclass(frozen=True)
class DeviceProfile:
    """Stage times on one device (backend, device, threads) and bytes per frame."""

    name: str
    backend: str
    device: str
    threads: int
    machine: str
    frames: int
    head_ms: Mapping[str, Distribution]  # per split: head graph with its exits
    tail_ms: Mapping[str, Distribution]  # per split
    full_ms: Distribution  # the whole model (local mode; the edge in image offload)
    encode_ms: Mapping[str, Mapping[str, Distribution]]  # split → codec → framing and compression
    decode_ms: Mapping[str, Mapping[str, Distribution]]
    code_bytes: Mapping[str, Mapping[str, Distribution]]  # split → codec → bytes of the frame
    jpeg_encode_ms: Mapping[int, Distribution]  # quality → time
    jpeg_decode_ms: Mapping[int, Distribution]
    jpeg_bytes: Mapping[int, Distribution]

    def scaled(self, factor: float, name: str) -> DeviceProfile:
        """A what-if device `factor` times slower (bytes unchanged), e.g. a stand-in for a smaller computer."""

        def times(value: Any) -> Any:
            if isinstance(value, Distribution):
                return value.scaled(factor)
            return {key: times(item) for key, item in value.items()}

        fields = ('head_ms', 'tail_ms', 'full_ms', 'encode_ms', 'decode_ms', 'jpeg_encode_ms', 'jpeg_decode_ms')
        return replace(
            self,
            name=name,
            machine=f'{self.machine}, times x{factor:g} (estimate)',
            **{key: times(getattr(self, key)) for key in fields},
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for YAML."""
        return {
            'backend': self.backend,
            'device': self.device,
            'threads': self.threads,
            'machine': self.machine,
            'frames': self.frames,
            'head_ms': _plain(self.head_ms),
            'tail_ms': _plain(self.tail_ms),
            'full_ms': list(self.full_ms.quantiles),
            'encode_ms': _plain(self.encode_ms),
            'decode_ms': _plain(self.decode_ms),
            'code_bytes': _plain(self.code_bytes),
            'jpeg_encode_ms': _plain(self.jpeg_encode_ms),
            'jpeg_decode_ms': _plain(self.jpeg_decode_ms),
            'jpeg_bytes': _plain(self.jpeg_bytes),
        }

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> DeviceProfile:
        """Read what `to_dict` wrote."""
        return cls(
            name=name,
            backend=str(data['backend']),
            device=str(data['device']),
            threads=int(data['threads']),
            machine=str(data['machine']),
            frames=int(data['frames']),
            head_ms=_distributions(data['head_ms']),
            tail_ms=_distributions(data['tail_ms']),
            full_ms=Distribution(tuple(data['full_ms'])),
            encode_ms=_nested(data['encode_ms']),
            decode_ms=_nested(data['decode_ms']),
            code_bytes=_nested(data['code_bytes']),
            jpeg_encode_ms=_distributions(data['jpeg_encode_ms'], int),
            jpeg_decode_ms=_distributions(data['jpeg_decode_ms'], int),
            jpeg_bytes=_distributions(data['jpeg_bytes'], int),
        )


def _plain(value: Any) -> Any:
    if isinstance(value, Distribution):
        return list(value.quantiles)
    return {key: _plain(item) for key, item in value.items()}


def _distributions(data: Mapping[Any, Sequence[float]], key_type: type = str) -> dict[Any, Distribution]:
    return {key_type(key): Distribution(tuple(values)) for key, values in data.items()}


def _nested(data: Mapping[str, Mapping[str, Sequence[float]]]) -> dict[str, dict[str, Distribution]]:
    return {key: _distributions(inner) for key, inner in data.items()}


@dataclass(frozen=True)
class ExitPoint:
    """One point of an exit's curve: at this threshold, this share of frames exits, with this mAP@.5 overall."""

    threshold: float
    exit_rate: float
    map50: float  # exited frames answered by the exit, the others by the edge (the split's code; see mixed_with)
    agreement: float | None = None  # mean F1 of the exited frames' answers against the edge's


def _exit_point(values: Sequence[Any]) -> ExitPoint:
    """An ExitPoint from its [threshold, exit rate, mAP@.5, agreement] list, as YAML gives it (no agreement: None)."""
    agreement = values[3] if len(values) > 3 else None
    return ExitPoint(
        float(values[0]), float(values[1]), float(values[2]), None if agreement is None else float(agreement)
    )


@dataclass(frozen=True)
class AccuracyProfile:
    """mAP@.5 on the held-out set of every choice the head can make (from `splitee eval`)."""

    teacher: float
    codec_accuracy: Mapping[str, Mapping[str, float]]  # split → quantiser (int8, learned, ...) → mAP@.5
    exit_curves: Mapping[str, tuple[ExitPoint, ...]]  # split → points by threshold
    exit_alone: Mapping[str, float]  # split → mAP@.5 of the exit answering every frame
    jpeg: Mapping[int, float]  # JPEG quality → mAP@.5 of the whole model on the decoded image
    source: str = ''
    exit_mixed_with: Mapping[str, str] = field(default_factory=dict)  # split → the code the exit curve mixes with

    @classmethod
    def from_eval(cls, report: Mapping[str, Any], source: str = '') -> AccuracyProfile:
        """From an `eval.json` report: each choice's mAP@.5 as the nodes publish it.

        That is what on-time accuracy measures. An older report, scored at COCO's low threshold only, gives
        that figure instead, and `source` says so.
        """
        published = report['teacher'].get('published_map50') is not None

        def map50(entry: Mapping[str, Any]) -> float:
            return float(entry['published_map50'] if published else entry['map50'])

        jpeg = {int(name[4:]): map50(entry) for name, entry in report['baselines'].items() if name.startswith('jpeg')}
        return cls(
            teacher=map50(report['teacher']),
            codec_accuracy={
                split: {name: map50(entry) for name, entry in data['accuracy'].items()}
                for split, data in report['splits'].items()
            },
            exit_curves={
                split: tuple(
                    ExitPoint(float(p['threshold']), float(p['exit_rate']), map50(p), p.get('agreement'))
                    for p in data['curve']
                )
                for split, data in report['exits'].items()
            },
            exit_alone={split: map50(data['alone']) for split, data in report['exits'].items()},
            jpeg=jpeg,
            source=source if published else f'{source} (scored at COCO threshold, not as published)',
            exit_mixed_with={
                split: data['mixed_with'] for split, data in report['exits'].items() if 'mixed_with' in data
            },
        )

    def edge_map50(self, split: str) -> float:
        """What the exit curve's frames that do not exit are worth: the split's code, or the teacher (older eval)."""
        codec = self.exit_mixed_with.get(split)
        return self.codec_map50(split, codec) if codec else self.teacher

    def codec_map50(self, split: str, codec: str) -> float:
        """mAP@.5 through `codec` at `split`: its quantiser's (entropy stages are lossless)."""
        return self.codec_accuracy[split][codec.split('+')[0]]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for YAML."""
        return {
            'source': self.source,
            'teacher': self.teacher,
            'codec_accuracy': {split: dict(values) for split, values in self.codec_accuracy.items()},
            'exit_curves': {
                split: [[p.threshold, p.exit_rate, p.map50, p.agreement] for p in points]
                for split, points in self.exit_curves.items()
            },
            'exit_alone': dict(self.exit_alone),
            'jpeg': dict(self.jpeg),
            'exit_mixed_with': dict(self.exit_mixed_with),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccuracyProfile:
        """Read what `to_dict` wrote."""
        return cls(
            teacher=float(data['teacher']),
            codec_accuracy={
                split: {k: float(v) for k, v in values.items()} for split, values in data['codec_accuracy'].items()
            },
            exit_curves={
                split: tuple(_exit_point(point) for point in points) for split, points in data['exit_curves'].items()
            },
            exit_alone={split: float(v) for split, v in data['exit_alone'].items()},
            jpeg={int(q): float(v) for q, v in data['jpeg'].items()},
            source=str(data.get('source', '')),
            exit_mixed_with=dict(data.get('exit_mixed_with', {})),
        )


@dataclass(frozen=True)
class Profile:
    """Everything the latency model and the policy need about one model package."""

    model_id: str
    accuracy: AccuracyProfile
    devices: Mapping[str, DeviceProfile] = field(default_factory=dict)

    def device(self, name: str) -> DeviceProfile:
        """The profile of device `name`; KeyError lists the profiled ones."""
        if name not in self.devices:
            raise UnknownNameError(
                f'no device profile {name!r}; profiled: {sorted(self.devices)} (run `splitee profile`)'
            )
        return self.devices[name]

    @classmethod
    def load(cls, package_folder: str | Path) -> Profile:
        """Read `profile.yaml` of a package; FileNotFoundError says how to make it."""
        path = Path(package_folder) / PROFILE_FILE
        if not path.is_file():
            raise FileNotFoundError(f'{path} does not exist: run `splitee profile {package_folder}`')
        data = yaml.safe_load(path.read_text())
        devices = {name: DeviceProfile.from_dict(name, entry) for name, entry in data['devices'].items()}
        return cls(str(data['model_id']), AccuracyProfile.from_dict(data['accuracy']), devices)

    def with_device(self, profile: DeviceProfile) -> Profile:
        """The profile with `profile` added (or replacing the one of the same name)."""
        return Profile(self.model_id, self.accuracy, {**self.devices, profile.name: profile})

    def save(self, package_folder: str | Path) -> Path:
        """Write `profile.yaml` into the package."""
        path = Path(package_folder) / PROFILE_FILE
        data = {
            'model_id': self.model_id,
            'accuracy': self.accuracy.to_dict(),
            'devices': {name: device.to_dict() for name, device in sorted(self.devices.items())},
        }
        path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120))
        return path


def accuracy_of_package(package_folder: str | Path) -> AccuracyProfile:
    """The accuracy section from the package's `eval.json`; FileNotFoundError says how to make it."""
    path = Path(package_folder) / 'eval.json'
    if not path.is_file():
        raise FileNotFoundError(f'{path} does not exist: run `splitee eval {package_folder}` first')
    return AccuracyProfile.from_eval(json.loads(path.read_text()), source='eval.json')


def refresh_accuracy(package_folder: str | Path, model_id: str) -> Path | None:
    """Put the package's new `eval.json` into its `profile.yaml` (device times kept), if it profiles `model_id`."""
    try:
        profile = Profile.load(package_folder)
    except FileNotFoundError:
        return None
    if profile.model_id != model_id:
        return None  # another model's measurements: `splitee profile` starts them over
    return Profile(model_id, accuracy_of_package(package_folder), profile.devices).save(package_folder)
