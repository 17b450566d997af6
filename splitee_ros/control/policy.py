# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The adaptation policy: the most on-time accuracy among the choices that answer in time, with hysteresis.

Objectives: `accuracy` (the highest expected on-time mAP@.5, see `latency.py`: a late answer counts at its
fallback) among the choices whose P(an answer by the deadline) reaches the target, and `bandwidth` (fewest
uplink bytes among those that also reach `accuracy_floor`). The target keeps out what cannot answer in time at
all (the whole model on a slow vehicle, a head slower than the deadline); the trade between the edge's answer
and the fallback is the accuracy's. A choice whose frames would take more than `max_uplink_share` of the
goodput together is not feasible either: each frame alone may seem to arrive late but answered by its
fallback, as good as any other choice when every edge answer is late, while the queue it builds on the uplink
grows without end, loses fragments, and delays whatever comes after it, the recovery included. The current
choice stays feasible up to the whole goodput (a band, so that a code near the limit does not flap). When
nothing is feasible, the most on-time accuracy, among the choices the uplink can carry where there are any.

The current choice is kept while it still nearly meets the target (`hit_margin`) and is within `urgent_gain`
of the best, for at least `min_dwell_s`, and until another is better by `hysteresis` on
`improve_confirmations` decisions in a row (a noisy estimate that favours another choice once is no reason to
move); a person's setting is held for `manual_hold_s`. A current choice that falls behind is left at once
when it is far off (it answers less than `leave_at_once` of the frames, or is worth less than that share of
the best: a real drop), else when it falls behind on `confirmations` decisions in a row, so that one noisy
estimate does not send it away. In the first `settle_s` after `start` (the head's settings as launched), at
most one change is made, unless the current choice is far off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    hysteresis: float = 0.02  # accuracy: mAP@.5 gain to switch; bandwidth: share of bytes saved to switch
    hit_margin: float = 0.02  # the current choice is kept while its hit probability is >= target - margin
    max_uplink_share: float = 0.9  # of the goodput, the most a new choice's frames may take (the current's: all)
    min_dwell_s: float = 5.0
    improve_confirmations: int = 6  # decisions in a row on which a better choice must stay better
    manual_hold_s: float = 30.0
    urgent_gain: float = 0.05  # a choice this much more accurate is taken without waiting for the dwell
    leave_at_once: float = 0.5
    confirmations: int = 2
    settle_s: float = 10.0
    modes: tuple[str, ...] = MODES

    def __post_init__(self) -> None:
        """Reject values the policy cannot work with, naming them."""
        if self.objective not in OBJECTIVES:
            raise ValueError(f'objective must be one of {list(OBJECTIVES)}, not {self.objective!r}')
        if not 0.0 < self.target <= 1.0:
            raise ValueError(f'target must be in (0, 1], not {self.target}')
        if not 0.0 < self.max_uplink_share <= 1.0:
            raise ValueError(f'max_uplink_share must be in (0, 1], not {self.max_uplink_share}')
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
        share = f' ({p.uplink_share:.0%} of the uplink)' if p.uplink_share else ''
        return (
            f'{"switch to" if self.changed else "keep"} {self.choice.label}: {self.reason}; {link}; '
            f'compute x{self.vehicle_scale:.2f} vehicle, x{self.edge_scale:.2f} edge; predicted P(hit) '
            f'{p.hit_probability:.3f}, p50 {p.latency_p50_ms:.1f} ms, p95 {p.latency_p95_ms:.1f} ms, '
            f'mAP@.5 {p.accuracy:.3f}, {p.bytes_per_frame:.0f} B/frame{share}; '
            f'{self.alternatives} choices meet the target'
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
    better_streak: int = 0  # decisions in a row on which another choice was better by the hysteresis
    started_at: float | None = None
    changes: int = 0  # since `start`

    def start(self, choice: Choice, now: float) -> None:
        """The head runs `choice` as launched: decide from it (no change yet)."""
        self.current, self.changed_at, self.started_at, self.changes = choice, now, now, 0

    def override(self, choice: Choice, now: float) -> None:
        """A person set `choice` by hand: hold it for `manual_hold_s`."""
        self.current, self.changed_at = choice, now
        self.manual_until = now + self.settings.manual_hold_s

    def decide(
        self,
        now: float,
        link: LinkState | None,
        vehicle_scale: float = 1.0,
        edge_scale: float = 1.0,
        exit_scale: Mapping[str, float] | None = None,
        frame_rate_hz: float = 0.0,
    ) -> Decision:
        """The choice to run from `now` on, as a Decision (its `changed` says whether to apply it).

        `frame_rate_hz`: the head's frames per second (0: unknown, and the uplink's share is not checked).
        """
        settings = self.settings
        candidates = self.model.choices(settings.modes)
        if self.current is not None and self.current not in candidates:
            candidates.append(self.current)
        predictions = self.model.predict_all(
            candidates, link, settings.deadline_ms, vehicle_scale, edge_scale, exit_scale, frame_rate_hz
        )
        by_choice = {p.choice: p for p in predictions}
        feasible = [p for p in predictions if p.hit_probability >= settings.target and self._carried(p)]
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
        other = best.choice != current.choice
        misses = other and current.hit_probability < settings.target - settings.hit_margin
        overfills = other and not self._carried(current) and self._carried(best)
        gap = best.accuracy - current.accuracy if other else 0.0
        dwelling = now - self.changed_at < settings.min_dwell_s
        urgent = misses or overfills or (dwelling and gap > settings.urgent_gain)  # worth leaving before the dwell
        self.shortfalls = self.shortfalls + 1 if urgent else 0
        # far off: the current choice answers less than half the time, or is worth less than half the best
        far_off = other and (current.hit_probability < settings.leave_at_once
                             or current.accuracy < settings.leave_at_once * best.accuracy)  # fmt: skip
        why = (f'current P(hit) {current.hit_probability:.3f} is below the target {settings.target}' if misses
               else f'current frames take {current.uplink_share:.0%} of the uplink' if overfills
               else f'current on-time mAP@.5 {current.accuracy:.3f} is {gap:.3f} below the best')  # fmt: skip
        if far_off or (urgent and self.shortfalls >= settings.confirmations and not self._settling(now)):
            return self._switch(decision(best, f'{why}; {reason}'))
        if urgent:
            return decision(current, f'{why}: confirming')
        if self._settling(now):
            return decision(current, f'settling: one change in the first {settings.settle_s:g} s')
        if dwelling:
            return decision(current, f'dwell: {now - self.changed_at:.1f} s since the last change')
        self.better_streak = self.better_streak + 1 if other and self._better(best, current) else 0
        if self.better_streak >= settings.improve_confirmations:  # better on a noisy estimate is not enough
            return self._switch(decision(best, reason))
        if self.better_streak:
            return decision(current, f'{best.choice.label} is better: confirming ({self.better_streak})')
        return decision(current, 'still meets the target; nothing better by the hysteresis margin')

    def _settling(self, now: float) -> bool:
        """In the first `settle_s` after start, once a change has been made."""
        return self.started_at is not None and self.changes >= 1 and now - self.started_at < self.settings.settle_s

    def _switch(self, decision: Decision) -> Decision:
        if decision.changed:
            self.current, self.changed_at, self.shortfalls, self.better_streak = decision.choice, decision.time, 0, 0
            self.changes += 1
        return decision

    def _carried(self, prediction: Prediction) -> bool:
        """Whether the uplink carries the choice's frames: a new one's within `max_uplink_share`."""
        limit = 1.0 if prediction.choice == self.current else self.settings.max_uplink_share
        return prediction.uplink_share <= limit

    def _best(self, feasible: Sequence[Prediction], predictions: Sequence[Prediction]) -> tuple[Prediction, str]:
        settings = self.settings
        if not feasible:
            best = max(predictions, key=lambda p: (self._carried(p), p.accuracy, p.hit_probability))
            return best, (f'no choice meets P(hit) >= {settings.target} at {settings.deadline_ms:g} ms with the '
                          'uplink carrying it: the most on-time accuracy')  # fmt: skip
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
