# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The learned codec's priors as trained: CompressAI EntropyBottlenecks with per-channel gains (PyTorch).

Training estimates the rate with these modules; `export_tables` turns them into the numpy tables that
`codec.learned` codes with, so that coding needs no PyTorch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from splitee_ros.codec.learned import TABLE_FIELDS

if TYPE_CHECKING:
    from compressai.entropy_models import EntropyBottleneck  # untyped: compressai ships no type information


def entropy_bottleneck(channels: int) -> torch.nn.Module:
    """A fresh CompressAI EntropyBottleneck (imported here: only the learned codec's training needs it)."""
    from compressai.entropy_models import EntropyBottleneck

    return EntropyBottleneck(channels)


class RateLevels(torch.nn.Module):
    """The rate levels of one split: a prior and a per-channel gain (log-parametrised) for each level."""

    def __init__(self, channels: int, gains: Sequence[float]) -> None:
        """One level per initial gain, finest first."""
        super().__init__()
        self.priors = torch.nn.ModuleList(entropy_bottleneck(channels) for _ in gains)
        self.log_gains = torch.nn.Parameter(
            torch.log(torch.tensor(gains, dtype=torch.float32))[:, None].repeat(1, channels)
        )

    def __len__(self) -> int:
        """Number of levels."""
        return len(self.priors)

    def gain(self, level: int) -> torch.Tensor:
        """The gains of `level`, shaped (1, C, 1, 1) for a code (N, C, H, W)."""
        return self.log_gains[level].exp()[None, :, None, None]

    def prior(self, level: int) -> EntropyBottleneck:
        """The prior of `level` (`priors` holds only EntropyBottlenecks; a ModuleList's items are typed Module)."""
        return self.priors[level]

    def forward(self, code: torch.Tensor, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The code as the decoder sees it at `level` (training: uniform noise for rounding), and its likelihoods."""
        gain = self.gain(level)
        noisy, likelihoods = self.prior(level)(code * gain)
        return noisy / gain, likelihoods

    def aux_loss(self) -> torch.Tensor:
        """The priors' quantile loss (CompressAI's auxiliary loss)."""
        return sum(self.prior(level).loss() for level in range(len(self)))


def prior_table(prior: EntropyBottleneck, gain: torch.Tensor) -> dict[str, np.ndarray]:
    """One prior's CDF tables (recomputed from its current density) and medians, with the level's gains."""
    prior.update(force=True)
    table = {
        'quantized_cdf': prior._quantized_cdf,
        'cdf_length': prior._cdf_length,
        'offset': prior._offset,
        'medians': prior.quantiles[:, 0, 1],
        'gain': gain,
    }
    return {name: table[name].detach().cpu().numpy() for name in TABLE_FIELDS}


def export_tables(levels: Mapping[int, RateLevels]) -> dict[str, np.ndarray]:
    """Every split's tables at every level, keyed '<split index>.<level>.<field>' (what `load_tables` reads)."""
    arrays: dict[str, np.ndarray] = {}
    for split_index, split_levels in levels.items():
        for level in range(len(split_levels)):
            table = prior_table(split_levels.prior(level), split_levels.log_gains[level].exp())
            arrays |= {f'{split_index}.{level}.{name}': value for name, value in table.items()}
    return arrays
