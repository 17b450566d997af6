# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Two hosts on rate traces: adaptive against static configurations, on-time accuracy against ground truth.

    sudo python bench/two_host_bench.py [--traces step ramp urban] [--statics 3]

Vehicle and edge in two network namespaces (`splitee_ros.tools.netns`), the link's rate following a trace with
`tc tbf`. The camera replays the held-out set of `splitee eval` (the frames that eval.json scored, so that the
simulator's accounting and the measurement share their accuracy) at `--fps`. Per trace:
- the simulator runs the same trace, profile, deadline and start, and names the best static choices;
- the two hosts run the adaptive monitor, and each of those static choices (adaptation off);
- each run is scored: on-time mAP@.5 (what the head published for each frame by its deadline, plus the
  fallback lateness budget; a frame published later counts as nothing), per phase of the trace; hit rate
  (an answer by the deadline: the edge's, an exit's or the exit fallback); drops; fallback lateness (p50, p99);
  the configuration changes; the probes' bytes against the link;
- the simulator's prediction for the adaptive run beside the measurement.
A last pass runs the monitor and the tail alone (an idle uplink: the probes at their busiest) at each rate and
counts the bytes on the vehicle's veth. Writes bench/results/two_host.{json,md}.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from splitee_ros.control.latency import Choice, LatencyModel, choice_from_parameters
from splitee_ros.control.monitor import MonitorSettings
from splitee_ros.control.policy import Policy, PolicySettings
from splitee_ros.control.profile import Profile
from splitee_ros.control.simulate import FrameRecord, Simulator, Trace, ramp_trace, step_trace
from splitee_ros.data.coco import CocoDataset
from splitee_ros.model.postprocess import Detections
from splitee_ros.train.evaluate import HELD_OUT, CocoScorer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LATE_BUDGET_MS = 10.0  # a fallback published this soon after its deadline is on time (the bench's own target)
RUN_DEFAULTS = {'seconds': 60.0, 'fps': 5.0, 'deadline_ms': 250.0, 'target': 0.95}  # of the flags the report records
PHASES = (('high', 10.0, 1e9), ('mid', 2.0, 10.0), ('low', 0.0, 2.0))  # Mbit/s bands of ramp and urban traces


def traces(names: list[str], seconds: float) -> list[Trace]:
    """The rate traces of the run (RTT is the veth's own: tbf shapes rate only)."""
    made = {
        'step': step_trace(high=20.0, low=0.6, phase_s=seconds / 3, rtt_ms=1.0),
        'ramp': ramp_trace(high=30.0, low=0.6, ramp_s=seconds / 2, rtt_ms=1.0),
        'constant': Trace('constant', np.arange(0.0, seconds), np.full(int(seconds), 20.0), np.ones(int(seconds))),
    }
    urban = Trace.load_csv(HERE / 'traces' / 'urban.csv')
    made['urban'] = urban
    return [made[name] for name in names]


def schedule_of(trace: Trace, seconds: float) -> list[tuple[float, float]]:
    """(offset, Mbit/s) at each change of the trace, at most one a second."""
    schedule, last = [], None
    for offset in np.arange(0.0, min(seconds, trace.duration_s), 1.0):
        rate = round(trace.at(float(offset))[0], 2)
        if rate != last:
            schedule.append((float(offset), rate))
            last = rate
    return schedule


def phase_of(trace: Trace, offset: float) -> str:
    """The phase a frame falls in.

    The step's thirds; the constant link's first 10 s and the rest; the rate band of the others.
    """
    if trace.name == 'constant':
        return 'first 10 s' if offset < 10.0 else 'after'
    if trace.name == 'step':
        third = trace.duration_s / 3
        return ('before', 'drop', 'after')[min(2, int(offset // third))]
    rate = trace.at(offset)[0]
    return next(name for name, low, high in PHASES if low <= rate < high)


def score_run(record: dict, dataset: CocoDataset, scorer: CocoScorer, deadline_ms: float, trace: Trace) -> dict:
    """On-time mAP@.5 (overall and per phase), hit rate, drops, fallback lateness, changes of a run."""
    classes = list(dataset.class_names)
    start = record['start']
    answers = ('exit', 'edge', 'fallback', 'local')
    telemetry = {key: (outcome, values) for _, outcome, key, values in record['telemetry'] if outcome in answers}
    dropped = {key for _, outcome, key, _ in record['telemetry'] if outcome == 'dropped'}
    on_time, phases, hits, lateness, choices = {}, {}, 0, [], []
    phase_choices: dict[str, list[str]] = {}
    for key, published_at, image_id in record['published']:
        phase = phase_of(trace, published_at - start)
        phases.setdefault(phase, []).append(image_id)
        outcome, values = telemetry.get(key, (None, {}))
        latency = float(values.get('latency_ms', 'inf'))
        in_time = outcome is not None and latency <= deadline_ms + LATE_BUDGET_MS
        if outcome == 'fallback':
            lateness.append(latency - deadline_ms)
        rows = record['detections'].get(key, []) if in_time else []
        on_time[image_id] = Detections(
            np.array([r[:4] for r in rows], np.float32).reshape(-1, 4), np.array([r[4] for r in rows], np.float32),
            np.array([classes.index(r[5]) for r in rows], np.int64),
        )  # fmt: skip
        hits += in_time and (outcome != 'fallback' or 'exit' in values)  # a fallback without an exit is empty
        if outcome is not None:
            choices.append(_choice(values).label)
            phase_choices.setdefault(phase, []).append(choices[-1])
    changes = sum(a != b for a, b in itertools.pairwise(choices))
    times = [when - start for key, when, _ in record['published'] if key in telemetry]
    settled = [c for c, t in zip(choices, times, strict=False) if t >= 5.0]
    changes_after_5s = sum(a != b for a, b in itertools.pairwise(settled))
    first_10s = [c for c, t in zip(choices, times, strict=False) if t < 10.0]
    reactions = reaction_times(trace, list(zip(times, choices, strict=False)))
    frames = len(record['published'])
    checks = [float(values['agreement']) for _, outcome, _, values in record['telemetry']
              if outcome == 'exit_check' and 'agreement' in values]  # fmt: skip
    return {
        'exit_checks': {'count': len(checks), 'mean_agreement': float(np.mean(checks)) if checks else None},
        'frames': frames, 'on_time_map50': scorer.score(on_time).map50,
        'phases': {name: {'frames': len(ids), 'on_time_map50': scorer.score(on_time, ids).map50,
                          'shares': _shares(phase_choices.get(name, []))} for name, ids in phases.items()},
        'hit_rate': hits / frames, 'dropped': len(dropped), 'drop_rate': len(dropped) / frames,
        'fallback_lateness_ms': _quantiles(lateness), 'changes': changes, 'changes_after_5s': changes_after_5s,
        'changes_in_first_10s': sum(a != b for a, b in itertools.pairwise(first_10s)),
        'reaction_to_drops_s': reactions,  # the step's goal: a leaner configuration within 2 s of the drop
        'duration_s': max(times, default=0.0),
        'shares': {label: choices.count(label) / len(choices) for label in sorted(set(choices))} if choices else {},
    }  # fmt: skip


def uplink_check(record: dict, veth_bytes: int) -> dict[str, float | int | bool]:
    """Whether the frames the edge answered all crossed the shaped veth.

    Their bytes reached the edge, so the vehicle's veth sent at least that many (tbf drops what the link
    cannot carry before the device counts it, so frames that were lost may be missing there). A veth that
    carried fewer bytes than the delivered frames means a path around the shaping: the run is marked.
    """
    delivered = sum(int(values['bytes']) for _, outcome, _, values in record['telemetry']
                    if outcome in ('edge', 'late', 'exit_check') and 'bytes' in values)  # fmt: skip
    return {'delivered_bytes': delivered, 'veth_bytes': veth_bytes, 'shaped': veth_bytes >= delivered}


def _shares(labels: list[str]) -> dict[str, float]:
    """Each configuration's share of the frames, the most used first."""
    counts = collections.Counter(labels)
    return {label: count / len(labels) for label, count in counts.most_common()}


def by_phase(trace: Trace, records: list[FrameRecord]) -> dict[str, dict]:
    """A simulated run per phase of its trace: on-time mAP@.5 and the configurations' shares."""
    groups: dict[str, list[FrameRecord]] = {}
    for record in records:
        groups.setdefault(phase_of(trace, record.time_s), []).append(record)
    return {phase: {'on_time_map50': float(np.mean([r.accuracy for r in group])),
                    'shares': _shares([r.choice for r in group])} for phase, group in groups.items()}  # fmt: skip


def reaction_times(trace: Trace, timeline: list[tuple[float, str]]) -> list[float | None]:
    """Per fall of the rate by half or more: seconds from it to the first frame with another configuration.

    None when the configuration did not change before the next change of the rate (it fitted the lower link).
    """
    falls = [(offset, rate) for (_, before), (offset, rate) in itertools.pairwise(schedule_of(trace, trace.duration_s))
             if rate <= before / 2]  # fmt: skip
    offsets = [offset for offset, _ in schedule_of(trace, trace.duration_s)]
    reactions: list[float | None] = []
    for fall, _ in falls:
        following = [offset for offset in offsets if offset > fall]
        until = following[0] if following else float('inf')
        before = [choice for when, choice in timeline if when < fall]
        after = [when for when, choice in timeline if fall <= when < until and before and choice != before[-1]]
        reactions.append(round(after[0] - fall, 3) if after else None)
    return reactions


def _choice(values: dict[str, str]) -> Choice:
    return choice_from_parameters({
        'mode': values['mode'], 'split_point': values.get('split', ''), 'codec': values.get('codec', ''),
        'exit_threshold': values.get('exit_threshold', '1.0'), 'jpeg_quality': values.get('jpeg_quality', '0'),
    })  # fmt: skip


def _quantiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {'count': len(values), 'p50': float(np.percentile(values, 50)), 'p99': float(np.percentile(values, 99)),
            'max': float(max(values))}  # fmt: skip


def head_parameters(choice: Choice | None, launched: Choice, deadline_ms: float) -> dict[str, object]:
    """The head as launched for a run: a static choice, or the launched one for the monitor to move."""
    return {
        'backend': 'onnxruntime', 'threads': 1, 'deadline_ms': deadline_ms, 'input_type': 'raw',
        'image_queue_depth': 4, **(choice or launched).parameters(),
        'qos_overrides./image.subscription.reliability': 'reliable',
        'qos_overrides./image.subscription.depth': 50,
    }  # fmt: skip


def probe_share(rates: list[float], seconds: float, folder: Path, env: dict[str, str]) -> dict[str, dict[str, float]]:
    """Monitor and tail alone, the uplink idle (the probes at their busiest): bytes on the vehicle's veth.

    Per rate, twice: the monitor as configured, then with its probes at their floor (0.1 Hz, 0.1% of the link),
    which leaves DDS's own traffic (discovery, heartbeats, acknowledgements). The probes' share is the
    difference, against the rate; the total share is everything on the veth.
    """
    floor = {'probe_hz': 0.1, 'probe_share': 0.001}
    shares = {}
    for rate in rates:
        sent = {name: _idle_uplink_bytes(rate, seconds, monitor, folder, env)
                for name, monitor in (('probing', {}), ('dds_only', floor))}  # fmt: skip
        link = rate * 1e6 * seconds / 8
        shares[f'{rate:g}'] = {'total': sent['probing'] / link, 'dds_own': sent['dds_only'] / link,
                               'probes': (sent['probing'] - sent['dds_only']) / link}  # fmt: skip
    return shares


def _idle_uplink_bytes(rate: float, seconds: float, monitor: dict, folder: Path, env: dict[str, str]) -> int:
    """Bytes the vehicle sends in `seconds` with the monitor (these parameters) and the tail alone on the link."""
    from splitee_ros.tools.harness import NodeProcess
    from splitee_ros.tools.netns import dds_env, two_hosts

    with two_hosts(f'{os.getpid() % 100000}') as (vehicle, edge):
        for host in (vehicle, edge):
            host.limit(rate)
        domain = 120 + os.getpid() % 80
        tail = NodeProcess('tail_node', {'backend': 'onnxruntime', 'threads': 1}, {**dds_env(domain, False), **env},
                           folder, prefix=edge.prefix())  # fmt: skip
        monitor_node = NodeProcess('monitor_node', {'adaptation_enabled': False, **monitor},
                                   {**dds_env(domain, True), **env}, folder, prefix=vehicle.prefix())  # fmt: skip
        try:
            time.sleep(25.0)  # discovery and the first estimates
            before = vehicle.tx_bytes()
            time.sleep(seconds)
            return vehicle.tx_bytes() - before
        finally:
            monitor_node.stop()
            tail.stop()


def exit_check_choice(profile: Profile, worth: dict[str, float], exit_rate: float = 0.3) -> Choice | None:
    """A run whose exits the edge checks: the threshold whose evaluated exit rate is nearest `exit_rate`.

    At the deepest split with an exit, with the code the simulator rates best there (`worth`: on-time mAP@.5
    by choice label); None if the package has no exits.
    """
    curves = profile.accuracy.exit_curves
    if not curves:
        return None
    split = list(curves)[-1]
    point = min(curves[split], key=lambda p: (abs(p.exit_rate - exit_rate), -p.threshold))
    codecs = {label.split()[2] for label in worth if label.startswith(f'split {split} ')}
    codec = max(codecs, key=lambda c: worth.get(Choice('split', split, c, point.threshold).label, -1.0))
    return Choice('split', split, codec, point.threshold)


def measure_devices(package: Path, name: str, cpus: float | None, again: bool) -> str:
    """The vehicle's device profile: `name`, or with a CPU quota `name@<cpus>cpu`, measured under it if missing.

    With `again`, both ends are measured now, each on its own computer's cores (the vehicle under its quota):
    this host's speed drifts (steal time), and a profile from another hour misleads the simulator's picks.
    Without a quota one profile serves both ends.
    """
    from splitee_ros.tools.cpulimit import cpu_group
    from splitee_ros.tools.netns import VEHICLE_CORES

    backend, _, threads = name.split('/')
    vehicle = f'{name}@{cpus:g}cpu' if cpus is not None else name
    edge_cores = [core for core in range(os.cpu_count() or 1) if core not in VEHICLE_CORES]
    # as run_two_hosts runs each computer: with a quota, the vehicle on its cores and the edge on the others;
    # without one, a single profile for both, unpinned
    wanted = []
    if again or vehicle not in Profile.load(package).devices:
        wanted.append((vehicle, cpus, VEHICLE_CORES if cpus is not None else ()))
    if again and cpus is not None:
        wanted.append((name, None, edge_cores))
    for device, quota, cores in wanted:
        with cpu_group('profile', quota, cores) as group:
            subprocess.run([*group.prefix, sys.executable, '-m', 'splitee_ros.cli', 'profile', str(package),
                            '--backend', backend, '--threads', threads.rstrip('t'), '--name', device],
                           check=True)  # fmt: skip
    return vehicle


def run_folder(work: Path, trace: str, label: str) -> Path:
    """Where a run of `trace` keeps its record and logs."""
    return work / trace / label.replace(' ', '_').replace('=', '')


def compare(entry: dict) -> None:
    """A trace's comparisons from its scored runs: adaptive against the best static run and the simulator."""
    runs, predicted = entry['runs'], entry['simulated']['adaptive']
    statics = [label for label in runs if label in entry['simulated']['statics']]
    best = entry['best_static'] = max(statics, key=lambda label: runs[label]['on_time_map50'])
    adaptive = runs['adaptive']
    entry['adaptive_minus_best_static_points'] = 100 * (adaptive['on_time_map50'] - runs[best]['on_time_map50'])
    entry['simulator_minus_measured_points'] = {
        key: 100 * (predicted[key] - adaptive[key]) for key in ('hit_rate', 'on_time_map50')
    }
    if entry['exit_check'] is not None:
        entry['exit_check']['measured'] = runs[entry['exit_check']['run']]['exit_checks']


def rescore(report: dict, work: Path, seconds: float, dataset: CocoDataset, scorer: CocoScorer) -> None:
    """Score every run of `report` again from the records under `work` (after a change to the scoring)."""
    for trace in traces(list(report['traces']), seconds):
        entry = report['traces'][trace.name]
        for label, run in entry['runs'].items():
            record = json.loads((run_folder(work, trace.name, label) / 'record.json').read_text())
            run.update(score_run(record, dataset, scorer, report['deadline_ms'], trace))
        compare(entry)


def main() -> None:
    """Simulate, run on two hosts, score, write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--package', type=Path, default=ROOT / 'models' / 'splitee_demo')
    parser.add_argument('--traces', nargs='+', default=['step', 'ramp', 'urban', 'constant'])
    parser.add_argument(
        '--seconds', type=float, default=RUN_DEFAULTS['seconds'], help='length of the step and ramp traces'
    )
    parser.add_argument('--fps', type=float, default=RUN_DEFAULTS['fps'])
    parser.add_argument('--deadline-ms', type=float, default=RUN_DEFAULTS['deadline_ms'])
    parser.add_argument('--target', type=float, default=RUN_DEFAULTS['target'])
    parser.add_argument('--statics', type=int, default=3, help='best static choices (by the simulator) to run')
    parser.add_argument('--profile', default='onnxruntime/cpu/1t', help='device profile of vehicle and edge')
    parser.add_argument('--vehicle-cpus', type=float,
                        help="the vehicle computer's CPU time in cores (a cgroup quota on head and monitor): a "
                             'vehicle slower than its edge; its profile is measured under the quota')  # fmt: skip
    parser.add_argument('--rescore', action='store_true',
                        help="score the last report's runs again from their records in --work (same --seconds), "
                             'after a change to the scoring; runs nothing')  # fmt: skip
    parser.add_argument('--measure-profiles', action='store_true',
                        help="measure vehicle and edge profiles now, into the package's profile.yaml (the host's "
                             'speed drifts)')  # fmt: skip
    parser.add_argument(
        '--exit-check-trace',
        default='constant',
        help="the trace that also gets a run with exits checked by the edge ('': none)",
    )
    parser.add_argument('--exit-check-share', type=float, default=0.25, help='share of the exits also checked')
    parser.add_argument('--probe-rates', type=float, nargs='*', default=[20.0, 2.0, 0.6],
                        help="Mbit/s of the idle uplinks whose probe bytes are counted (none: skip)")  # fmt: skip
    parser.add_argument('--work', type=Path, default=ROOT / 'artifacts' / 'two_host_bench')
    parser.add_argument('--out', type=Path, default=HERE / 'results')
    args = parser.parse_args()
    if args.statics < 1:
        parser.error('--statics must be at least 1: the report compares the adaptive run with the best static one')

    from splitee_ros.model.package import ModelPackage
    from splitee_ros.train.data import open_dataset

    package = ModelPackage.load(args.package)
    held_out = open_dataset(HELD_OUT, package.config.class_names, ROOT / 'artifacts' / 'eval' / 'data')
    dataset, scorer = held_out, CocoScorer(held_out)
    if args.rescore:
        report = json.loads((args.out / 'two_host.json').read_text())
        rescore(report, args.work, args.seconds, dataset, scorer)
        (args.out / 'two_host.json').write_text(json.dumps(report, indent=1) + '\n')
        (args.out / 'two_host.md').write_text(markdown(report))
        print(markdown(report))
        return
    vehicle = measure_devices(args.package, args.profile, args.vehicle_cpus, args.measure_profiles)
    profile = Profile.load(args.package)
    model = LatencyModel(profile, profile.device(vehicle), profile.device(args.profile))
    defaults = package.defaults
    launched = Choice('split', defaults['split'], defaults['codec'], float(defaults['exit_threshold']))
    env = {'SPLITEE_CACHE': str(args.work / 'cache')}
    report: dict[str, object] = {
        'package': str(args.package), 'model_id': package.model_id.hex(), 'seconds': args.seconds, 'fps': args.fps,
        'deadline_ms': args.deadline_ms, 'target': args.target, 'profile': args.profile, 'vehicle_profile': vehicle,
        'vehicle_cpus': args.vehicle_cpus, 'measure_profiles': args.measure_profiles, 'statics': args.statics,
        'launched': launched.label,
        'late_budget_ms': LATE_BUDGET_MS, 'traces': {},
    }  # fmt: skip
    for trace in traces(args.traces, args.seconds):
        seconds = min(trace.duration_s, len(dataset) / args.fps)
        schedule = schedule_of(trace, seconds)
        simulator = Simulator(model, trace, args.deadline_ms, args.fps, max_queue_s=0.3)
        settings = PolicySettings(deadline_ms=args.deadline_ms, target=args.target)
        statics, static_phases = [], {}
        for choice in model.choices():
            statics.append(simulator.run(choice))
            static_phases[choice.label] = by_phase(trace, simulator.records)
        statics.sort(key=lambda r: -r.mean_accuracy)
        best_by_phase = {phase: max(static_phases, key=lambda label: static_phases[label][phase]['on_time_map50'])
                         for phase in static_phases[statics[0].label]}  # fmt: skip
        predicted = simulator.run(Policy(model, settings), MonitorSettings(), start=launched)
        predicted_phases = by_phase(trace, simulator.records)
        picked = [s.label for s in statics[: args.statics]]
        chosen = {c.label: c for c in model.choices()}
        runs: dict[str, dict] = {}
        camera = ['--fps', str(args.fps), '--images', str(dataset.annotation_file), '--raw']
        monitor = {'deadline_ms': args.deadline_ms, 'target': args.target, 'vehicle_profile': vehicle,
                   'edge_profile': args.profile}  # fmt: skip
        from splitee_ros.tools.netns import run_two_hosts

        worth = {result.label: result.mean_accuracy for result in statics}
        checked = exit_check_choice(profile, worth) if trace.name == args.exit_check_trace else None
        if checked is not None:
            chosen[checked.label] = checked
        for label in ['adaptive', *picked, *([checked.label] if checked else [])]:
            folder = run_folder(args.work, trace.name, label)
            folder.mkdir(parents=True, exist_ok=True)
            static = None if label == 'adaptive' else chosen[label]
            monitor_parameters = monitor if static is None else {**monitor, 'adaptation_enabled': False}
            camera_frames = [*camera, '--duration', str(seconds)]
            head = head_parameters(static, launched, args.deadline_ms)
            if checked is not None and static == checked:
                head['exit_check_share'] = args.exit_check_share
            run = run_two_hosts(schedule, head,
                                {'backend': 'onnxruntime', 'threads': 1}, monitor_parameters, camera_frames,
                                folder, env=env, vehicle_cpus=args.vehicle_cpus)  # fmt: skip
            runs[label] = score_run(run.record, dataset, scorer, args.deadline_ms, trace)
            runs[label]['uplink'] = uplink_check(run.record, run.uplink_bytes)
            runs[label]['rate_change_lag_s'] = max(  # when the link changed, against the schedule
                (
                    abs(when - run.record['start'] - offset)
                    for (when, _), (offset, _) in zip(run.changed_at[1:], schedule[1:], strict=True)
                ),
                default=0.0,
            )
            print(f'{trace.name} {label}: on-time mAP@.5 {runs[label]["on_time_map50"]:.3f}, hit rate '
                  f'{runs[label]["hit_rate"]:.3f}', flush=True)  # fmt: skip
        split = checked.split if checked else launched.split
        expected = {f'{p.threshold:g}': p.agreement for p in profile.accuracy.exit_curves.get(split, ())}
        report['traces'][trace.name] = {
            'schedule': schedule, 'runs': runs,
            'simulated': {'adaptive': {'hit_rate': predicted.hit_rate, 'on_time_map50': predicted.mean_accuracy,
                                       'changes': predicted.changes, 'shares': dict(predicted.shares),
                                       'phases': predicted_phases},
                          'best_static_by_phase': {phase: {'choice': label, **static_phases[label][phase]}
                                                   for phase, label in best_by_phase.items()},
                          'statics': {s.label: {'hit_rate': s.hit_rate, 'on_time_map50': s.mean_accuracy}
                                      for s in statics[: args.statics]}},
            'exit_agreement_expected_by_threshold': expected,
            'exit_check': None if checked is None else {
                'run': checked.label, 'threshold': checked.exit_threshold,
                'expected_agreement': expected.get(f'{checked.exit_threshold:g}'),
            },
        }  # fmt: skip
        compare(report['traces'][trace.name])
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / 'two_host.json').write_text(json.dumps(report, indent=1) + '\n')
    if args.probe_rates:
        report['probe_share_idle'] = probe_share(args.probe_rates, 30.0, args.work, env)
    (args.out / 'two_host.json').write_text(json.dumps(report, indent=1) + '\n')
    (args.out / 'two_host.md').write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    """The summary table of a report."""
    lines = [
        f'# Two hosts on rate traces ({report["fps"]:g} FPS, {report["deadline_ms"]:g} ms deadline, target '
        f'{report["target"]:g})', '',
        f'`sudo python bench/two_host_bench.py{_flags(report)}`; package `{report["package"]}` '
        f'({report["model_id"]}), profiles: vehicle `{report["vehicle_profile"]}`, edge `{report["profile"]}`; the '
        f'head launched at `{report["launched"]}`. On-time mAP@.5: what '
        f'the head published for each frame within its deadline (+{report["late_budget_ms"]:g} ms), scored '
        'against the held-out ground truth; later answers count as nothing.', '',
        '| trace | run | on-time mAP@.5 | per phase | hit rate | drops | fallback lateness p50 / p99 ms | changes '
        '(first 10 s; after 5 s) |', '|---|---|---|---|---|---|---|---|',
    ]  # fmt: skip
    for name, entry in report['traces'].items():
        for label, run in entry['runs'].items():
            phases = ', '.join(f'{p} {v["on_time_map50"]:.3f}' for p, v in run['phases'].items())
            late = run['fallback_lateness_ms']
            late_text = f'{late["p50"]:.1f} / {late["p99"]:.1f}' if late else '-'
            lines.append(f'| {name} | {label} | {run["on_time_map50"]:.3f} | {phases} | {run["hit_rate"]:.3f} | '
                         f'{run["dropped"]} | {late_text} | {run["changes"]} ({run["changes_in_first_10s"]}; '
                         f'{run["changes_after_5s"]}) |')  # fmt: skip
        simulated = entry['simulated']['adaptive']
        lines.append(f'| {name} | simulator (adaptive) | {simulated["on_time_map50"]:.3f} | | '
                     f'{simulated["hit_rate"]:.3f} | | | {simulated["changes"]} |')  # fmt: skip
    unshaped = [f'{name} {label}' for name, entry in report['traces'].items() for label, run in entry['runs'].items()
                if not run.get('uplink', {}).get('shaped', True)]  # fmt: skip
    lines += [
        '',
        'Every run sent its frames through the shaped veth (it carried at least the bytes of the frames the edge '
        'answered).'
        if not unshaped
        else f'NOT SHAPED (the veth carried fewer bytes than the frames the edge answered): {unshaped}.',
    ]
    lines += ['', '| trace | adaptive - best static (points) | simulator - measured: hit rate, on-time mAP@.5 |',
              '|---|---|---|']  # fmt: skip
    for name, entry in report['traces'].items():
        gap = entry['simulator_minus_measured_points']
        lines.append(f'| {name} | {entry["adaptive_minus_best_static_points"]:+.1f} | {gap["hit_rate"]:+.1f}, '
                     f'{gap["on_time_map50"]:+.1f} |')  # fmt: skip
    lines += ['', "Per phase: the simulator's best static configuration; what the adaptive run ran most, simulated and "
              "measured, with its share of the phase's frames; on-time mAP@.5 of the adaptive run, simulated / "
              'measured:', '', '| trace | phase | best static (simulated) | adaptive, simulated | adaptive, measured | '
              'on-time mAP@.5 |', '|---|---|---|---|---|---|']  # fmt: skip
    for name, entry in report['traces'].items():
        simulated, measured = entry['simulated']['adaptive']['phases'], entry['runs']['adaptive']['phases']
        for phase, best in entry['simulated']['best_static_by_phase'].items():
            cells = [_most_used(simulated.get(phase)), _most_used(measured.get(phase))]
            scores = ' / '.join('-' if phase not in run else f'{run[phase]["on_time_map50"]:.3f}'
                                for run in (simulated, measured))  # fmt: skip
            lines.append(f'| {name} | {phase} | {best["choice"]} ({best["on_time_map50"]:.3f}) | {cells[0]} | '
                         f'{cells[1]} | {scores} |')  # fmt: skip
    for name, entry in report['traces'].items():
        check = entry.get('exit_check')
        if check and not check['measured']['count']:
            lines += ['', f"{name}: the run whose exits the edge checks ({check['run']}) got no check back "
                      "(refused or lost: the head's health counts them, exit_checks_unanswered)."]  # fmt: skip
    checks = [(name, label, run['exit_checks']) for name, entry in report['traces'].items()
              for label, run in entry['runs'].items() if run['exit_checks']['count']]  # fmt: skip
    if checks:
        lines += ['', "The edge's checks of exits (a share of the exited frames also sent to the edge): measured "
                  'agreement (F1 of the exit against the edge), against what the evaluation expects at that '
                  'threshold:', '']  # fmt: skip
        for name, label, check in checks:
            expected = report['traces'][name]['exit_agreement_expected_by_threshold'].get(label.rpartition('t=')[2])
            lines.append(f'- {name} {label}: {check["count"]} checks, mean agreement {check["mean_agreement"]:.3f}'
                         + (f' (expected {expected:.3f})' if expected is not None else ''))  # fmt: skip
    if 'probe_share_idle' in report:
        lines += ['', 'The idle uplink (monitor and tail alone: the probes at their busiest), bytes on the veth '
                  "against the link's rate: the probes (with probes, less with the probes at their floor), DDS's own "
                  'traffic, and the total:', '', '| Mbit/s | probes | DDS own | total |',
                  '|---|---|---|---|']  # fmt: skip
        lines += [f'| {rate} | {s["probes"]:.1%} | {s["dds_own"]:.1%} | {s["total"]:.1%} |'
                  for rate, s in report['probe_share_idle'].items()]  # fmt: skip
    return '\n'.join(lines) + '\n'


def _most_used(phase: dict | None) -> str:
    if not phase or not phase['shares']:
        return '-'
    label, share = next(iter(phase['shares'].items()))
    return f'{label} {share:.0%}'


def _flags(report: dict) -> str:
    """The command-line flags that made `report`, where they differ from the defaults."""
    flags = [f' --vehicle-cpus {report["vehicle_cpus"]:g}'] if report.get('vehicle_cpus') else []
    flags += [' --measure-profiles'] if report.get('measure_profiles') else []
    flags += [f' --statics {report["statics"]}'] if report.get('statics', 3) != 3 else []
    changed = [key for key, value in RUN_DEFAULTS.items() if report.get(key, value) != value]  # older: no seconds
    flags += [f' --{key.replace("_", "-")} {report[key]:g}' for key in changed]
    return ''.join(flags)


if __name__ == '__main__':
    main()
