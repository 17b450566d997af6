# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What a runtime needs besides the graphs: sizes, split points, output kind, post-processing, anchors.

A `RuntimeSpec` is made from a PyTorch detector, and saved beside the ONNX exports (`runtime.yaml` and
`constants.npz`) so that ONNX Runtime and TensorRT run a package without PyTorch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import yaml

from splitee_ros.model.postprocess import PostprocessConfig

if TYPE_CHECKING:
    from splitee_ros.model.detector import SplittableDetector

SPEC_FILE = 'runtime.yaml'
CONSTANTS_FILE = 'constants.npz'
OPSET = 17
LAYOUT = 2  # of the exported graphs; 2: a dynamic batch axis
FULL_GRAPH = 'full'  # the whole model's graph, beside each split's head and tail
Side = Literal['head', 'tail']


def graph_name(split: str, side: Side) -> str:
    """Name of a split's head or tail graph (also its ONNX file stem)."""
    return f'{split}.{side}'


@dataclass(frozen=True)
class SplitSpec:
    """One split point as the runtimes see it."""

    name: str
    index: int
    code_shape: tuple[int, ...]
    exits: tuple[str, ...]  # exit heads in this split's head graph, the split's own last if it has one


@dataclass(frozen=True)
class RuntimeSpec:
    """A model package reduced to what pre-processing, the graphs and post-processing need."""

    model_id: str  # hex of the package's model id
    output_kind: str
    input_size: tuple[int, int]
    class_names: tuple[str, ...]
    postprocess: PostprocessConfig
    splits: tuple[SplitSpec, ...]
    constants: dict[str, np.ndarray] = field(repr=False, compare=False)

    @classmethod
    def from_detector(cls, detector: SplittableDetector, model_id: bytes) -> RuntimeSpec:
        """Describe `detector` (with its bottlenecks and exits)."""
        import torch

        splits = []
        with torch.no_grad():
            zeros = torch.zeros(1, 3, *detector.input_size)
            for index, name in enumerate(detector.split_points):
                head = detector.head(name).eval()
                code_shape = tuple(head(zeros)['code'].shape)
                splits.append(SplitSpec(name, index, code_shape, tuple(head.exit_stages.values())))
        return cls(
            model_id.hex(), detector.output_kind, detector.input_size, tuple(detector.class_names),
            detector.postprocess_config, tuple(splits), detector.constants(),
        )  # fmt: skip

    def split(self, name: str) -> SplitSpec:
        """The split point called `name`; ValueError naming the known ones otherwise."""
        for split in self.splits:
            if split.name == name:
                return split
        raise ValueError(f'unknown split point {name!r}; this model has {[s.name for s in self.splits]}')

    def save(self, folder: str | Path) -> None:
        """Write `runtime.yaml` and `constants.npz` into `folder`."""
        folder = Path(folder)
        entry = {
            'format': 1, 'model_id': self.model_id, 'output_kind': self.output_kind,
            'input_size': list(self.input_size), 'class_names': list(self.class_names),
            'postprocess': asdict(self.postprocess),
            'splits': [{'name': s.name, 'index': s.index, 'code_shape': list(s.code_shape), 'exits': list(s.exits)}
                       for s in self.splits],
        }  # fmt: skip
        (folder / SPEC_FILE).write_text(yaml.safe_dump(entry, sort_keys=False))
        np.savez(folder / CONSTANTS_FILE, allow_pickle=False, **self.constants)  # read back without pickles

    @classmethod
    def load(cls, folder: str | Path) -> RuntimeSpec:
        """Read what `save` wrote."""
        folder = Path(folder)
        entry = yaml.safe_load((folder / SPEC_FILE).read_text())
        if entry.get('format') != 1:
            raise ValueError(f'{folder / SPEC_FILE}: unknown format {entry.get("format")!r}')
        with np.load(folder / CONSTANTS_FILE) as constants:
            arrays = {key: constants[key] for key in constants.files}
        splits = tuple(
            SplitSpec(s['name'], int(s['index']), tuple(s['code_shape']), tuple(s['exits'])) for s in entry['splits']
        )
        return cls(
            entry['model_id'], entry['output_kind'], tuple(entry['input_size']), tuple(entry['class_names']),
            PostprocessConfig(**entry['postprocess']), splits, arrays,
        )  # fmt: skip
