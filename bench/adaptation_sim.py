# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Trace simulator: the adaptive policy against every static choice, local-only and image offload.

    python bench/adaptation_sim.py [--vehicle-slowdown 4] [--deadline-ms 100]

Traces: a step (20 -> 2 -> 20 Mbit/s), a ramp (30 -> 1 -> 30 Mbit/s), a bursty cellular-like trace kept in
bench/traces/cellular.csv (made once by `--regenerate`, so every run replays the same file) and the urban rate
trace of the two-host bench. The head starts at the package's defaults; the measure is on-time mAP@.5 (late
answers count at their fallback), with the hit rate beside it. Per phase of a trace (its thirds), the share of
frames on split configurations. Results: bench/results/adaptation.json (every choice on every trace) and
adaptation.md (the summary table).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

from splitee_ros.control.latency import Choice, LatencyModel
from splitee_ros.control.policy import Policy, PolicySettings
from splitee_ros.control.profile import Profile
from splitee_ros.control.simulate import SimulationResult, Simulator, Trace, cellular_trace, ramp_trace, step_trace
from splitee_ros.model.package import ModelPackage

HERE = Path(__file__).resolve().parent


def traces(folder: Path, regenerate: bool) -> list[Trace]:
    """The step and ramp traces, the cellular trace from its file (made if asked or missing), the urban trace."""
    cellular = folder / 'cellular.csv'
    if regenerate or not cellular.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        cellular_trace().save_csv(cellular)
    return [step_trace(), ramp_trace(), Trace.load_csv(cellular), Trace.load_csv(folder / 'urban.csv')]


def compare(results: list[SimulationResult], adaptive: SimulationResult) -> dict[str, object]:
    """The issue's check: adaptive on-time mAP@.5 at least the best static choice's, minus a point."""
    best = max(results, key=lambda r: (r.mean_accuracy, r.hit_rate))
    return {
        'best_static': asdict(best),
        'adaptive_minus_best_static_points': round(100 * (adaptive.mean_accuracy - best.mean_accuracy), 2),
        'within_1_point_of_the_best_static': bool(adaptive.mean_accuracy >= best.mean_accuracy - 0.01),
    }


def split_shares_by_phase(simulator: Simulator, phases: int = 3) -> list[float]:
    """Share of the last run's frames on a split configuration (exits or codes), per third of the trace."""
    records = simulator.records
    end = records[-1].time_s if records else 0.0
    shares = []
    for phase in range(phases):
        inside = [r for r in records if phase * end / phases <= r.time_s <= (phase + 1) * end / phases]
        shares.append(sum(r.choice.startswith(('split', 'exit-only')) for r in inside) / max(len(inside), 1))
    return shares


def main() -> None:
    """Simulate and write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--package', default='models/splitee_demo')
    parser.add_argument('--vehicle', default='onnxruntime/cpu/1t', help='device profile of the vehicle')
    parser.add_argument(
        '--vehicle-slowdown',
        type=float,
        default=4.0,
        help='vehicle times x this: a stand-in for an embedded CPU (no Jetson here)',
    )
    parser.add_argument('--edge', default='onnxruntime/cpu/2t', help='device profile of the edge')
    parser.add_argument('--deadline-ms', type=float, default=100.0)
    parser.add_argument('--targets', type=float, nargs='+', default=[0.95, 0.99], help='policy targets to run')
    parser.add_argument('--fps', type=float, default=10.0)
    parser.add_argument('--traces', type=Path, default=HERE / 'traces')
    parser.add_argument('--regenerate', action='store_true', help='make bench/traces/cellular.csv anew')
    parser.add_argument('--out', type=Path, default=HERE / 'results')
    args = parser.parse_args()

    profile = Profile.load(args.package)
    vehicle = profile.device(args.vehicle)
    if args.vehicle_slowdown != 1.0:
        vehicle = vehicle.scaled(args.vehicle_slowdown, f'{vehicle.name} x{args.vehicle_slowdown:g}')
    model = LatencyModel(profile, vehicle, profile.device(args.edge))
    defaults = ModelPackage.load(args.package).defaults
    start = Choice('split', defaults['split'], defaults['codec'], float(defaults['exit_threshold']))
    report: dict[str, object] = {
        'package': args.package, 'vehicle': vehicle.name, 'vehicle_machine': vehicle.machine, 'edge': args.edge,
        'deadline_ms': args.deadline_ms, 'targets': args.targets, 'fps': args.fps, 'start': start.label,
        'traces': {},
    }  # fmt: skip
    lines = [
        f'# Adaptation: policy vs static choices ({args.deadline_ms:g} ms deadline, {args.fps:g} FPS)',
        '',
        f'`python bench/adaptation_sim.py`. Vehicle: `{vehicle.name}` ({vehicle.machine}); edge: `{args.edge}`. '
        f"Model `{args.package}`; the head starts at `{start.label}` (the package's defaults).",
        "On-time mAP@.5: the latency model's accounting of what was published for each frame by its deadline "
        "(a missed split frame gets its exit's fallback, a missed image nothing, a late exit or local answer "
        "nothing). Hit rate: frames with an answer by the deadline (the intended one or the exit's fallback).",
        '',
        '| trace | run | on-time mAP@.5 | hit rate | intended | bytes/frame | probe share | changes (most used) |',
        '|---|---|---|---|---|---|---|---|',
    ]
    checks = []
    for trace in traces(args.traces, args.regenerate):
        started = time.perf_counter()
        simulator = Simulator(model, trace, args.deadline_ms, args.fps)
        statics = [simulator.run(choice) for choice in model.choices()]
        entry: dict[str, object] = {'duration_s': trace.duration_s, 'adaptive': {}}
        rows = []
        for target in args.targets:
            result = simulator.run(Policy(model, PolicySettings(deadline_ms=args.deadline_ms, target=target)),
                                   start=start)  # fmt: skip
            adaptive = replace(result, label=f'adaptive, target {target:g}')
            verdict = compare(statics, adaptive)
            shares = split_shares_by_phase(simulator)
            entry['adaptive'][str(target)] = {**asdict(adaptive), **verdict, 'split_share_by_phase': shares}
            rows += [adaptive, SimulationResult(**verdict['best_static'])]
            checks.append(
                f'- {trace.name}, target {target:g}: adaptive on-time mAP@.5 {adaptive.mean_accuracy:.3f}, best static '
                f'({verdict["best_static"]["label"]}) {verdict["best_static"]["mean_accuracy"]:.3f}: within a point: '
                f'{verdict["within_1_point_of_the_best_static"]}; split configurations per third of the trace: '
                + ', '.join(f'{share:.0%}' for share in shares)
            )
            print(checks[-1])
        rows += [r for r in statics if r.label == Choice('local').label or r.label.startswith('offload-image q5')]
        for row in dict.fromkeys(rows):
            used = ', '.join(f'{name} {share:.0%}' for name, share in row.shares[:3]) if row.changes else ''
            lines.append(
                f'| {trace.name} | {row.label} | {row.mean_accuracy:.3f} | {row.hit_rate:.3f} | '
                f'{row.intended_rate:.3f} | {row.mean_bytes:.0f} | {row.probe_share:.2%} | '
                f'{row.changes or ""} {f"({used})" if used else ""} |'
            )
        entry |= {'statics': [asdict(r) for r in statics], 'seconds': round(time.perf_counter() - started, 1)}
        report['traces'][trace.name] = entry
    lines += ['', f'Checks ({len(model.choices())} static choices per trace):', '', *checks]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'adaptation.json').write_text(json.dumps(report, indent=1) + '\n')
    (args.out / 'adaptation.md').write_text('\n'.join(lines) + '\n')
    print(f'wrote {args.out / "adaptation.md"}')


if __name__ == '__main__':
    main()
