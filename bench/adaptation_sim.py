# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Trace simulator: the adaptive policy against every static choice, local-only and image offload.

    python bench/adaptation_sim.py [--vehicle-slowdown 4] [--deadline-ms 100]

Traces: a step (20 -> 2 -> 20 Mbit/s), a ramp (30 -> 1 -> 30 Mbit/s) and a bursty cellular-like trace kept in
bench/traces/cellular.csv (made once by `--regenerate`, so every run replays the same file). Results:
bench/results/adaptation.json (every choice on every trace) and adaptation.md (the summary table).
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

HERE = Path(__file__).resolve().parent


def traces(folder: Path, regenerate: bool) -> list[Trace]:
    """The step and ramp traces, and the cellular trace from its file (made if asked or missing)."""
    cellular = folder / 'cellular.csv'
    if regenerate or not cellular.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        cellular_trace().save_csv(cellular)
    return [step_trace(), ramp_trace(), Trace.load_csv(cellular)]


def compare(results: list[SimulationResult], adaptive: SimulationResult) -> dict[str, object]:
    """The issue's two checks: hit rate within 1 point of the best static; accuracy above statics as punctual."""
    best = max(results, key=lambda r: (r.hit_rate, r.mean_accuracy))
    as_punctual = [r for r in results if r.hit_rate >= adaptive.hit_rate]
    rival = max(as_punctual, key=lambda r: r.mean_accuracy, default=None)
    return {
        'best_static': asdict(best),
        'best_static_as_punctual': asdict(rival) if rival else None,
        'hit_rate_within_1_point': bool(adaptive.hit_rate >= best.hit_rate - 0.01),
        'more_accurate_than_statics_as_punctual': bool(rival is None or adaptive.mean_accuracy > rival.mean_accuracy),
    }


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
    report: dict[str, object] = {
        'package': args.package,
        'vehicle': vehicle.name,
        'vehicle_machine': vehicle.machine,
        'edge': args.edge,
        'deadline_ms': args.deadline_ms,
        'targets': args.targets,
        'fps': args.fps,
        'traces': {},
    }
    lines = [
        f'# Adaptation: policy vs static choices ({args.deadline_ms:g} ms deadline, {args.fps:g} FPS)',
        '',
        f'Vehicle: `{vehicle.name}` ({vehicle.machine}); edge: `{args.edge}`. Model `{args.package}`.',
        "Hit rate: frames with their intended answer within the deadline. mAP@.5: the latency model's accounting",
        '(eval.json accuracy per choice; a missed split frame gets the best exit, a missed image nothing).',
        '',
        '| trace | run | hit rate | mAP@.5 | bytes/frame | changes (most used) |',
        '|---|---|---|---|---|---|',
    ]
    checks = []
    for trace in traces(args.traces, args.regenerate):
        started = time.perf_counter()
        simulator = Simulator(model, trace, args.deadline_ms, args.fps)
        statics = [simulator.run(choice) for choice in model.choices()]
        entry: dict[str, object] = {'duration_s': trace.duration_s, 'adaptive': {}}
        rows = []
        for target in args.targets:
            result = simulator.run(Policy(model, PolicySettings(deadline_ms=args.deadline_ms, target=target)))
            adaptive = replace(result, label=f'adaptive, target {target:g}')
            verdict = compare(statics, adaptive)
            entry['adaptive'][str(target)] = {**asdict(adaptive), **verdict}
            rows += [adaptive, SimulationResult(**verdict['best_static'])]
            if verdict['best_static_as_punctual']:
                rows.append(SimulationResult(**verdict['best_static_as_punctual']))
            checks.append(
                f'- {trace.name}, target {target:g}: hit rate within 1 point of the best static '
                f'({verdict["best_static"]["label"]}): {verdict["hit_rate_within_1_point"]}; mAP@.5 above every '
                f'static choice with at least its hit rate: {verdict["more_accurate_than_statics_as_punctual"]}'
            )
            print(checks[-1])
        rows += [r for r in statics if r.label == Choice('local').label or r.label.startswith('offload-image')]
        for row in dict.fromkeys(rows):
            used = ', '.join(f'{name} {share:.0%}' for name, share in row.shares[:3]) if row.changes else ''
            lines.append(
                f'| {trace.name} | {row.label} | {row.hit_rate:.3f} | {row.mean_accuracy:.3f} | '
                f'{row.mean_bytes:.0f} | {row.changes or ""} {f"({used})" if used else ""} |'
            )
        entry |= {'statics': [asdict(r) for r in statics], 'seconds': round(time.perf_counter() - started, 1)}
        report['traces'][trace.name] = entry
    lines += ['', f'Checks of issue #8 ({len(model.choices())} static choices per trace):', '', *checks]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'adaptation.json').write_text(json.dumps(report, indent=1) + '\n')
    (args.out / 'adaptation.md').write_text('\n'.join(lines) + '\n')
    print(f'wrote {args.out / "adaptation.md"}')


if __name__ == '__main__':
    main()
