# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Procedural driving scenes seen by a forward-facing camera, as sequences that look like a drive.

A `Drive` is one seeded sequence: a road with lanes and markings, scenery on both sides, and actors
(cars, trucks, buses, pedestrians, cyclists, traffic signs and lights) that move coherently from frame to
frame. Everything is placed in metres and projected through a pinhole camera, so sizes follow distance.
Rendering is painter's order (far to near) into a colour image, a depth map and an id map; the id map gives
each object's visible fraction, so heavily occluded objects (and those lost in fog) are marked or left out,
not silently kept. Surfaces are textured in world coordinates (`surfaces.py`): asphalt grain and wear,
paving, verges, brick, concrete and glass facades with windows, clouds. Conditions (day, dusk, night, fog,
rain, night and rain) come next, and a camera model last (`optics.py`: exposure, vignetting, motion blur,
defocus, chromatic aberration, sensor noise). The same seed gives the same pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from splitee_ros.data.optics import CameraSettings, develop
from splitee_ros.data.surfaces import SceneTextures, draw_facade, draw_ground, draw_sky, make_facades

CATEGORIES = ('car', 'truck', 'bus', 'pedestrian', 'cyclist', 'traffic_sign', 'traffic_light')
CONDITIONS = ('day', 'dusk', 'night', 'fog', 'rain', 'night_rain')
HARD_CONDITIONS = ('night', 'fog', 'rain', 'night_rain')
# the mix of conditions in every 20 drives: half of them hard
CONDITION_SCHEDULE = ('day',) * 7 + ('dusk',) * 3 + ('night',) * 3 + ('fog',) * 3 + ('rain',) * 2 + ('night_rain',) * 2
# width, height (m) ranges per category; vehicles also have a length for their side
SIZES = {
    'car': ((1.6, 1.95), (1.35, 1.7)),
    'truck': ((2.3, 2.6), (2.8, 3.8)),
    'bus': ((2.45, 2.6), (2.9, 3.3)),
    'pedestrian': ((0.45, 0.6), (1.5, 1.95)),
    'cyclist': ((0.55, 0.7), (1.6, 1.9)),
    'traffic_sign': ((0.6, 0.9), (0.6, 0.9)),
    'traffic_light': ((0.3, 0.4), (0.85, 1.05)),
}
MIN_BOX_HEIGHT = 6  # pixels: smaller objects are not annotated (nor reliably visible)
MIN_VISIBLE = 0.15  # below this visible fraction an object is not annotated
IGNORE_VISIBLE = 0.4  # between MIN_VISIBLE and this it is annotated as a crowd (ignored by COCO evaluation)
MIN_TRANSMISSION = 0.08  # fog: an object keeping less of its contrast than this is not annotated
IGNORE_TRANSMISSION = 0.25  # ... and one keeping less than this is a crowd
NEAR, FAR = 3.0, 140.0
Light = tuple[float, float, float, tuple[int, int, int]]  # (u, v, radius, BGR colour) of a light that glows at night


@dataclass(frozen=True)
class Camera:
    """Pinhole camera looking down the road, `mount_height` metres above it."""

    width: int = 640
    height: int = 480
    focal: float = 520.0
    mount_height: float = 1.45
    horizon_fraction: float = 0.43

    @property
    def horizon(self) -> float:
        """Image row of the horizon."""
        return self.height * self.horizon_fraction

    def project(self, lateral: float, up: float, distance: float) -> tuple[float, float]:
        """Pixel (u, v) of a point `lateral` metres right, `up` metres above the road, `distance` ahead."""
        u = self.width / 2 + self.focal * lateral / distance
        v = self.horizon + self.focal * (self.mount_height - up) / distance
        return u, v

    def intrinsics(self) -> np.ndarray:
        """The 3x3 camera matrix K."""
        return np.array([[self.focal, 0, self.width / 2], [0, self.focal, self.horizon], [0, 0, 1]], np.float64)


@dataclass
class Actor:
    """Something in the scene: world position along the road (z0 at t=0), lateral offset, motion, looks."""

    kind: str
    lateral: float
    z0: float
    speed: float  # m/s along the road
    lateral_speed: float
    width: float
    height: float
    elevation: float  # metres above the road of the object's bottom (signs and lights sit on poles)
    color: tuple[int, int, int]
    facing: int  # +1 seen from behind (same direction), -1 seen from the front
    variant: int

    def position(self, t: float, ego_z: float) -> tuple[float, float]:
        """(lateral, distance ahead of the camera) at time t."""
        return self.lateral + self.lateral_speed * t, self.z0 + self.speed * t - ego_z

    @property
    def annotated(self) -> bool:
        """Scenery (trees, lamps, poles) is drawn but not annotated."""
        return self.kind in CATEGORIES


@dataclass(frozen=True)
class DriveSpec:
    """Everything that makes one sequence; drawn from a seed by `DriveSpec.sample`."""

    seed: int
    condition: str
    frames: int
    fps: float
    ego_speed: float
    lanes: int
    lane_width: float
    density: float
    fog_density: float
    camera: CameraSettings

    @classmethod
    def sample(cls, seed: int, frames: int, fps: float, condition: str) -> DriveSpec:
        """A random drive in `condition`: speed, road, traffic density, image degradation."""
        if condition not in CONDITIONS:
            raise ValueError(f'unknown condition {condition!r}; known: {", ".join(CONDITIONS)}')
        rng = np.random.default_rng(seed)
        night = condition.startswith('night')
        return cls(
            seed=seed,
            condition=condition,
            frames=frames,
            fps=fps,
            ego_speed=float(rng.uniform(4, 16)),
            lanes=int(rng.choice([2, 3, 4])),
            lane_width=float(rng.uniform(3.0, 3.7)),
            density=float(rng.uniform(0.6, 1.6)),
            fog_density=float(rng.uniform(0.015, 0.045)) if condition == 'fog' else 0.0,
            camera=CameraSettings(
                exposure_ev=float(rng.uniform(0.6, 1.2) if night else rng.uniform(-0.35, 0.35)),
                exposure_ms=float(rng.uniform(12, 30) if night else rng.uniform(0.5, 6)),
                analog_gain=float(rng.uniform(2.5, 4.0) if night else rng.uniform(1.0, 1.3)),
                vignetting=float(rng.uniform(0.1, 0.35)),
                defocus_sigma=float(rng.choice([0.0, 0.0, rng.uniform(0.4, 1.1)])),
                aberration=float(rng.uniform(0.0, 0.0015)),
                shot_noise=float(rng.uniform(0.015, 0.035)),
                read_noise=float(rng.uniform(0.002, 0.005)),
            ),
        )


@dataclass
class Box:
    """One annotated object in one frame (pixels, full extent clipped to the image)."""

    category: str
    x0: float
    y0: float
    x1: float
    y1: float
    distance: float
    visible: float  # fraction of the object's pixels that are not occluded (within the image)
    transmission: float  # fraction of its contrast that the fog leaves (1 without fog)
    truncated: bool
    track_id: int

    @property
    def crowd(self) -> bool:
        """Too occluded to demand a detection: COCO evaluation ignores it."""
        return self.visible < IGNORE_VISIBLE or self.transmission < IGNORE_TRANSMISSION


@dataclass
class Frame:
    """A rendered frame: BGR image, its annotations, and where it sits in the drive."""

    image: np.ndarray
    boxes: list[Box]
    index: int
    time: float
    condition: str


@dataclass
class Drive:
    """One seeded drive: scenery and actors built once, any frame rendered on demand."""

    spec: DriveSpec
    camera: Camera = field(default_factory=Camera)

    def __post_init__(self) -> None:
        """Lay out the road scenery and the actors."""
        rng = np.random.default_rng([self.spec.seed, 1])
        self.road_half = self.spec.lanes * self.spec.lane_width / 2
        self.duration = self.spec.frames / self.spec.fps
        self.travel = self.spec.ego_speed * self.duration
        self.palette = _palette(self.spec.condition, rng)
        self.textures = SceneTextures(rng, overcast=self.spec.condition in ('fog', 'rain', 'night_rain'))
        self.skyline = _skyline(self.camera, rng)
        self.facades = make_facades(self.road_half, self.travel + FAR, rng, _object_color)
        self.actors = self._scenery(rng) + self._traffic(rng)

    # ---- layout -------------------------------------------------------------------------------------
    def _scenery(self, rng: np.random.Generator) -> list[Actor]:
        actors = []
        z_end = self.travel + FAR
        for side in (-1, 1):
            z = float(rng.uniform(0, 15))
            while z < z_end:
                kind = str(rng.choice(['tree', 'lamp'], p=[0.6, 0.4]))
                offset = self.road_half + 2.5 + float(rng.uniform(0.3, 2))
                width, height = (
                    (rng.uniform(2.5, 5), rng.uniform(4, 9)) if kind == 'tree' else (0.25, rng.uniform(6, 8))
                )
                actors.append(self._actor(kind, side * offset, z, 0, 0, float(width), float(height), 0, rng))
                z += float(rng.uniform(8, 30))
            z = float(rng.uniform(0, 10))
            while z < z_end:  # hedges and bushes on the verge, in front of the buildings
                offset = self.road_half + 2.5 + float(rng.uniform(1.0, 3.0))
                width, height = float(rng.uniform(1.5, 4.5)), float(rng.uniform(0.6, 1.5))
                actors.append(self._actor('bush', side * offset, z, 0, 0, width, height, 0, rng))
                z += width + float(rng.uniform(1, 12))
            z = float(rng.uniform(5, 40))
            while z < z_end:  # traffic signs and lights stand on the kerb
                kind = str(rng.choice(['traffic_sign', 'traffic_light'], p=[0.6, 0.4]))
                (w0, w1), (h0, h1) = SIZES[kind]
                elevation = float(rng.uniform(1.8, 2.6) if kind == 'traffic_sign' else rng.uniform(3.2, 4.6))
                lateral = side * (self.road_half + float(rng.uniform(0.8, 2.0)))
                actors.append(self._actor('pole', lateral, z - 0.05, 0, 0, 0.1, elevation + 0.2, 0, rng))
                actors.append(
                    self._actor(
                        kind, lateral, z, 0, 0, float(rng.uniform(w0, w1)), float(rng.uniform(h0, h1)), elevation, rng
                    )
                )
                z += float(rng.uniform(20, 70)) / self.spec.density
        return actors

    def _traffic(self, rng: np.random.Generator) -> list[Actor]:
        """Vehicles in the lanes, cyclists at the road's edge, pedestrians on the pavements and crossing."""
        actors = []
        spec = self.spec
        lane_centres = [(-self.road_half + spec.lane_width * (i + 0.5)) for i in range(spec.lanes)]
        oncoming_lanes = spec.lanes // 2
        count = round(spec.density * rng.uniform(8, 16) * (1 + self.travel / 300))
        for _ in range(count):
            kind = str(rng.choice(['car', 'truck', 'bus'], p=[0.72, 0.16, 0.12]))
            lane = int(rng.integers(spec.lanes))
            facing = -1 if lane < oncoming_lanes else 1
            speed = facing * float(rng.uniform(0.4, 1.3)) * max(spec.ego_speed, 6)
            z0 = float(rng.uniform(NEAR + 4, FAR + self.travel * 0.5))
            lateral = lane_centres[lane] + float(rng.normal(0, 0.2))
            (w0, w1), (h0, h1) = SIZES[kind]
            actors.append(
                self._actor(
                    kind, lateral, z0, speed, 0, float(rng.uniform(w0, w1)), float(rng.uniform(h0, h1)), 0, rng, facing
                )
            )
        for _ in range(round(spec.density * rng.uniform(6, 14) * (1 + self.travel / 250))):
            kind = str(rng.choice(['pedestrian', 'cyclist'], p=[0.7, 0.3]))
            side = 1 if rng.random() < 0.5 else -1
            (w0, w1), (h0, h1) = SIZES[kind]
            z0 = float(rng.uniform(NEAR + 2, FAR * 0.7 + self.travel))
            if kind == 'cyclist':
                lateral, speed, lateral_speed = side * (self.road_half - 0.6), float(rng.uniform(3, 7)), 0.0
            elif rng.random() < 0.25:  # crossing the road
                lateral, speed, lateral_speed = side * (self.road_half + 1.5), 0.0, -side * float(rng.uniform(0.8, 1.6))
            else:
                lateral = side * (self.road_half + float(rng.uniform(0.6, 2.2)))
                speed, lateral_speed = float(rng.choice([-1, 1]) * rng.uniform(0.6, 1.8)), 0.0
            actors.append(
                self._actor(
                    kind,
                    lateral,
                    z0,
                    speed,
                    lateral_speed,
                    float(rng.uniform(w0, w1)),
                    float(rng.uniform(h0, h1)),
                    0,
                    rng,
                    side,
                )
            )
        return actors

    def _actor(self, kind, lateral, z0, speed, lateral_speed, width, height, elevation, rng, facing=1) -> Actor:
        return Actor(
            kind=kind, lateral=float(lateral), z0=float(z0), speed=float(speed), lateral_speed=float(lateral_speed),
            width=width, height=height, elevation=elevation, color=_object_color(kind, rng), facing=int(facing),
            variant=int(rng.integers(1 << 30)),
        )  # fmt: skip

    # ---- rendering ----------------------------------------------------------------------------------
    def render(self, index: int, with_objects: bool = True, sensor_noise: bool = True) -> Frame:
        """Render frame `index` of the drive; without objects it is the background plate of the same frame.

        Without `sensor_noise` the camera records the same light without noise.
        """
        if not 0 <= index < self.spec.frames:
            raise IndexError(f'frame {index} is outside the drive of {self.spec.frames} frames')
        camera = self.camera
        t = index / self.spec.fps
        ego_z = self.spec.ego_speed * t
        image = np.empty((camera.height, camera.width, 3), np.float32)
        depth = np.full((camera.height, camera.width), np.inf, np.float32)
        ids = np.full((camera.height, camera.width), -1, np.int32)
        emissive = np.zeros_like(image)  # light of its own (lit windows), seen at night
        self._draw_background(image, depth, emissive, ego_z, t)
        placed = []
        for track_id, actor in enumerate(self.actors):
            lateral, distance = actor.position(t, ego_z)
            if NEAR <= distance <= FAR and (with_objects or not actor.annotated):
                placed.append((distance, track_id, actor, lateral))
        placed.sort(key=lambda item: -item[0])
        boxes = []
        night = self.spec.condition.startswith('night')
        lights: list[Light] = []
        for distance, track_id, actor, lateral in placed:
            drawn = _draw_actor(image, depth, ids, camera, actor, lateral, distance, track_id, night, lights)
            if drawn is not None and actor.annotated:
                boxes.append(drawn)
        emissive[ids >= 0] = 0  # windows behind an object are hidden by it
        self._apply_condition(image, depth, emissive, lights, index)
        visible_boxes = []
        for box, area in boxes:
            box.visible = float(np.count_nonzero(ids == box.track_id)) / max(area, 1)
            box.transmission = math.exp(-self.spec.fog_density * box.distance)
            seen = box.visible >= MIN_VISIBLE and box.transmission >= MIN_TRANSMISSION
            if seen and box.y1 - box.y0 >= MIN_BOX_HEIGHT:
                visible_boxes.append(box)
        focus = (camera.width / 2, camera.horizon)
        rng = np.random.default_rng([self.spec.seed, 3, index])
        phase = (t / 7.0 + self.spec.seed % 100 / 100) % 1.0
        recorded = develop(image, depth, self.spec.camera, focus, self.spec.ego_speed, rng, phase, sensor_noise)
        return Frame(recorded, visible_boxes, index, t, self.spec.condition)

    def _draw_background(
        self, image: np.ndarray, depth: np.ndarray, emissive: np.ndarray, ego_z: float, t: float
    ) -> None:
        camera, palette = self.camera, self.palette
        horizon = round(camera.horizon)
        draw_sky(image, horizon, palette, self.textures, t)
        for x0, x1, top, shade in self.skyline:
            block = image[int(top) : horizon, int(x0) : int(x1)]
            rows = np.linspace(0.9, 1.05, block.shape[0], dtype=np.float32)[:, None, None]
            block[:] = palette['skyline'] * shade * rows
            depth[int(top) : horizon, int(x0) : int(x1)] = 900.0
        draw_ground(image, depth, camera, self.road_half, self.spec.lanes, self.spec.lane_width, ego_z, palette,
                    self.textures)  # fmt: skip
        for facade in sorted(self.facades, key=lambda f: -(f.z0 + f.length)):
            draw_facade(image, depth, emissive, camera, facade, ego_z, palette, self.textures)

    def _apply_condition(
        self, image: np.ndarray, depth: np.ndarray, emissive: np.ndarray, lights: list[Light], index: int
    ) -> None:
        condition = self.spec.condition
        rng = np.random.default_rng([self.spec.seed, 2, index])
        if condition == 'dusk':
            image *= np.array([0.68, 0.74, 0.9], np.float32)
        if condition.startswith('night'):
            image *= 0.24
            image += emissive
            for u, v, radius, color in lights:
                _glow(image, u, v, radius, color)
        if condition == 'fog':
            transmission = np.exp(-self.spec.fog_density * np.minimum(depth, 400.0))[..., None]
            image[:] = image * transmission + self.palette['fog'] * (1 - transmission)
        if condition in ('rain', 'night_rain'):
            image *= 0.8
            streaks = np.zeros(image.shape[:2], np.float32)
            for _ in range(int(rng.integers(250, 500))):
                x, y = int(rng.integers(image.shape[1])), int(rng.integers(image.shape[0]))
                length = int(rng.integers(8, 22))
                cv2.line(streaks, (x, y), (x + length // 5, y + length), 1.0, 1, cv2.LINE_AA)
            image += (streaks * (60 if condition == 'rain' else 35))[..., None]


def _palette(condition: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    def color(*bgr) -> np.ndarray:
        return np.clip(np.array(bgr, np.float32) + rng.normal(0, 6, 3), 0, 255).astype(np.float32)

    overcast = condition in ('fog', 'rain', 'night_rain')
    return {
        'sky_top': color(200, 170, 130) if not overcast else color(170, 168, 165),
        'sky_bottom': color(235, 215, 190) if not overcast else color(200, 198, 196),
        'cloud': color(238, 236, 234) if not overcast else color(185, 184, 183),
        'skyline': color(150, 140, 135),
        'ground': color(70, 120, 85),
        'pavement': color(150, 150, 148),
        'kerb': color(175, 175, 172),
        'road': np.full(3, rng.uniform(70, 105), np.float32),  # asphalt is grey: light or dark, not tinted
        'marking': color(225, 228, 230),
        'fog': color(205, 205, 205),
        'blinds': color(190, 205, 215),
        'frame': color(200, 200, 200),
        'window_light': color(110, 190, 250),
    }


def _skyline(camera: Camera, rng: np.random.Generator) -> list[tuple[float, float, float, float]]:
    """Distant buildings along the horizon: (x0, x1, top row, shade)."""
    blocks, x = [], 0.0
    while x < camera.width:
        width = float(rng.uniform(20, 70))
        if rng.random() < 0.7:
            blocks.append(
                (
                    x,
                    min(x + width, camera.width),
                    camera.horizon - float(rng.uniform(5, 40)),
                    float(rng.uniform(0.8, 1.1)),
                )
            )
        x += width
    return blocks


def _object_color(kind: str, rng: np.random.Generator) -> tuple[int, int, int]:
    palettes = {
        'car': [
            (40, 40, 40),
            (200, 200, 205),
            (30, 30, 160),
            (140, 80, 30),
            (230, 230, 230),
            (90, 90, 95),
            (40, 110, 40),
        ],
        'truck': [(230, 230, 230), (40, 90, 180), (60, 60, 60), (30, 140, 200)],
        'bus': [(30, 170, 230), (40, 40, 190), (220, 220, 220), (150, 90, 30)],
        'pedestrian': [(60, 40, 30), (30, 30, 120), (90, 90, 90), (120, 60, 20), (40, 100, 160)],
        'cyclist': [(20, 160, 230), (30, 30, 30), (180, 40, 40)],
        'building': [(120, 130, 150), (90, 100, 120), (160, 160, 170), (80, 90, 140), (140, 150, 190)],
        'tree': [(40, 90, 50), (30, 110, 60), (50, 80, 40)],
        'bush': [(35, 85, 45), (40, 100, 70), (45, 75, 35)],
        'lamp': [(70, 70, 70)],
        'pole': [(110, 110, 115)],
        'traffic_sign': [(30, 30, 200), (200, 90, 20), (20, 180, 230)],
        'traffic_light': [(35, 35, 35)],
    }
    options = palettes[kind]
    base = np.array(options[int(rng.integers(len(options)))], np.float32) + rng.normal(0, 10, 3)
    blue, green, red = (int(c) for c in np.clip(base, 0, 255))
    return blue, green, red


def _glow(image: np.ndarray, u: float, v: float, radius: float, color) -> None:
    """Add a soft light of `radius` pixels at (u, v)."""
    size = int(max(3, radius * 4))
    x0, y0 = int(u) - size, int(v) - size
    ys, xs = np.mgrid[y0 : y0 + 2 * size + 1, x0 : x0 + 2 * size + 1]
    inside = (ys >= 0) & (ys < image.shape[0]) & (xs >= 0) & (xs < image.shape[1])
    weight = np.exp(-((xs - u) ** 2 + (ys - v) ** 2) / (2 * radius**2)).astype(np.float32)
    image[ys[inside], xs[inside]] += weight[inside][:, None] * np.array(color, np.float32)


def _draw_actor(image, depth, ids, camera: Camera, actor: Actor, lateral, distance, track_id, night, lights):
    """Draw one actor into its box; return (Box, full pixel area) for annotated ones, or None if off-screen."""
    u0, v_bottom = camera.project(lateral - actor.width / 2, actor.elevation, distance)
    u1, v_top = camera.project(lateral + actor.width / 2, actor.elevation + actor.height, distance)
    width_px, height_px = u1 - u0, v_bottom - v_top
    if u1 < 0 or u0 >= camera.width or v_bottom < 0 or v_top >= camera.height or height_px < 2 or width_px < 1:
        return None
    # draw into a patch with 4x supersampling of small objects, then paste where it is not hidden behind
    x0, y0 = math.floor(u0), math.floor(v_top)
    patch_w, patch_h = math.ceil(u1) - x0 + 1, math.ceil(v_bottom) - y0 + 1
    scale = 4 if max(patch_w, patch_h) < 64 else 1
    patch: np.ndarray = np.zeros((patch_h * scale, patch_w * scale, 3), np.float32)  # supersampled, then resized
    mask: np.ndarray = np.zeros(patch.shape[:2], np.uint8)
    offset = ((u0 - x0) * scale, (v_top - y0) * scale)
    rng = np.random.default_rng(actor.variant)
    DRAWERS[actor.kind](patch, mask, offset, width_px * scale, height_px * scale, actor, rng)
    _surface_detail(patch, rng)
    if scale > 1:
        patch = cv2.resize(patch, (patch_w, patch_h), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (patch_w, patch_h), interpolation=cv2.INTER_AREA)
    full_area = int(np.count_nonzero(mask > 127))
    # clip the patch to the image
    ix0, iy0 = max(x0, 0), max(y0, 0)
    ix1, iy1 = min(x0 + patch_w, camera.width), min(y0 + patch_h, camera.height)
    if ix1 <= ix0 or iy1 <= iy0:
        return None
    sub = (slice(iy0 - y0, iy1 - y0), slice(ix0 - x0, ix1 - x0))
    region = (slice(iy0, iy1), slice(ix0, ix1))
    alpha = (mask[sub].astype(np.float32) / 255)[..., None]
    image[region] = image[region] * (1 - alpha) + patch[sub] * alpha
    solid = mask[sub] > 127
    depth[region][solid] = distance
    ids[region][solid] = track_id
    if night:
        _add_lights(lights, actor, u0, v_top, width_px, height_px)
    if not actor.annotated:
        return None
    box = Box(
        category=actor.kind, x0=float(max(u0, 0)), y0=float(max(v_top, 0)),
        x1=float(min(u1, camera.width)), y1=float(min(v_bottom, camera.height)),
        distance=float(distance), visible=1.0, transmission=1.0, track_id=track_id,
        truncated=bool(u0 < 0 or u1 > camera.width or v_top < 0 or v_bottom > camera.height),
    )  # fmt: skip
    return box, full_area


def _surface_detail(patch: np.ndarray, rng: np.random.Generator) -> None:
    """Light from above and mottling (dirt, reflections) on an object's own scale."""
    height, width = patch.shape[:2]
    rows = np.linspace(1.1, 0.88, height, dtype=np.float32)[:, None]
    mottling = cv2.resize(rng.standard_normal((6, 6)).astype(np.float32), (width, height),
                          interpolation=cv2.INTER_CUBIC)  # fmt: skip
    patch *= (rows * (1 + 0.07 * mottling))[..., None]


def _add_lights(lights: list[Light], actor: Actor, u0: float, v_top: float, width: float, height: float) -> None:
    """Lights that stay bright at night: vehicle lamps, street lamps, the lit lamp of a traffic light."""
    if actor.kind in ('car', 'truck', 'bus'):
        color = (40, 40, 255) if actor.facing > 0 else (230, 240, 255)
        radius = max(1.0, width * 0.06)
        row = v_top + height * (0.62 if actor.kind == 'car' else 0.8)
        lights.append((u0 + width * 0.15, row, radius, color))
        lights.append((u0 + width * 0.85, row, radius, color))
    elif actor.kind == 'lamp':
        lights.append((u0 + width / 2, v_top + 2, max(2.0, width * 2), (150, 210, 255)))
    elif actor.kind == 'traffic_light':
        lights.append(
            (u0 + width / 2, v_top + height * (0.2 + 0.3 * (actor.variant % 3)), max(1.0, width * 0.3), (60, 255, 60))
        )


# ---- shapes: each drawer fills `patch` and `mask` for an object whose box starts at `offset` -----------
def _rect(patch, mask, x0, y0, x1, y1, color) -> None:
    cv2.rectangle(patch, (int(x0), int(y0)), (int(x1), int(y1)), color, -1)
    cv2.rectangle(mask, (int(x0), int(y0)), (int(x1), int(y1)), 255, -1)


def _ellipse(patch, mask, cx, cy, rx, ry, color) -> None:
    center, axes = (int(cx), int(cy)), (max(int(rx), 1), max(int(ry), 1))
    cv2.ellipse(patch, center, axes, 0, 0, 360, color, -1)
    cv2.ellipse(mask, center, axes, 0, 0, 360, 255, -1)


def _poly(patch, mask, points, color) -> None:
    points = np.round(np.array(points)).astype(np.int32)
    cv2.fillPoly(patch, [points], color)
    cv2.fillPoly(mask, [points], 255)


def _shade(color, factor: float) -> tuple[float, float, float]:
    blue, green, red = (float(min(255, c * factor)) for c in color)
    return blue, green, red


def _draw_car(patch, mask, offset, w, h, actor, rng) -> None:
    ox, oy = offset
    body_top = oy + h * 0.45
    _rect(patch, mask, ox, body_top, ox + w, oy + h * 0.9, actor.color)
    _poly(patch, mask, [(ox + w * 0.12, body_top), (ox + w * 0.22, oy), (ox + w * 0.78, oy), (ox + w * 0.88, body_top)],
          _shade(actor.color, 0.9))  # fmt: skip
    _poly(patch, mask, [(ox + w * 0.2, body_top - 1), (ox + w * 0.27, oy + h * 0.08), (ox + w * 0.73, oy + h * 0.08),
                        (ox + w * 0.8, body_top - 1)], (60, 50, 45))  # fmt: skip
    lamp = (30, 30, 200) if actor.facing > 0 else (200, 220, 230)
    _rect(patch, mask, ox + w * 0.04, oy + h * 0.55, ox + w * 0.2, oy + h * 0.66, lamp)
    _rect(patch, mask, ox + w * 0.8, oy + h * 0.55, ox + w * 0.96, oy + h * 0.66, lamp)
    _rect(patch, mask, ox + w * 0.35, oy + h * 0.7, ox + w * 0.65, oy + h * 0.8, (200, 200, 200))
    for x in (0.08, 0.72):
        _rect(patch, mask, ox + w * x, oy + h * 0.85, ox + w * (x + 0.2), oy + h, (20, 20, 20))


def _draw_truck(patch, mask, offset, w, h, actor, rng) -> None:
    ox, oy = offset
    if actor.facing > 0:  # the cargo box from behind
        _rect(patch, mask, ox, oy, ox + w, oy + h * 0.88, actor.color)
        _rect(patch, mask, ox + w * 0.48, oy + h * 0.05, ox + w * 0.52, oy + h * 0.85, _shade(actor.color, 0.7))
    else:  # the cab from the front, the box above and behind it
        _rect(patch, mask, ox + w * 0.03, oy, ox + w * 0.97, oy + h * 0.5, _shade(actor.color, 0.85))
        _rect(patch, mask, ox, oy + h * 0.35, ox + w, oy + h * 0.88, actor.color)
        _rect(patch, mask, ox + w * 0.1, oy + h * 0.4, ox + w * 0.9, oy + h * 0.6, (70, 60, 55))
    for x in (0.05, 0.75):
        _rect(patch, mask, ox + w * x, oy + h * 0.84, ox + w * (x + 0.2), oy + h, (20, 20, 20))
    lamp = (30, 30, 200) if actor.facing > 0 else (200, 220, 230)
    _rect(patch, mask, ox + w * 0.03, oy + h * 0.74, ox + w * 0.13, oy + h * 0.82, lamp)
    _rect(patch, mask, ox + w * 0.87, oy + h * 0.74, ox + w * 0.97, oy + h * 0.82, lamp)


def _draw_bus(patch, mask, offset, w, h, actor, rng) -> None:
    ox, oy = offset
    _rect(patch, mask, ox, oy, ox + w, oy + h * 0.92, actor.color)
    _rect(patch, mask, ox + w * 0.06, oy + h * 0.1, ox + w * 0.94, oy + h * 0.45, (70, 55, 45))
    _rect(patch, mask, ox + w * 0.2, oy + h * 0.02, ox + w * 0.8, oy + h * 0.08, (30, 200, 240))
    for x in (0.06, 0.74):
        _rect(patch, mask, ox + w * x, oy + h * 0.86, ox + w * (x + 0.2), oy + h, (20, 20, 20))


def _draw_person(patch, mask, offset, w, h, actor, rng, legs: bool = True) -> None:
    ox, oy = offset
    skin = (int(rng.integers(60, 170)), int(rng.integers(90, 190)), int(rng.integers(130, 220)))
    trousers = (int(rng.integers(20, 90)), int(rng.integers(20, 80)), int(rng.integers(20, 70)))
    _ellipse(patch, mask, ox + w * 0.5, oy + h * 0.07, w * 0.2, h * 0.07, skin)
    _poly(patch, mask, [(ox + w * 0.15, oy + h * 0.15), (ox + w * 0.85, oy + h * 0.15), (ox + w * 0.78, oy + h * 0.52),
                        (ox + w * 0.22, oy + h * 0.52)], actor.color)  # fmt: skip
    if legs:
        stride = 0.12 * math.sin(actor.variant % 7)
        _rect(patch, mask, ox + w * (0.25 + stride), oy + h * 0.5, ox + w * (0.47 + stride), oy + h, trousers)
        _rect(patch, mask, ox + w * (0.53 - stride), oy + h * 0.5, ox + w * (0.75 - stride), oy + h, trousers)


def _draw_cyclist(patch, mask, offset, w, h, actor, rng) -> None:
    ox, oy = offset
    _draw_person(patch, mask, offset, w, h * 0.75, actor, rng, legs=False)
    _rect(patch, mask, ox + w * 0.3, oy + h * 0.38, ox + w * 0.7, oy + h * 0.7, (40, 40, 60))
    _ellipse(patch, mask, ox + w * 0.5, oy + h * 0.84, w * 0.12, h * 0.16, (25, 25, 25))
    _rect(patch, mask, ox, oy + h * 0.5, ox + w, oy + h * 0.55, (120, 120, 130))


def _draw_sign(patch, mask, offset, w, h, actor, rng) -> None:
    ox, oy = offset
    shape = actor.variant % 3
    if shape == 0:
        _ellipse(patch, mask, ox + w / 2, oy + h / 2, w / 2, h / 2, actor.color)
        _ellipse(patch, mask, ox + w / 2, oy + h / 2, w * 0.34, h * 0.34, (235, 235, 235))
    elif shape == 1:
        _poly(patch, mask, [(ox + w / 2, oy), (ox + w, oy + h), (ox, oy + h)], (30, 30, 210))
        _poly(patch, mask, [(ox + w / 2, oy + h * 0.3), (ox + w * 0.78, oy + h * 0.85), (ox + w * 0.22, oy + h * 0.85)],
              (235, 235, 235))  # fmt: skip
    else:
        _rect(patch, mask, ox, oy, ox + w, oy + h, actor.color)
        _rect(patch, mask, ox + w * 0.15, oy + h * 0.15, ox + w * 0.85, oy + h * 0.85, (235, 235, 235))


def _draw_light(patch, mask, offset, w, h, actor, rng) -> None:
    ox, oy = offset
    _rect(patch, mask, ox, oy, ox + w, oy + h, actor.color)
    lit = actor.variant % 3
    for slot, color in enumerate(((40, 40, 230), (40, 200, 230), (60, 220, 60))):
        shade = color if slot == lit else _shade(color, 0.25)
        _ellipse(patch, mask, ox + w / 2, oy + h * (0.2 + 0.3 * slot), w * 0.3, h * 0.11, shade)


def _foliage(patch, mask, cx, cy, rx, ry, color, rng) -> None:
    """Leaf clusters filling an ellipse with a ragged outline, darker underneath."""
    height, width = patch.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = (xs - cx) / max(rx, 1), (ys - cy) / max(ry, 1)
    angle = np.arctan2(dy, dx)
    outline = 0.85 + 0.12 * sum(np.sin(k * angle + rng.uniform(0, 6.3)) / k for k in (3, 5, 7, 11))

    def field(cells: int) -> np.ndarray:
        grid = rng.standard_normal((cells, cells)).astype(np.float32)
        return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)

    clusters = field(7) * 0.5 + field(18) * 0.5
    crown = np.hypot(dx, dy) < outline + 0.08 * clusters
    shade = (0.8 + 0.25 * np.tanh(clusters) - 0.2 * np.clip(dy, 0, 1))[crown]
    patch[crown] = np.array(color, np.float32) * shade[:, None]
    mask[crown] = 255


def _draw_tree(patch, mask, offset, w, h, actor, rng) -> None:
    ox, oy = offset
    _rect(patch, mask, ox + w * 0.45, oy + h * 0.55, ox + w * 0.55, oy + h, (40, 60, 80))
    _foliage(patch, mask, ox + w / 2, oy + h * 0.35, w / 2, h * 0.35, actor.color, rng)


def _draw_bush(patch, mask, offset, w, h, actor, rng) -> None:
    ox, oy = offset
    _foliage(patch, mask, ox + w / 2, oy + h * 0.55, w / 2, h * 0.5, actor.color, rng)


def _draw_lamp(patch, mask, offset, w, h, actor, rng) -> None:
    ox, oy = offset
    _rect(patch, mask, ox, oy, ox + max(w, 1), oy + h, actor.color)


DRAWERS = {
    'car': _draw_car, 'truck': _draw_truck, 'bus': _draw_bus, 'pedestrian': _draw_person,
    'cyclist': _draw_cyclist, 'traffic_sign': _draw_sign, 'traffic_light': _draw_light,
    'tree': _draw_tree, 'bush': _draw_bush, 'lamp': _draw_lamp, 'pole': _draw_lamp,
}  # fmt: skip


def sample_frames(count: int, seed: int) -> list[np.ndarray]:
    """`count` camera images (BGR), each from its own drive, cycling through the conditions (seeds from `seed`).

    For calibration and benchmarks: pick a seed that no training set uses.
    """
    conditions = [CONDITIONS[i % len(CONDITIONS)] for i in range(count)]
    specs = [DriveSpec.sample(seed + i, frames=8, fps=5, condition=c) for i, c in enumerate(conditions)]
    return [Drive(spec).render(4).image for spec in specs]
