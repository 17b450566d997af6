# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Procedural texture for the synthetic scenes, sampled in world coordinates so that it moves with the world.

Two primitives, both filtered by the pixel's footprint (metres of world per pixel), as a camera's optics and
pixels filter the world: detail finer than a pixel averages to its mean instead of aliasing into noise that
no camera would record.
- `NoiseField`: band-limited noise octaves (grain, wear, stains), each faded out where its features shrink
  below a few pixels.
- `pulse_train`: a box-filtered periodic step (mortar lines, window grids, paving joints, lane dashes).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

TILE = 128  # texels per noise tile
FEATURES_PER_TILE = 16  # noise features across one tile


def tileable_noise(rng: np.random.Generator, size: int = TILE, cells: int = FEATURES_PER_TILE) -> np.ndarray:
    """A smooth random field that tiles seamlessly, zero mean and unit standard deviation (float32)."""
    grid = rng.standard_normal((cells, cells)).astype(np.float32)
    tiled = np.tile(grid, (3, 3))
    smooth = cv2.resize(tiled, (3 * size, 3 * size), interpolation=cv2.INTER_CUBIC)[size : 2 * size, size : 2 * size]
    smooth -= smooth.mean()
    return smooth / max(float(smooth.std()), 1e-6)


def _fade(feature: float, footprint: np.ndarray) -> np.ndarray:
    """Weight of detail of size `feature` metres: 1 at three pixels or more, 0 at one pixel or less."""
    return np.clip((feature / np.maximum(footprint, 1e-6) - 1.0) / 2.0, 0.0, 1.0).astype(np.float32)


class NoiseField:
    """Noise octaves of given feature sizes (metres) and amplitudes, summed, each faded by the footprint."""

    def __init__(self, rng: np.random.Generator, features: Sequence[float], amplitudes: Sequence[float]) -> None:
        """Draw one tile per octave."""
        if len(features) != len(amplitudes):
            raise ValueError('one amplitude per octave')
        self.octaves = [(float(f), float(a), tileable_noise(rng)) for f, a in zip(features, amplitudes, strict=True)]

    def sample(self, a: np.ndarray, b: np.ndarray, footprint: np.ndarray | float) -> np.ndarray:
        """The field at world coordinates (a, b) (2-D arrays of one shape), as seen with `footprint` per pixel."""
        footprint = np.broadcast_to(np.asarray(footprint, np.float32), a.shape)
        total = np.zeros(a.shape, np.float32)
        for feature, amplitude, tile in self.octaves:
            weight = _fade(feature, footprint)
            rows = np.flatnonzero(weight.any(axis=-1))  # fine octaves show only near the camera: skip the rest
            if rows.size == 0:
                continue
            part = slice(rows[0], rows[-1] + 1)
            scale = np.float32(TILE / (feature * FEATURES_PER_TILE))  # float32 keeps 1/20 texel at 300 m
            map_x = np.mod(a[part].astype(np.float32) * scale, TILE)
            map_y = np.mod(b[part].astype(np.float32) * scale, TILE)
            texture = cv2.remap(tile, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
            total[part] += amplitude * weight[part] * texture
        return total


def pulse_train(x: np.ndarray, period: float, width: float, footprint: np.ndarray | float) -> np.ndarray:
    """Fraction of the pixel around x (of size `footprint`) that lies in [k·period, k·period + width) for some k."""

    def integral(t: np.ndarray) -> np.ndarray:
        return np.floor(t / period) * width + np.minimum(np.mod(t, period), width)

    half = np.maximum(np.asarray(footprint, np.float32), 1e-6) / 2
    x = np.asarray(x, np.float32)
    return (integral(x + half) - integral(x - half)) / (2 * half)


def cell_hash(i: np.ndarray, j: np.ndarray, seed: int) -> np.ndarray:
    """A uniform value in [0, 1) per integer cell (i, j): per-brick or per-window variation."""
    h = (i.astype(np.int64) * 73856093) ^ (j.astype(np.int64) * 19349663) ^ (seed * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h ^ (h >> 16)) & 0xFFFF).astype(np.float32) / 65536.0
