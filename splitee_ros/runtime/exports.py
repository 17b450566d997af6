# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""ONNX exports of a model package, made once per model id into a cache folder (they are never committed)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

from splitee_ros.model.package import ModelPackage
from splitee_ros.runtime.spec import LAYOUT, OPSET, RuntimeSpec


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` (processes that fill one cache wait for each other)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def cache_root() -> Path:
    """Where exports and engines go: `$SPLITEE_CACHE`, else `~/.cache/splitee_ros`."""
    return Path(os.environ.get('SPLITEE_CACHE') or Path.home() / '.cache' / 'splitee_ros')


def export_folder(package: ModelPackage, root: str | Path | None = None) -> Path:
    """The folder of `package`'s ONNX exports under `root` (by model id, opset and layout of the graphs)."""
    return Path(root or cache_root()) / package.model_id.hex() / f'onnx-opset{OPSET}-v{LAYOUT}'


def is_exported(folder: Path, model_id: bytes) -> bool:
    """Whether `folder` holds a complete export of the model `model_id`."""
    from splitee_ros.runtime.base import graphs_of

    try:
        spec = RuntimeSpec.load(folder)
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return False
    if spec.model_id != model_id.hex():
        return False
    return all((folder / f'{graph}.onnx').is_file() for graph in graphs_of(spec, 'both', full=True))


def ensure_exported(package: ModelPackage, root: str | Path | None = None) -> Path:
    """Export every split's head and tail graph and the full graph of `package`, unless done; return the folder.

    The export is written to a temporary folder and moved into place, so that a crash leaves no half export;
    a file lock makes processes that start together export once.
    """
    folder = export_folder(package, root)
    if is_exported(folder, package.model_id):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(folder.parent / '.export.lock'):  # vehicle and edge nodes on one host start together
        if is_exported(folder, package.model_id):
            return folder
        from splitee_ros.model.export import export_all, export_full  # PyTorch: only when exporting

        detector = package.detector().eval()
        with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
            staging = Path(scratch) / 'export'
            export_all(detector, staging)
            export_full(detector, staging)
            RuntimeSpec.from_detector(detector, package.model_id).save(staging)
            if folder.exists():
                shutil.rmtree(folder)
            staging.rename(folder)
    return folder
