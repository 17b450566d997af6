# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""ONNX export: one head graph and one tail graph per split point, with named inputs and outputs.

Every graph takes a batch (a dynamic first axis: the edge batches frames of several vehicles and cameras);
the other dimensions are fixed (the model's input size, the split's code). Graphs end at raw outputs;
post-processing is the shared numpy code in `postprocess`, the same for every runtime, and the anchors it
needs are written beside the graphs in `constants.npz`.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from splitee_ros.model.detector import SplittableDetector
from splitee_ros.runtime.spec import FULL_GRAPH, OPSET

BATCH_AXIS = {0: 'batch'}
# The TorchScript-based exporter handles these plain conv graphs on every torch from JetPack 6's on; torch
# 2.5+ must be told to use it (`dynamo=False`), older ones do not know the argument.
_EXPORTER_OPTIONS: dict[str, Any] = (
    {'dynamo': False} if 'dynamo' in inspect.signature(torch.onnx.export).parameters else {}
)


@dataclass(frozen=True)
class ExportedSplit:
    """The two ONNX files of one split point and their tensor names."""

    split: str
    head_path: Path
    tail_path: Path
    head_outputs: tuple[str, ...]
    tail_outputs: tuple[str, ...]
    code_shape: tuple[int, ...]


class _NamedOutputs(nn.Module):
    """Turn a module's dict output into a tuple in a fixed order, for the exporter."""

    def __init__(self, module: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.module = module
        self.names = names

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        outputs = self.module(x)
        return tuple(outputs[name] for name in self.names)


def _export(module: nn.Module, example: Tensor, path: Path, input_name: str, output_names: list[str]) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore', torch.jit.TracerWarning)  # shape arithmetic traced as constants (not batch)
        warnings.filterwarnings('ignore', 'You are using the legacy TorchScript-based ONNX export', DeprecationWarning)
        torch.onnx.export(
            _NamedOutputs(module, output_names).eval(),
            (example,),
            str(path),
            input_names=[input_name],
            output_names=output_names,
            dynamic_axes={name: BATCH_AXIS for name in (input_name, *output_names)},
            opset_version=OPSET,
            **_EXPORTER_OPTIONS,
        )


def export_split(
    detector: SplittableDetector, split: str, folder: str | Path, bottleneck: bool = True
) -> ExportedSplit:
    """Write `<folder>/<split>.head.onnx` (image → code, exits) and `<split>.tail.onnx` (code → outputs).

    With `bottleneck=False` the code is the cut tensor itself, even where the split has a bottleneck.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    detector.eval()
    head, tail = detector.head(split, bottleneck=bottleneck), detector.tail(split, bottleneck=bottleneck)
    image = torch.rand(1, 3, *detector.input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        code = head(image)['code']
        tail_names = list(tail(code))
    head_names = head.output_names
    head_path, tail_path = folder / f'{split}.head.onnx', folder / f'{split}.tail.onnx'
    _export(head, image, head_path, 'image', head_names)
    _export(tail, code, tail_path, 'code', tail_names)
    np.savez(folder / 'constants.npz', allow_pickle=False, **detector.constants())
    return ExportedSplit(split, head_path, tail_path, tuple(head_names), tuple(tail_names), tuple(code.shape))


def export_full(detector: SplittableDetector, folder: str | Path) -> Path:
    """Write `<folder>/full.onnx`: the whole, unsplit model (image → raw outputs), for local and image offload."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    detector.eval()
    image = torch.rand(1, 3, *detector.input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        names = list(detector(image))
    path = folder / f'{FULL_GRAPH}.onnx'
    _export(detector, image, path, 'image', names)
    return path


def export_all(detector: SplittableDetector, folder: str | Path) -> list[ExportedSplit]:
    """Export every split point of `detector`."""
    return [export_split(detector, split, folder) for split in detector.split_points]
