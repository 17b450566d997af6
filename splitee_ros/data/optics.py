# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What a real camera does to the light of a synthetic scene, in the order it happens.

Exposure (with an auto-exposure that drifts), vignetting, motion blur from the car's own motion (a zoom blur
towards the focus of expansion whose length follows each pixel's depth and the exposure time), defocus,
lateral chromatic aberration, then sensor noise (shot noise that grows with the signal, read noise, and
colour noise that demosaicing spreads over neighbouring pixels), the tone curve and 8-bit quantisation.
Light is handled linearly; the scene and the output are display-encoded (gamma 2.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

GAMMA = 2.2
MAX_BLUR_PX = 3.0  # the longest motion-blur streak (the deepest objects' boxes keep their pixels)


@dataclass(frozen=True)
class CameraSettings:
    """One drive's camera: exposure bias, exposure time, optics and sensor."""

    exposure_ev: float  # bias of the auto-exposure, in stops
    exposure_ms: float  # exposure time: motion blur
    analog_gain: float  # amplifies the sensor's noise (high at night)
    vignetting: float  # light lost in the corners (fraction)
    defocus_sigma: float  # pixels; 0 for a sharp lens
    aberration: float  # lateral chromatic aberration: red and blue magnification differ by this fraction
    shot_noise: float  # standard deviation of shot noise at full scale, linear
    read_noise: float  # standard deviation of read noise, linear


def develop(
    scene: np.ndarray,
    depth: np.ndarray,
    settings: CameraSettings,
    focus: tuple[float, float],
    ego_speed: float,
    rng: np.random.Generator,
    phase: float,
    sensor_noise: bool = True,
) -> np.ndarray:
    """The 8-bit BGR image a camera records of `scene` (float BGR, display-encoded 0-255).

    `focus` is the focus of expansion (u, v), `phase` the auto-exposure's drift in [0, 1), `depth` metres per
    pixel. Without `sensor_noise`, every step but the noise (to measure what the noise alone costs a codec).
    """
    light = np.power(np.clip(scene, 0, 255) / 255.0, GAMMA).astype(np.float32)
    height, width = light.shape[:2]
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    du, dv = u - focus[0], v - focus[1]
    radius = np.sqrt(du * du + dv * dv)
    corner = float(np.hypot(max(focus[0], width - focus[0]), max(focus[1], height - focus[1])))
    exposure = 2.0 ** (settings.exposure_ev + 0.1 * np.sin(2 * np.pi * phase))
    light *= (exposure * (1 - settings.vignetting * (radius / corner) ** 2))[..., None]

    streak = np.minimum(radius * ego_speed * settings.exposure_ms * 1e-3 / np.maximum(depth, 1.0), MAX_BLUR_PX)
    if float(streak.max()) > 0.3:
        scale = 1 - streak / np.maximum(radius, 1.0)  # towards the focus: where the pixel was when the shutter opened
        samples = [light]
        for fraction in (1 / 3, 2 / 3, 1.0):
            s = 1 - fraction * (1 - scale)
            samples.append(cv2.remap(light, focus[0] + du * s, focus[1] + dv * s, cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT))  # fmt: skip
        light = np.mean(samples, axis=0)
    if settings.defocus_sigma > 0:
        light = cv2.GaussianBlur(light, (0, 0), settings.defocus_sigma)
    if settings.aberration > 0:
        for channel, sign in ((0, -1.0), (2, 1.0)):  # blue in, red out
            s = 1 / (1 + sign * settings.aberration)
            plane = np.ascontiguousarray(light[..., channel])
            light[..., channel] = cv2.remap(
                plane, focus[0] + du * s, focus[1] + dv * s, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
            )

    if sensor_noise:
        gain = settings.analog_gain
        sigma = gain * np.sqrt(settings.read_noise**2 + settings.shot_noise**2 * np.clip(light, 0, None) / gain)
        luma = rng.standard_normal((height, width), np.float32)[..., None]
        chroma = cv2.GaussianBlur(rng.standard_normal((height, width, 3), np.float32), (0, 0), 0.7) * 1.6
        light = light + sigma * (0.75 * luma + 0.65 * chroma)
    display = np.power(np.clip(light, 0, 1), 1 / GAMMA) * 255.0
    return np.clip(np.rint(display), 0, 255).astype(np.uint8)
