# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Loading weights from local files only, with errors that name the file and the mismatched keys."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class WeightsError(RuntimeError):
    """A weights file is missing, unreadable or does not fit the model."""


def _listed(keys: list[str], limit: int = 8) -> str:
    shown = ', '.join(keys[:limit])
    return f'{shown} (+{len(keys) - limit} more)' if len(keys) > limit else shown


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a torchvision-style file or one of our checkpoints (key 'model')."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f'weights file {path} does not exist (nothing is downloaded; train or copy it first)')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # torch raises several types for corrupt files
        raise WeightsError(f'weights file {path} cannot be read: {error}') from error
    if isinstance(state, dict) and isinstance(state.get('model'), dict):
        state = state['model']
    if not isinstance(state, dict):
        raise WeightsError(f'weights file {path} holds a {type(state).__name__}, not a state dict')
    return state


def load_weights(module: nn.Module, path: str | Path) -> None:
    """Load `path` into `module` strictly.

    Batch-norm step counters may be missing: torchvision's pretrained files come from models with frozen
    batch norm, which has none, and they play no part in inference.
    """
    state = load_state_dict(path)
    expected = module.state_dict()
    for key in set(expected) - set(state):
        if key.endswith('.num_batches_tracked'):
            state[key] = expected[key]
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(
        f'{key} {tuple(state[key].shape)} != {tuple(expected[key].shape)}'
        for key in set(expected) & set(state)
        if state[key].shape != expected[key].shape
    )
    problems = [
        f'{label}: {_listed(keys)}'
        for label, keys in (('missing keys', missing), ('unexpected keys', unexpected), ('wrong shapes', wrong_shape))
        if keys
    ]
    if problems:
        raise WeightsError(f'weights file {path} does not fit {type(module).__name__}: ' + '; '.join(problems))
    module.load_state_dict(state)
