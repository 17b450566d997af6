# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Model packages: `models/<name>/` with manifest.yaml, weights, entropy tables, model card and profile.

The manifest names the model (the `model:` entry is a model config, weights relative to the folder), and
lists the split points with the shape and size of what crosses the link, and the SHA-256 of the package's
weights and entropy tables (`files`), which loading checks. Its SHA-256 is the model id that every wire frame
carries, so both ends know they run the same package, weights and tables included: two trainings with the
same manifest, or a weights file swapped by hand, cannot pass for each other. The manifest ends with the
package's `defaults` (split, codec, exit threshold: the operating point `splitee eval` measured); they change
nothing on the wire, so the model id leaves them out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from splitee_ros.codec.frame import WireSpec, model_id_of
from splitee_ros.codec.learned import learned_codecs, read_tables
from splitee_ros.codec.registry import CODECS_BY_ID, Codec
from splitee_ros.digest import sha256_file
from splitee_ros.errors import SpliteeError
from splitee_ros.model.config import ModelConfig, load_model_config

if TYPE_CHECKING:  # PyTorch loads only where weights do: reading a package and coding need none
    from splitee_ros.model.detector import SplittableDetector
    from splitee_ros.model.rate import RateLevels

MANIFEST = 'manifest.yaml'
WEIGHTS = 'weights.pt'
ENTROPY_TABLES = 'entropy_tables.npz'


def _config_entry(config: ModelConfig) -> dict[str, Any]:
    entry = asdict(config)
    entry['bottlenecks'] = {split: asdict(value) for split, value in config.bottlenecks.items()}
    entry['exits'] = {split: asdict(value) for split, value in config.exits.items()}
    for key in ('class_names', 'input_size', 'splits'):
        if entry[key] is not None:
            entry[key] = list(entry[key])
    for table in entry['exits'].values():
        table['anchor_sizes'] = list(table['anchor_sizes'])
    entry['postprocess'] = dict(config.postprocess)
    entry['options'] = dict(config.options)
    return entry


def write_package(
    folder: str | Path,
    config: ModelConfig,
    detector: SplittableDetector,
    entropy_models: dict[str, RateLevels] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write weights, entropy tables and the manifest of `detector` into `folder`; return the manifest path."""
    import torch

    from splitee_ros.model.rate import export_tables

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(detector.state_dict(), folder / WEIGHTS)
    split_names = list(detector.split_points)
    entry = _config_entry(config) | {'weights': WEIGHTS, 'torchvision_weights': None}
    manifest: dict[str, Any] = {'format': 1, 'model': entry, 'splits': []}
    for index, (name, point) in enumerate(detector.split_points.items()):
        with torch.no_grad():
            code = detector.head(name, exits=False)(torch.zeros(1, 3, *detector.input_size))['code']
        values = int(np.prod(code.shape))
        manifest['splits'].append({
            'name': name, 'index': index, 'stage_index': point.stage_index, 'cut_shape': list(point.shape),
            'stride': point.stride, 'bottleneck': name in detector.bottlenecks, 'code_shape': list(code.shape),
            'bytes': {'fp32': 4 * values, 'fp16': 2 * values, 'int8': values}, 'exit': name in detector.exits,
        })  # fmt: skip
    if entropy_models:
        np.savez(
            folder / ENTROPY_TABLES,
            allow_pickle=False,
            **export_tables({split_names.index(n): m for n, m in entropy_models.items()}),
        )
        manifest['codecs'] = {'learned': {'tables': ENTROPY_TABLES, 'splits': sorted(entropy_models)}}
    manifest['files'] = {name: sha256_file(folder / name) for name in (WEIGHTS, ENTROPY_TABLES)
                         if (folder / name).is_file() and (name == WEIGHTS or entropy_models)}  # fmt: skip
    manifest |= extra or {}
    path = folder / MANIFEST
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return path


@dataclass
class ModelPackage:
    """A loaded model package."""

    folder: Path
    manifest: dict[str, Any]
    model_id: bytes
    config: ModelConfig

    @classmethod
    def load(cls, folder: str | Path) -> ModelPackage:
        """Read the manifest (the weights load with `detector()`)."""
        folder = Path(folder)
        manifest_bytes = (folder / MANIFEST).read_bytes()
        identity = model_id_of(_without_defaults(manifest_bytes))
        manifest = yaml.safe_load(manifest_bytes)
        for name, digest in (manifest.get('files') or {}).items():
            path = folder / name
            if not path.is_file():
                raise FileNotFoundError(f'model package {folder}: its manifest lists {name}, which is missing')
            if sha256_file(path) != digest:
                raise PackageChangedError(
                    f'model package {folder}: {name} is not the file its manifest was written with (SHA-256 '
                    'differs): the package was changed by hand; write it again (`splitee train`)'
                )
        return cls(folder, manifest, identity, load_model_config(folder))

    @property
    def defaults(self) -> dict[str, Any]:
        """The package's operating point (`split`, `codec`, `exit_threshold`), as far as it has one."""
        return dict(self.manifest.get('defaults') or {})

    def detector(self) -> SplittableDetector:
        """Build the detector with the package's weights (this loads PyTorch)."""
        from splitee_ros.model.families import build_detector

        return build_detector(self.config)

    @property
    def split_names(self) -> list[str]:
        """Split points in wire order (the frame's split index)."""
        return [split['name'] for split in self.manifest['splits']]

    def codecs(self) -> dict[int, Codec]:
        """Every codec by id, the learned ones (a codec per rate level) included when the package has tables."""
        codecs: dict[int, Codec] = dict(CODECS_BY_ID)
        learned = self.manifest.get('codecs', {}).get('learned')
        if learned:
            tables = read_tables(self.folder / learned['tables'])
            codecs |= {codec.codec_id: codec for codec in learned_codecs(tables)}
        return codecs

    def wire_spec(self, max_bytes: int = 64 << 20) -> WireSpec:
        """What a decoder of this package's frames accepts."""
        shapes = tuple(tuple(split['code_shape']) for split in self.manifest['splits'])
        return WireSpec(self.model_id, shapes, max_bytes=max_bytes, codecs=self.codecs())


DEFAULTS_KEY = b'defaults:'


class PackageChangedError(SpliteeError, ValueError):
    """A package file that is not the one its manifest (and so its model id) was written with."""


def _without_defaults(manifest: bytes) -> bytes:
    """The manifest without its `defaults` section (the last top-level entry, as `write_defaults` puts it)."""
    lines = manifest.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.startswith(DEFAULTS_KEY):
            return b''.join(lines[:index])
    return manifest


def write_defaults(folder: str | Path, defaults: dict[str, Any]) -> None:
    """Set the package's operating point: replaces the manifest's `defaults` section; the model id stays."""
    path = Path(folder) / MANIFEST
    kept = _without_defaults(path.read_bytes())
    path.write_bytes(kept + yaml.safe_dump({'defaults': defaults}, sort_keys=False).encode())


def find_package(name_or_path: str | Path) -> Path:
    """A model package folder, from a path or a name.

    A name is looked up under the installed `share/splitee_ros/models/`, then in a development checkout's
    `models/`. FileNotFoundError lists where it looked.
    """
    path = Path(name_or_path)
    candidates = [path]
    if len(path.parts) == 1:
        candidates += [folder / path for folder in _model_folders()]
    for candidate in candidates:
        if (candidate / MANIFEST).is_file():
            return candidate
    raise FileNotFoundError(f'no model package {str(name_or_path)!r}: looked in {[str(c) for c in candidates]}')


def _model_folders() -> list[Path]:
    folders = []
    try:
        from ament_index_python.packages import get_package_share_directory

        folders.append(Path(get_package_share_directory('splitee_ros')) / 'models')
    except (ImportError, LookupError):  # no ament index here, or the package is not installed in it
        pass
    return [*folders, Path(__file__).resolve().parents[2] / 'models']
