# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Latency and accuracy model of every choice the head can make, from a profile and a link state.

A frame's path: head + encode + bytes / goodput + RTT (up and back) + decode + tail (split computing);
JPEG encode + bytes / goodput + RTT + decode + whole model (image offload); the whole model on the vehicle
(local). A confident exit answers after the head alone. Stage times are drawn from the profiled quantiles
(fixed draws, so predictions are repeatable), scaled by how much slower the devices run now than when
profiled.

Accuracy is on-time accuracy: the mAP@.5 of what the vehicle has published for each frame by its deadline.
The intended answer is the eval's exit curve (exits where confident, the teacher elsewhere) minus the codec's
loss on the frames that go to the edge. A frame sent to the edge that misses its deadline counts with its
fallback (the best exit for a split, nothing for an image); an exit or a local answer that comes after the
deadline counts as nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import SupportsFloat, SupportsInt

import numpy as np

from splitee_ros.control.link import LinkEstimate
from splitee_ros.control.profile import LEVELS, DeviceProfile, Distribution, ExitPoint, Profile

MODES = ('split', 'local', 'offload-image')  # the head's modes (its `mode` parameter)


@dataclass(frozen=True)
class Choice:
    """One configuration of the head: what the monitor sets through its parameters."""

    mode: str
    split: str = ''
    codec: str = ''
    exit_threshold: float = 1.0
    jpeg_quality: int = 0

    def parameters(self) -> dict[str, object]:
        """The head's parameters that select this choice."""
        if self.mode == 'split':
            return {
                'mode': 'split',
                'split_point': self.split,
                'codec': self.codec,
                'exit_threshold': self.exit_threshold,
                'exits_enabled': True,
            }
        if self.mode == 'offload-image':
            return {'mode': 'offload-image', 'jpeg_quality': self.jpeg_quality}
        return {'mode': 'local'}

    @property
    def label(self) -> str:
        """Short text for logs and tables."""
        if self.mode == 'split':
            if self.exit_threshold == 0.0:
                return f'exit-only {self.split}'
            return f'split {self.split} {self.codec} t={self.exit_threshold:g}'
        if self.mode == 'offload-image':
            return f'offload-image q{self.jpeg_quality}'
        return 'local'


@dataclass(frozen=True)
class LinkState:
    """What the latency model assumes of the link: typical values, and their spread where measured."""

    rtt_ms: float
    goodput_mbps: float
    loss: float = 0.0
    rtt_quantiles_ms: tuple[float, ...] | None = None  # at profile.LEVELS
    goodput_quantiles_mbps: tuple[float, ...] | None = None
    overhead_quantiles_ms: tuple[float, ...] | None = None  # what real frames take beyond RTT + bytes / goodput

    @classmethod
    def from_estimate(cls, estimate: LinkEstimate) -> LinkState | None:
        """The link state of an estimate; None while RTT or goodput is unknown (e.g. no probe replies)."""
        if estimate.rtt_ms is None or estimate.goodput_mbps is None:
            return None
        return cls(estimate.rtt_ms, estimate.goodput_mbps, estimate.loss, estimate.rtt_quantiles_ms,
                   estimate.goodput_quantiles_mbps, estimate.overhead_quantiles_ms)  # fmt: skip

    def draw(self, uniforms: np.ndarray) -> tuple[np.ndarray | float, np.ndarray | float]:
        """(RTT plus overhead in ms, goodput in Mbit/s) at the probabilities `uniforms` (3, n)."""
        delay = np.interp(uniforms[0], LEVELS, self.rtt_quantiles_ms) if self.rtt_quantiles_ms else self.rtt_ms
        if self.overhead_quantiles_ms:
            delay = delay + np.interp(uniforms[2], LEVELS, self.overhead_quantiles_ms)
        goodput = self.goodput_mbps
        if self.goodput_quantiles_mbps:
            goodput = np.maximum(np.interp(uniforms[1], LEVELS, self.goodput_quantiles_mbps), 1e-3)
        return delay, goodput


@dataclass(frozen=True)
class Prediction:
    """The model's forecast for one choice under one link state."""

    choice: Choice
    hit_probability: float  # a frame's chance of detections by its deadline: the intended answer or an exit's fallback
    accuracy: float  # expected on-time mAP@.5: late answers count at their fallback
    latency_p50_ms: float  # of the frames that take the choice's main path (exits excluded)
    latency_p95_ms: float
    bytes_per_frame: float  # mean uplink bytes per frame (exits send nothing)
    intended_probability: float = 0.0  # a frame's chance of its intended answer (exit, edge, local) in time
    uplink_share: float = 0.0  # of the goodput, what its frames send at the frame rate (0: rate unknown)


@dataclass(frozen=True)
class Accounting:
    """What a choice's answers are worth (mAP@.5) when they come in time; a late one is worth nothing.

    A frame is answered on the vehicle (an exit, or the whole model in local mode) with probability
    `exit_rate`, worth `exit_worth`; otherwise it is sent, worth `sent_worth` when the edge answers in time,
    else its fallback at the deadline, worth `fallback_worth` (the best exit; nothing for an image) if the head
    itself was in time.
    """

    exit_rate: float
    exit_worth: float
    sent_worth: float
    fallback_worth: float

    @property
    def intended(self) -> float:
        """mAP@.5 when every frame gets its intended answer in time."""
        return self.exit_rate * self.exit_worth + (1.0 - self.exit_rate) * self.sent_worth

    def on_time(self, exit_hit: float, path_hit: float, fallback_hit: float) -> float:
        """Expected on-time mAP@.5.

        Answers on the vehicle are in time with probability `exit_hit`, the edge's with `path_hit`, and a sent
        frame's fallback with `fallback_hit` (it is waiting by its deadline only if the head was done by then).
        """
        sent = path_hit * self.sent_worth + (1.0 - path_hit) * fallback_hit * self.fallback_worth
        return self.exit_rate * exit_hit * self.exit_worth + (1.0 - self.exit_rate) * sent


def _threshold_point(points: Iterable[ExitPoint], threshold: float) -> ExitPoint:
    return min(points, key=lambda point: abs(point.threshold - threshold))


class LatencyModel:
    """Predicts hit probability and accuracy of every choice; vehicle and edge may be different devices."""

    def __init__(self, profile: Profile, vehicle: DeviceProfile, edge: DeviceProfile, samples: int = 512) -> None:
        """Draw `samples` values of every stage once (seeded: the same inputs give the same predictions)."""
        self.profile, self.vehicle, self.edge = profile, vehicle, edge
        self.accuracy = profile.accuracy
        rng = np.random.default_rng(0)

        def draw(distribution: Distribution) -> np.ndarray:
            return distribution.draw(rng.random(samples))

        splits = [split for split in vehicle.head_ms if split in edge.tail_ms]
        self.head = {split: draw(vehicle.head_ms[split]) for split in splits}
        self.split_path: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for split in splits:
            for codec in vehicle.encode_ms[split]:
                if codec.split('+')[0] not in self.accuracy.codec_accuracy.get(split, {}):
                    continue
                vehicle_ms = self.head[split] + draw(vehicle.encode_ms[split][codec])
                edge_ms = draw(edge.decode_ms[split][codec]) + draw(edge.tail_ms[split])
                self.split_path[split, codec] = (vehicle_ms, edge_ms, draw(vehicle.code_bytes[split][codec]))
        self.image_path = {
            quality: (
                draw(vehicle.jpeg_encode_ms[quality]),
                draw(edge.jpeg_decode_ms[quality]) + draw(edge.full_ms),
                draw(vehicle.jpeg_bytes[quality]),
            )
            for quality in vehicle.jpeg_encode_ms
            if quality in self.accuracy.jpeg and quality in edge.jpeg_decode_ms
        }
        self.local_ms = draw(vehicle.full_ms)
        self.link_uniforms = rng.random((3, samples))  # the link's spread, drawn independently of the stages
        self._accounting: dict[Choice, Accounting] = {}

    def choices(self, modes: Iterable[str] = MODES) -> list[Choice]:
        """Every choice the profile covers, in the allowed modes."""
        modes = set(modes)
        unknown = modes - set(MODES)
        if unknown:
            raise ValueError(f'unknown modes {sorted(unknown)}; known: {list(MODES)}')
        found = []
        if 'split' in modes:
            for split, codec in self.split_path:
                thresholds = [p.threshold for p in self.accuracy.exit_curves.get(split, ())] or [1.0]
                found += [Choice('split', split, codec, threshold) for threshold in thresholds]
        if 'offload-image' in modes:
            found += [Choice('offload-image', jpeg_quality=quality) for quality in self.image_path]
        if 'local' in modes:
            found.append(Choice('local'))
        return found

    def predict_all(
        self,
        choices: Iterable[Choice],
        link: LinkState | None,
        deadline_ms: float,
        vehicle_scale: float = 1.0,
        edge_scale: float = 1.0,
        exit_scale: Mapping[str, float] | None = None,
        frame_rate_hz: float = 0.0,
    ) -> list[Prediction]:
        """Predictions for `choices`; without a link state (no probe replies) nothing that uses the link hits.

        `exit_scale` corrects what an exit's answers are worth, per split, from the edge's checks of them.
        Each frame's time is predicted alone; `frame_rate_hz` (0: unknown) gives the share of the goodput that
        the choice's frames take together, which a frame alone does not show: at 1 or more the uplink's queue
        grows without end.
        """
        cache: dict[tuple[object, ...], tuple[float, float, float]] = {}

        def timing(key: tuple[object, ...], total: Callable[[], np.ndarray]) -> tuple[float, float, float]:
            """P(latency <= deadline), p50 and p95 of one path, computed once per call."""
            if key not in cache:
                values = total()
                p50, p95 = np.percentile(values, [50, 95])
                cache[key] = (float(np.mean(values <= deadline_ms)), float(p50), float(p95))
            return cache[key]

        linked = link is not None and link.goodput_mbps > 0
        rtt_ms, goodput_mbps = link.draw(self.link_uniforms) if link is not None and linked else (0.0, 1.0)
        loss = link.loss if link is not None else 0.0

        def network(
            key: tuple[object, ...], vehicle_ms: np.ndarray, edge_ms: np.ndarray, size: np.ndarray
        ) -> tuple[float, float, float]:
            if not linked:
                return 0.0, float('inf'), float('inf')
            hit, p50, p95 = timing(key, lambda: vehicle_ms * vehicle_scale + size * 8 / (goodput_mbps * 1e3)
                                   + rtt_ms + edge_ms * edge_scale)  # fmt: skip
            return hit * (1.0 - loss), p50, p95

        predictions = []
        for choice in choices:
            worth = self.accounting(choice)
            if exit_scale and choice.split in exit_scale:
                worth = replace(worth, exit_worth=worth.exit_worth * exit_scale[choice.split])
            if choice.mode == 'local':
                hit, p50, p95 = timing(('local',), lambda: self.local_ms * vehicle_scale)
                predictions.append(Prediction(choice, hit, worth.on_time(hit, 0.0, 0.0), p50, p95, 0.0, hit))
                continue
            if choice.mode == 'offload-image':
                vehicle_ms, edge_ms, size = self.image_path[choice.jpeg_quality]
                path_hit, p50, p95 = network(('image', choice.jpeg_quality), vehicle_ms, edge_ms, size)
                # a miss is answered with nothing (an empty array at the deadline): no answer
                accuracy = worth.on_time(0.0, path_hit, 0.0)
                predictions.append(Prediction(choice, path_hit, accuracy, p50, p95, float(size.mean()), path_hit))
                continue
            split, exit_rate = choice.split, worth.exit_rate
            head_ms = partial(np.multiply, self.head[split], vehicle_scale)
            exit_hit, exit_p50, exit_p95 = timing(('exit', split), head_ms)
            if exit_rate >= 1.0:  # exit-only: the link is never used
                accuracy = worth.on_time(exit_hit, 0.0, 0.0)
                predictions.append(Prediction(choice, exit_hit, accuracy, exit_p50, exit_p95, 0.0, exit_hit))
                continue
            vehicle_ms, edge_ms, size = self.split_path[split, choice.codec]
            path_hit, p50, p95 = network(('split', split, choice.codec), vehicle_ms, edge_ms, size)
            sent_hit = timing(('split-sent', split, choice.codec), partial(np.multiply, vehicle_ms, vehicle_scale))[0]
            sent = 1.0 - exit_rate
            # a sent frame the edge misses has its exit's fallback if the head was done in time; without an exit
            # at the split that fallback is empty, which answers nothing (hits met by empty answers mislead)
            answered = sent_hit if worth.fallback_worth > 0 else path_hit
            predictions.append(Prediction(
                choice, exit_rate * exit_hit + sent * answered, worth.on_time(exit_hit, path_hit, sent_hit), p50,
                p95, float(size.mean()) * sent, exit_rate * exit_hit + sent * path_hit,
            ))  # fmt: skip
        if not linked or frame_rate_hz <= 0.0:
            return predictions
        bits_per_s = float(np.mean(goodput_mbps)) * 1e6  # over time a queue drains at the mean of the spread
        return [replace(p, uplink_share=p.bytes_per_frame * 8 * frame_rate_hz / bits_per_s) for p in predictions]

    def accounting(self, choice: Choice) -> Accounting:
        """What `choice`'s answers are worth when on time (see `Accounting`)."""
        if choice not in self._accounting:
            self._accounting[choice] = self._account(choice)
        return self._accounting[choice]

    def _account(self, choice: Choice) -> Accounting:
        accuracy = self.accuracy
        if choice.mode == 'local':
            return Accounting(1.0, accuracy.teacher, 0.0, 0.0)
        if choice.mode == 'offload-image':
            return Accounting(0.0, 0.0, accuracy.jpeg[choice.jpeg_quality], 0.0)
        points = accuracy.exit_curves.get(choice.split)
        point = _threshold_point(points, choice.exit_threshold) if points else ExitPoint(1.0, 0.0, accuracy.teacher)
        rate = point.exit_rate
        # the exit curve mixes exits with the edge's answers: what the exits' own frames must be worth for that mix
        rest = accuracy.edge_map50(choice.split)
        exits = float(np.clip((point.map50 - (1.0 - rate) * rest) / rate, 0.0, 1.0)) if rate else 0.0
        codec = accuracy.codec_map50(choice.split, choice.codec)
        return Accounting(rate, exits, codec, accuracy.exit_alone.get(choice.split, 0.0))


def choice_from_parameters(values: Mapping[str, object]) -> Choice:
    """The choice that the head's parameter values select (the inverse of `Choice.parameters`)."""
    mode = str(values.get('mode', 'split'))
    if mode == 'split':
        return Choice('split', str(values['split_point']), str(values['codec']), _float(values['exit_threshold']))
    if mode == 'offload-image':
        return Choice('offload-image', jpeg_quality=_int(values['jpeg_quality']))
    return Choice(mode)


def _float(value: object) -> float:
    """A parameter value (parameters arrive untyped) as float; TypeError where float() would raise it."""
    if isinstance(value, (str, SupportsFloat)):
        return float(value)
    raise TypeError(f'float() argument must be a string or a real number, not {type(value).__name__!r}')


def _int(value: object) -> int:
    """A parameter value as int; TypeError where int() would raise it."""
    if isinstance(value, (str, SupportsInt)):
        return int(value)
    raise TypeError(f'int() argument must be a string or a real number, not {type(value).__name__!r}')


class ComputeScale:
    """How much slower a device runs now than when profiled: the median ratio of measured to profiled times."""

    def __init__(self, window: int = 30, bounds: tuple[float, float] = (0.5, 8.0)) -> None:
        """Keep the last `window` ratios; the scale stays within `bounds`."""
        self.ratios: deque[float] = deque(maxlen=window)
        self.bounds = bounds

    def add(self, measured_ms: float, profiled: Distribution) -> None:
        """One measured stage time against its profiled distribution."""
        if measured_ms > 0 and profiled.median > 0:
            self.ratios.append(measured_ms / profiled.median)

    @property
    def value(self) -> float:
        """The current scale (1.0 before any measurement)."""
        if not self.ratios:
            return 1.0
        return float(np.clip(np.median(self.ratios), *self.bounds))
