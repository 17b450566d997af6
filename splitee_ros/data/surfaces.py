# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The textured surfaces of a synthetic scene: sky with clouds, the ground plane, building facades.

Every surface is shaded per pixel from the world point the pixel sees (`texture.py`), so grain, paving joints,
lane dashes, bricks and windows keep their place in the world as the camera moves, shrink with distance, and
average out (rather than alias) where a pixel covers more than they do. This is what gives the frames the
statistics of a camera's: a flat-shaded scene is about three times easier for JPEG than a street photograph.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from splitee_ros.data.texture import NoiseField, cell_hash, pulse_train

MATERIALS = ('brick', 'concrete', 'plaster', 'glass')
PAVEMENT_WIDTH = 2.5  # metres beyond the kerb
LINE_WIDTH = {'edge': 0.16, 'lane': 0.12}
DASH_PERIOD, DASH_LENGTH = 9.0, 3.0


def _step(edge: float, x: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """0 before `edge`, 1 after it, blended over one pixel."""
    return np.clip((x - edge) / np.maximum(footprint, 1e-6) + 0.5, 0.0, 1.0).astype(np.float32)


def _line(centre: float, width: float, x: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Coverage of a band of `width` centred at `centre`."""
    return pulse_train(x - centre + width / 2, 1e4, width, footprint)


@dataclass(frozen=True)
class Facade:
    """A building's front along the road: a vertical plane at `lateral`, from z0 for `length` metres."""

    lateral: float
    z0: float
    length: float
    height: float
    color: tuple[int, int, int]
    floors: int
    columns: int
    material: str
    shopfront: bool
    seed: int


class SceneTextures:
    """The noise fields of one drive (drawn once, so that every frame sees the same world)."""

    def __init__(self, rng: np.random.Generator, overcast: bool) -> None:
        """Draw the fields; `overcast` skies are denser and greyer."""
        self.asphalt = NoiseField(rng, (0.012, 0.04, 0.15, 0.6), (0.11, 0.08, 0.05, 0.04))
        self.wear = NoiseField(rng, (1.5, 6.0), (0.5, 0.5))
        self.pavement = NoiseField(rng, (0.015, 0.05, 0.4, 2.0), (0.05, 0.04, 0.04, 0.05))
        self.grass = NoiseField(rng, (0.02, 0.06, 0.25, 1.5), (0.15, 0.15, 0.12, 0.12))
        self.paint = NoiseField(rng, (0.05, 0.5), (0.35, 0.35))
        self.stains = NoiseField(rng, (0.05, 0.25, 1.0, 4.0), (0.03, 0.04, 0.05, 0.06))
        self.clouds = NoiseField(rng, (12.0, 40.0, 120.0), (0.25, 0.45, 0.6))
        self.cloud_cover = float(rng.uniform(0.45, 0.8) if overcast else rng.uniform(-0.4, 0.6))
        self.cloud_drift = float(rng.uniform(-3, 3))  # pixels per second
        self.slab = float(rng.choice([0.4, 0.6, 1.0]))
        self.tyre_tracks = float(rng.uniform(0.03, 0.09))
        self.marking_wear = float(rng.uniform(0.0, 0.5))


def draw_sky(image: np.ndarray, horizon: int, palette: dict, textures: SceneTextures, t: float) -> None:
    """Gradient sky with clouds (screen-space: they are far enough not to move with the car)."""
    if horizon <= 0:
        return
    rows = np.arange(horizon, dtype=np.float32)
    sky_t = np.clip(rows / max(horizon, 1), 0, 1)[:, None, None]
    gradient = palette['sky_top'] * (1 - sky_t) + palette['sky_bottom'] * sky_t
    v, u = np.mgrid[0:horizon, 0 : image.shape[1]].astype(np.float32)
    density = textures.clouds.sample(u + textures.cloud_drift * t, v * 2.5, 1.0) + textures.cloud_cover
    cover = np.clip(density, 0, 1)[..., None]
    shade = (1.0 - 0.25 * np.clip(density - 0.5, 0, 1))[..., None]  # thick cloud is darker underneath
    image[:horizon] = gradient * (1 - cover) + palette['cloud'] * shade * cover


def draw_ground(
    image: np.ndarray,
    depth: np.ndarray,
    camera,
    road_half: float,
    lanes: int,
    lane_width: float,
    ego_z: float,
    palette: dict,
    textures: SceneTextures,
) -> None:
    """Road, kerbs, paving and verge per pixel below the horizon, with lane markings."""
    top = round(camera.horizon)  # the sky ends there
    v, u = np.mgrid[top : camera.height, 0 : camera.width].astype(np.float32)
    rows = np.maximum(v - camera.horizon + 0.5, 0.25)
    z = camera.focal * camera.mount_height / rows
    x = (u + 0.5 - camera.width / 2) * z / camera.focal
    depth[top:] = z
    along = z + ego_z
    fx = z / camera.focal  # metres per pixel across the road
    fz = z * z / (camera.focal * camera.mount_height)  # ... and along it
    footprint = np.sqrt(fx * fz)
    side = np.abs(x)

    grain = textures.asphalt.sample(x, along, footprint)
    wear = textures.wear.sample(x, along, footprint)
    patches = np.clip((wear - 0.6) * 4, 0, 1) * 0.18  # darker repairs
    lane_offset = np.mod(x + road_half, lane_width) - lane_width / 2
    tracks = np.exp(-(((np.abs(lane_offset) - 0.75) / 0.3) ** 2)) * textures.tyre_tracks
    road = palette['road'] * (1 + grain - patches - tracks + 0.04 * wear)[..., None]

    joints = 1 - 0.35 * (pulse_train(x, textures.slab, 0.015, fx) + pulse_train(along, textures.slab, 0.015, fz))
    cells = (np.floor(x / textures.slab), np.floor(along / textures.slab))
    slab_tone = (cell_hash(*cells, seed=7) - 0.5) * 0.12 * np.clip(textures.slab / footprint / 3 - 1, 0, 1)
    paving = joints * (1 + slab_tone + textures.pavement.sample(x, along, footprint))
    pavement = palette['pavement'] * paving[..., None]
    kerb = palette['kerb'] * (1 + textures.pavement.sample(along, x, footprint))[..., None]
    verge = palette['ground'] * (1 + textures.grass.sample(x, along, footprint))[..., None]

    on_road = (1 - _step(road_half, side, fx))[..., None]
    on_kerb = (1 - _step(road_half + 0.2, side, fx))[..., None] - on_road
    on_pavement = (1 - _step(road_half + PAVEMENT_WIDTH, side, fx))[..., None] - on_road - on_kerb
    ground = road * on_road + kerb * on_kerb + pavement * on_pavement + verge * (1 - on_road - on_kerb - on_pavement)

    marking = np.zeros(x.shape, np.float32)
    for lane in range(lanes + 1):
        centre = -road_half + lane * lane_width
        if lane in (0, lanes):
            marking += _line(centre, LINE_WIDTH['edge'], x, fx)
        else:
            marking += _line(centre, LINE_WIDTH['lane'], x, fx) * pulse_train(along, DASH_PERIOD, DASH_LENGTH, fz)
    paint = np.clip(1 - textures.marking_wear * (0.5 + textures.paint.sample(x, along, footprint)), 0, 1)
    coverage = (np.clip(marking, 0, 1) * paint)[..., None]
    image[top:] = ground * (1 - coverage) + palette['marking'] * (1 + grain[..., None]) * coverage


def make_facades(road_half: float, z_end: float, rng: np.random.Generator, palette_color) -> list[Facade]:
    """Buildings along both sides of the road, with gaps between some of them."""
    facades = []
    for side in (-1, 1):
        z = float(rng.uniform(-10, 10))
        while z < z_end:
            length = float(rng.uniform(8, 25))
            if rng.random() < 0.8:
                height = float(rng.uniform(6, 24))
                facades.append(Facade(
                    lateral=side * (road_half + PAVEMENT_WIDTH + float(rng.uniform(3, 8))), z0=z, length=length,
                    height=height, color=palette_color('building', rng), floors=max(2, int(height / 3)),
                    columns=max(2, int(length / 3.5)), material=str(rng.choice(MATERIALS, p=[0.35, 0.25, 0.3, 0.1])),
                    shopfront=bool(rng.random() < 0.4), seed=int(rng.integers(1 << 30)),
                ))  # fmt: skip
            z += length + float(rng.uniform(0, 6))
    return facades


def draw_facade(
    image: np.ndarray,
    depth: np.ndarray,
    emissive: np.ndarray,
    camera,
    facade: Facade,
    ego_z: float,
    palette: dict,
    textures: SceneTextures,
) -> None:
    """Draw a facade (wall material, windows, lit windows into `emissive`) where it is visible."""
    near, far = max(facade.z0 - ego_z, 1.0), facade.z0 + facade.length - ego_z
    if far <= near:
        return
    corners = [camera.project(facade.lateral, up, z) for up, z in
               ((0, near), (facade.height, near), (facade.height, far), (0, far))]  # fmt: skip
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    x0, x1 = max(int(np.floor(min(xs))), 0), min(int(np.ceil(max(xs))) + 1, camera.width)
    y0, y1 = max(int(np.floor(min(ys))), 0), min(int(np.ceil(max(ys))) + 1, camera.height)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    points = np.round((np.array(corners) - [x0, y0]) * 16).astype(np.int32)
    cv2.fillConvexPoly(mask, points, 255, cv2.LINE_AA, shift=4)
    alpha = mask.astype(np.float32) / 255
    if not alpha.any():
        return
    v, u = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    offset = u + 0.5 - camera.width / 2
    offset = np.where(np.abs(offset) < 0.5, 0.5, offset) * np.sign(facade.lateral)
    z = np.clip(camera.focal * abs(facade.lateral) / np.maximum(offset, 0.5), near, far)
    up = camera.mount_height - (v + 0.5 - camera.horizon) * z / camera.focal
    along = z + ego_z - facade.z0
    fz = z * z / (camera.focal * abs(facade.lateral))
    fu = z / camera.focal
    color, lit = _facade_shading(facade, along, up, fz, fu, palette, textures)
    region = (slice(y0, y1), slice(x0, x1))
    a = alpha[..., None]
    image[region] = image[region] * (1 - a) + color * a
    emissive[region] = emissive[region] * (1 - a) + lit * a
    solid = alpha > 0.5
    depth[region][solid] = z[solid]


def _facade_shading(
    facade: Facade, along: np.ndarray, up: np.ndarray, fz: np.ndarray, fu: np.ndarray, palette: dict, textures
) -> tuple[np.ndarray, np.ndarray]:
    """Colour of the wall and its windows, and the light of lit windows, at facade coordinates (along, up)."""
    base = np.array(facade.color, np.float32)
    footprint = np.sqrt(fz * fu)
    stains = textures.stains.sample(along + facade.seed % 997, up * 0.3, footprint)
    dirt = 1 - 0.15 * np.exp(-up / 0.6)
    if facade.material == 'brick':
        mortar = np.clip(pulse_train(up, 0.075, 0.012, fu) + pulse_train(
            along + np.floor(up / 0.075) % 2 * 0.12, 0.24, 0.012, fz), 0, 1)  # fmt: skip
        brick = cell_hash(np.floor(up / 0.075), np.floor(along / 0.24 + np.floor(up / 0.075) % 2 * 0.5), facade.seed)
        brick_tone = 1 + (brick - 0.5) * 0.25 * np.clip(0.075 / fu / 3 - 1, 0, 1)
        wall = base * ((brick_tone * (1 - mortar) + 1.35 * mortar) * (1 + stains) * dirt)[..., None]
    elif facade.material == 'concrete':
        seams = np.clip(pulse_train(along, 1.5, 0.02, fz) + pulse_train(up, 1.2, 0.02, fu), 0, 1)
        streaks = textures.stains.sample(along * 2.0, up * 0.1, footprint)
        wall = base * ((1 - 0.3 * seams) * (1 + stains + 1.5 * streaks) * dirt)[..., None]
    else:  # plaster, and the spandrels of a glass front
        wall = base * ((1 + 1.3 * stains) * dirt)[..., None]

    floor_height = facade.height / facade.floors
    bay = facade.length / facade.columns
    glass_duty = 0.85 if facade.material == 'glass' else 0.5
    window_width = bay * glass_duty
    start = bay * (1 - glass_duty) / 2
    window_height = floor_height * (0.8 if facade.material == 'glass' else 0.45)
    across = pulse_train(along - start, bay, window_width, fz)
    rows = pulse_train(up - floor_height * 0.3, floor_height, window_height, fu)
    if facade.shopfront:
        rows = np.where(up < floor_height, pulse_train(up - 0.3, 1e4, floor_height * 0.7, fu), rows)
        across = np.where(up < floor_height, pulse_train(along - 0.3, bay, bay - 0.6, fz), across)
    frame = np.clip(
        pulse_train(along - start + 0.06, bay, window_width + 0.12, fz)
        * pulse_train(up - floor_height * 0.3 + 0.06, floor_height, window_height + 0.12, fu)
        - across * rows, 0, 1,
    )  # fmt: skip
    mullion = pulse_train(along - start - window_width / 2 + 0.04, bay, 0.08, fz) * across * rows
    frame = np.clip(frame + mullion, 0, 1)
    window = across * rows - mullion
    cell = (np.floor((along - start) / bay), np.floor((up - floor_height * 0.3) / floor_height))
    kind = cell_hash(*cell, seed=facade.seed + 1)
    reflection = np.clip((up - floor_height * 0.3) % floor_height / max(window_height, 1e-3), 0, 1)
    sky = palette['sky_bottom'] * 0.55 + palette['sky_top'] * 0.15
    glass = sky * (0.55 + 0.45 * reflection)[..., None] * (1 + 2 * stains)[..., None]
    blinds = palette['blinds'] * (0.9 + 0.1 * reflection)[..., None]
    glass = np.where((kind < 0.25)[..., None], blinds, np.where((kind > 0.7)[..., None], glass * 0.55, glass))
    color = wall * (1 - window - frame)[..., None] + glass * window[..., None] + palette['frame'] * frame[..., None]
    lit_windows = (cell_hash(*cell, seed=facade.seed + 2) < 0.3).astype(np.float32)
    lit = palette['window_light'] * (window * lit_windows * (0.7 + 0.3 * kind))[..., None]
    return color, lit
