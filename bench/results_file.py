# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""How every bench writes its numbers: the report as JSON and its summary as Markdown beside it, printed too."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path


def write_results(json_path: Path, report: object, lines: Sequence[str]) -> None:
    """`report` to `json_path`, `lines` to the same name with `.md`; print the lines."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=1) + '\n')
    json_path.with_suffix('.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


def memory_line(who: str, rss_mb: Sequence[float], growth: float) -> str:
    """The resident-memory line of a soak or fuzz run: samples and growth after the first quarter (goal +5%)."""
    return (f'- {who} resident memory at each quarter and the end (MB): {[round(v) for v in rss_mb]}; growth after '
            f'the first quarter {growth:+.1%} (the goal: at most +5%)')  # fmt: skip
