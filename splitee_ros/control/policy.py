# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The adaptation policy: the best choice that meets the deadline target, with hysteresis and a dwell time.

Objectives: `accuracy` (highest expected mAP@.5 among the choices whose P(latency <= deadline) reaches the
target) and `bandwidth` (fewest uplink bytes among those that also reach `accuracy_floor`). When nothing
reaches the target the vehicle goes local-only (the whole model, or exits only), whichever hits most.
The current choice is kept while it still nearly meets the target (`hit_margin`), for at least
`min_dwell_s`, and until another is better by `hysteresis`; a person's setting is held for `manual_hold_s`.
A current choice that falls short is left at once when it is far off (P(hit) below `leave_at_once`, as after
a real drop), else when it falls short on `confirmations` decisions in a row: one probe queued behind the
vehicle's own frames must not send it away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from splitee_ros.control.latency import MODES, Choice, LatencyModel, LinkState, Prediction

OBJECTIVES = ('accuracy', 'bandwidth')


@dataclass(frozen=True)
class PolicySettings:
    """The monitor's tuning of the policy (its ROS parameters)."""

    deadline_ms: float = 100.0
    target: float = 0.95  # required P(latency <= deadline)
    objective: str = 'accuracy'
    accuracy_floor: float = 0.0  # bandwidth objective: least mAP@.5 to accept
    hysteresis: float = 0.01  # accuracy: mAP@.5 gain to switch; bandwidth: share of bytes saved to switch
    hit_margin: float = 0.02  # the current choice is kept while its hit probability is >= target - margin
    min_dwell_s: float = 3.0
    manual_hold_s: float = 30.0
    leave_at_once: float = 0.5
    confirmations: int = 2
    modes: tuple[str, ...] = MODES

    def __post_init__(self) -> None:
        """Reject values the policy cannot work with, naming them."""
        if self.objective not in OBJECTIVES:
            raise ValueError(f'objective must be one of {list(OBJECTIVES)}, not {self.objective!r}')
        if not 0.0 < self.target <= 1.0:
            raise ValueError(f'target must be in (0, 1], not {self.target}')
        if not self.modes or set(self.modes) - set(MODES):
            raise ValueError(f'modes must be a non-empty subset of {list(MODES)}, not {list(self.modes)}')


@dataclass(frozen=True)
class Decision:
    """One decision with what it was based on."""

    time: float
    choice: Choice
    previous: Choice | None
    reason: str
    prediction: Prediction
    link: LinkState | None
    vehicle_scale: float = 1.0
    edge_scale: float = 1.0
    alternatives: int = 0  # choices that met the target

    @property
    def changed(self) -> bool:
        """True when the choice differs from the previous one."""
        return self.choice != self.previous

    def explain(self) -> str:
        """One log line: what, why, the inputs and the forecast."""
        link = (
            f'rtt {self.link.rtt_ms:.1f} ms, goodput {self.link.goodput_mbps:.2f} Mbit/s, loss {self.link.loss:.2f}'
            if self.link
            else 'no link estimate'
        )
        p = self.prediction
        return (
            f'{"switch to" if self.changed else "keep"} {self.choice.label}: {self.reason}; {link}; '
            f'compute x{self.vehicle_scale:.2f} vehicle, x{self.edge_scale:.2f} edge; predicted P(hit) '
            f'{p.hit_probability:.3f}, p50 {p.latency_p50_ms:.1f} ms, p95 {p.latency_p95_ms:.1f} ms, '
            f'mAP@.5 {p.accuracy:.3f}, {p.bytes_per_frame:.0f} B/frame; {self.alternatives} choices meet the target'
        )


@dataclass
class Policy:
    """Decides, once per call, which choice the head should run."""

    model: LatencyModel
    settings: PolicySettings = field(default_factory=PolicySettings)
    current: Choice | None = None
    changed_at: float = float('-inf')
    manual_until: float = float('-inf')
    shortfalls: int = 0  # decisions in a row on which the current choice fell short

    def override(self, choice: Choice, now: float) -> None:
        """A person set `choice` by hand: hold it for `manual_hold_s`."""
        self.current, self.changed_at = choice, now
        self.manual_until = now + self.settings.manual_hold_s

    def decide(self, now: float, link: LinkState | None, vehicle_scale: float = 1.0, edge_scale: float = 1.0):
        """The choice to run from `now` on, as a Decision (its `changed` says whether to apply it)."""
        settings = self.settings
        candidates = self.model.choices(settings.modes)
        if self.current is not None and self.current not in candidates:
            candidates.append(self.current)
        predictions = self.model.predict_all(candidates, link, settings.deadline_ms, vehicle_scale, edge_scale)
        by_choice = {p.choice: p for p in predictions}
        feasible = [p for p in predictions if p.hit_probability >= settings.target]
        best, reason = self._best(feasible, predictions)
        current = by_choice.get(self.current) if self.current is not None else None
        previous = self.current

        def decision(prediction: Prediction, why: str) -> Decision:
            return Decision(
                now, prediction.choice, previous, why, prediction, link, vehicle_scale, edge_scale, len(feasible)
            )

        if current is None:
            return self._switch(decision(best, reason))
        if now < self.manual_until:
            return decision(current, f'set by hand, held until {self.manual_until - now:.0f} s from now')
        short = current.hit_probability < settings.target - settings.hit_margin and best.choice != current.choice
        self.shortfalls = self.shortfalls + 1 if short else 0
        if short and (current.hit_probability < settings.leave_at_once or self.shortfalls >= settings.confirmations):
            why = f'current P(hit) {current.hit_probability:.3f} is below the target {settings.target}; {reason}'
            return self._switch(decision(best, why))
        if short:
            return decision(current, f'P(hit) {current.hit_probability:.3f} short of the target once: confirming')
        if now - self.changed_at < settings.min_dwell_s:
            return decision(current, f'dwell: {now - self.changed_at:.1f} s since the last change')
        if best.choice != current.choice and self._better(best, current):
            return self._switch(decision(best, reason))
        return decision(current, 'still meets the target; nothing better by the hysteresis margin')

    def _switch(self, decision: Decision) -> Decision:
        if decision.changed:
            self.current, self.changed_at, self.shortfalls = decision.choice, decision.time, 0
        return decision

    def _best(self, feasible: Sequence[Prediction], predictions: Sequence[Prediction]) -> tuple[Prediction, str]:
        settings = self.settings
        if not feasible:
            local = [p for p in predictions if p.choice.local_only] or list(predictions)
            best = max(local, key=lambda p: (p.hit_probability, p.accuracy))
            return best, f'no choice meets P(hit) >= {settings.target} at {settings.deadline_ms:g} ms: local-only'
        if settings.objective == 'bandwidth':
            enough = [p for p in feasible if p.accuracy >= settings.accuracy_floor]
            if enough:
                best = min(enough, key=lambda p: (p.bytes_per_frame, -p.accuracy))
                return best, f'fewest bytes with mAP@.5 >= {settings.accuracy_floor:g} that meets the target'
            best = max(feasible, key=lambda p: (p.accuracy, -p.bytes_per_frame))
            return best, f'nothing reaches mAP@.5 {settings.accuracy_floor:g}: the most accurate that meets the target'
        best = max(feasible, key=lambda p: (p.accuracy, -p.bytes_per_frame))
        return best, 'the most accurate choice that meets the target'

    def _better(self, best: Prediction, current: Prediction) -> bool:
        settings = self.settings
        if settings.objective == 'bandwidth' and current.accuracy >= settings.accuracy_floor:
            return best.bytes_per_frame < (1.0 - settings.hysteresis) * current.bytes_per_frame
        return best.accuracy > current.accuracy + settings.hysteresis
