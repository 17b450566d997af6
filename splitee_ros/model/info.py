# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What each split point costs: tensor shape and bytes on the wire, parameters and MACs on each side."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from splitee_ros.model.detector import SplittableDetector


@dataclass(frozen=True)
class SplitInfo:
    """One row of `splitee model info`."""

    split: str
    stage_index: int
    shape: tuple[int, ...]  # the cut tensor (C, H, W)
    code_shape: tuple[int, ...]  # what crosses the link: the bottleneck code, or the cut tensor itself
    head_params: int
    tail_params: int
    head_macs: int
    tail_macs: int
    exits: tuple[str, ...]  # exits that the head computes at this split
    exit_params: int
    exit_macs: int

    def code_bytes(self, bytes_per_value: float) -> int:
        """Size of the code at a given precision (4 fp32, 2 fp16, 1 int8), before entropy coding."""
        values = 1
        for dimension in self.code_shape:
            values *= dimension
        return int(values * bytes_per_value)


def count_macs(module: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of convolutions and linear layers in one forward pass of `module`."""
    total = 0

    def conv_hook(layer: nn.Conv2d, _, output: torch.Tensor) -> None:
        nonlocal total
        kernel = layer.kernel_size[0] * layer.kernel_size[1]
        total += output.numel() * (layer.in_channels // layer.groups) * kernel

    def linear_hook(layer: nn.Linear, _, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * layer.in_features

    handles = []
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            handles.append(layer.register_forward_hook(conv_hook))
        elif isinstance(layer, nn.Linear):
            handles.append(layer.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            module(example)
    finally:
        for handle in handles:
            handle.remove()
    return total


def _parameters(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def split_table(detector: SplittableDetector) -> list[SplitInfo]:
    """Measure every split point of `detector` on a blank image of its input size."""
    detector.eval()
    image = torch.zeros(1, 3, *detector.input_size)
    rows = []
    for name, point in detector.split_points.items():
        head, tail = detector.head(name), detector.tail(name)
        with torch.no_grad():
            code = head(image)['code']
        exits = tuple(head.exits.keys())
        exit_params = _parameters(head.exits)
        head_macs = count_macs(detector.head(name, exits=False), image)
        rows.append(
            SplitInfo(
                split=name,
                stage_index=point.stage_index,
                shape=point.shape,
                code_shape=tuple(code.shape[1:]),
                head_params=_parameters(head) - exit_params,
                tail_params=_parameters(tail),
                head_macs=head_macs,
                tail_macs=count_macs(tail, code),
                exits=exits,
                exit_params=exit_params,
                exit_macs=count_macs(head, image) - head_macs,
            )
        )
    return rows


def format_table(detector: SplittableDetector, rows: list[SplitInfo]) -> str:
    """Render the rows as a Markdown table with a title line."""
    height, width = detector.input_size
    with torch.no_grad():
        unsplit_macs = count_macs(detector.eval(), torch.zeros(1, 3, height, width))
    lines = [
        f'{detector.family}: input {width}x{height}, {detector.num_classes} classes, '
        f'{_parameters(detector) / 1e6:.2f} M parameters; the whole model unsplit (no codec, no exit) '
        f'{unsplit_macs / 1e6:.1f} MMACs',
        '',
        '| split | stage | cut tensor | code | fp32 B | fp16 B | int8 B | head params | tail params '
        '| head MMACs | tail MMACs | exits (params, MMACs) |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ]
    for row in rows:
        exits = (
            f'{", ".join(row.exits)} ({row.exit_params / 1e3:.1f} k, {row.exit_macs / 1e6:.1f})' if row.exits else '-'
        )
        lines.append(
            f'| {row.split} | {row.stage_index} | {"x".join(map(str, row.shape))} | '
            f'{"x".join(map(str, row.code_shape))} | {row.code_bytes(4)} | {row.code_bytes(2)} | {row.code_bytes(1)} | '
            f'{row.head_params / 1e6:.3f} M | {row.tail_params / 1e6:.3f} M | {row.head_macs / 1e6:.1f} | '
            f'{row.tail_macs / 1e6:.1f} | {exits} |'
        )
    return '\n'.join(lines)
