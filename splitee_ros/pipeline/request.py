# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What a request to the edge says about itself, in `CompressedImage.format`.

`splitee/1;h=480;w=640;budget_ms=180;link_ms=12` is a bottleneck frame of a 480x640 camera frame;
`jpeg;budget_ms=180;link_ms=12` a JPEG image. `budget_ms` is the time the frame had left when it was sent;
`link_ms` the network round trip its vehicle measured of late (the round trips of its answers, less the
edge's own time in them). The edge has no clock in common with the vehicle, so its deadline for the frame
is its arrival plus `budget_ms` less `link_ms`: the uplink already spent part of the budget, the reply will
spend the rest. Without `budget_ms` a request has no deadline (e.g. a recorded bag replayed into the edge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BOTTLENECK = 'splitee/1'
IMAGE = 'jpeg'
MAX_SIDE = 16384
MAX_BUDGET_MS = 600_000


@dataclass(frozen=True)
class RequestFormat:
    """A request's kind, its camera frame's size (bottlenecks) and its time budget."""

    kind: str
    frame_size: tuple[int, int] | None = None  # (height, width); a JPEG carries its own
    budget_ms: int | None = None
    link_ms: int = 0

    def text(self) -> str:
        """The format string."""
        fields = [self.kind]
        if self.frame_size is not None:
            fields += [f'h={self.frame_size[0]}', f'w={self.frame_size[1]}']
        if self.budget_ms is not None:
            fields += [f'budget_ms={self.budget_ms}', f'link_ms={self.link_ms}']
        return ';'.join(fields)

    def with_budget(self, budget_s: float, link_s: float) -> RequestFormat:
        """The same format with the time left at sending and the link's round trip (clamped to the range)."""
        budget_ms = min(max(0, math.floor(budget_s * 1e3)), MAX_BUDGET_MS)
        link_ms = min(max(0, round(link_s * 1e3)), MAX_BUDGET_MS)
        return RequestFormat(self.kind, self.frame_size, budget_ms, link_ms)

    def edge_deadline(self, arrived: float) -> float:
        """The edge's deadline for this request, in the clock of `arrived` (inf without a budget)."""
        if self.budget_ms is None:
            return math.inf
        return arrived + (self.budget_ms - min(self.link_ms, self.budget_ms)) / 1e3

    @classmethod
    def parse(cls, text: str) -> RequestFormat:
        """Read a format string; ValueError for anything else than the two kinds with their fields."""
        kind, *parts = text.split(';')
        fields: dict[str, int] = {}
        for part in parts:
            name, equals, value = part.partition('=')
            if not equals or name in fields or not (value.isascii() and value.isdigit()) or len(value) > 9:
                raise ValueError(f'not a request format: {text[:64]!r}')
            fields[name] = int(value)
        size_fields = {'h', 'w'} if kind == BOTTLENECK else set()
        if kind not in (BOTTLENECK, IMAGE) or set(fields) not in (size_fields, size_fields | {'budget_ms', 'link_ms'}):
            raise ValueError(f'not a request format: {text[:64]!r}')
        frame_size = (fields['h'], fields['w']) if size_fields else None
        if frame_size is not None and not all(0 < side <= MAX_SIDE for side in frame_size):
            raise ValueError(f'frame size {frame_size[0]}x{frame_size[1]} out of range')
        budget, link = fields.get('budget_ms'), fields.get('link_ms', 0)
        if budget is not None and not (budget <= MAX_BUDGET_MS and link <= MAX_BUDGET_MS):
            raise ValueError(f'budget_ms {budget} or link_ms {link} out of range')
        return cls(kind, frame_size, budget, link)
