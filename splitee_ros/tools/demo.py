# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""`splitee demo`: a short synthetic drive through head, tail and monitor nodes, then a summary and a report.

Each node runs in a process of its own and they talk over Fast DDS; the bag is replayed with its timing.
The summary counts frames in and out, exits, offloads, fallbacks, rejections, bytes per frame, latency
percentiles and mAP against the drive's ground truth; the report (HTML + PNG) shows annotated frames and a
latency/decision timeline. With `fleet` N, vehicles /veh_1 .. /veh_N each replay a drive of their own into
their head_node against one tail_node, and the summary is per vehicle and for the fleet.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from splitee_ros.data.bag import IMAGE_TOPIC
from splitee_ros.data.coco import CocoDataset
from splitee_ros.data.synth_dataset import SynthConfig, make_synthetic_dataset
from splitee_ros.model.package import ModelPackage, find_package
from splitee_ros.model.postprocess import Detections
from splitee_ros.ros.convert import msg_to_detections
from splitee_ros.ros.telemetry import status_values
from splitee_ros.tools.harness import Collector, NodeProcess, node_env
from splitee_ros.tools.player import PlayOptions, play

OUTCOMES = ('exit', 'edge', 'fallback', 'local')


@dataclass(frozen=True)
class DemoOptions:
    """What the demo runs."""

    mode: str = 'split'
    model: str = 'splitee_demo'
    backend: str = 'onnxruntime'
    split_point: str | None = None  # None: the package's defaults (its operating point)
    codec: str | None = None
    exit_threshold: float | None = None
    deadline_ms: float = 200.0
    drives: int = 10
    frames: int = 20
    fps: float = 5.0
    seed: int = 2029  # a drive no training or evaluation set uses
    domain_id: int = 0  # 0: derived from the process id
    fleet: int = 0  # vehicles against one edge (0: one vehicle in the root namespace)


def make_drive(folder: Path, options: DemoOptions, seed: int) -> tuple[Path, CocoDataset, dict]:
    """A synthetic drive afresh in `folder` (same seed, same bytes): its bag, its dataset, frame key -> image id."""
    config = SynthConfig(seed=seed, drives=options.drives, frames=options.frames, fps=options.fps, image_format='jpg')
    shutil.rmtree(folder, ignore_errors=True)
    make_synthetic_dataset(folder, config)
    dataset = CocoDataset(
        folder / 'annotations.json', ModelPackage.load(find_package(options.model)).config.class_names
    )
    keys = {(im['stamp']['sec'], im['stamp']['nanosec'], 'camera'): im['id'] for im in dataset.data['images']}
    return folder / 'camera.bag', dataset, keys


def node_parameters(options: DemoOptions, package, image_topic: str) -> tuple[dict, dict, dict]:
    """Parameters of the tail, a head whose camera is `image_topic`, and its monitor."""
    common = {'model': str(package.folder), 'backend': options.backend}
    chosen = {'split_point': options.split_point, 'codec': options.codec, 'exit_threshold': options.exit_threshold}
    head = {
        **common,
        'mode': 'split' if options.mode == 'adaptive' else options.mode,
        **{name: value for name, value in chosen.items() if value is not None},  # else the package's defaults
        'deadline_ms': options.deadline_ms,
        # a bag replay delivers every frame, as `ros2 bag play` does with reliable QoS
        f'qos_overrides.{image_topic}.subscription.reliability': 'reliable',
    }
    monitor = {'adaptation_enabled': options.mode == 'adaptive', 'deadline_ms': options.deadline_ms, **common}
    return common, head, {key: value for key, value in monitor.items() if key != 'backend'}


def run_demo(options: DemoOptions, out: str | Path) -> dict:
    """Run the demo; write summary.json, report.html and its PNGs into `out`; return the summary."""
    if options.fleet:
        return run_fleet_demo(options, out)
    out = Path(out)
    bag, dataset, keys = make_drive(out / 'drive', options, options.seed)
    package = ModelPackage.load(find_package(options.model))
    domain = options.domain_id or 1 + os.getpid() % 200
    env = node_env(domain)
    tail_parameters, head_parameters, monitor_parameters = node_parameters(options, package, IMAGE_TOPIC)
    logs = out / 'logs'
    nodes = [
        NodeProcess('tail_node', tail_parameters, env, logs),
        NodeProcess('head_node', head_parameters, env, logs, {'image': IMAGE_TOPIC}),
        NodeProcess('monitor_node', monitor_parameters, env, logs),
    ]
    collector = Collector(domain)
    try:
        print(f'demo: starting head, tail and monitor nodes (mode {options.mode}, ROS_DOMAIN_ID {domain})', flush=True)
        ready = {IMAGE_TOPIC: 1, 'splitee/bottleneck': 1, 'splitee/probe': 1}  # and discovered by this node
        active = collector.wait_until_active(['head_node', 'tail_node'], 300)
        if not (active and collector.wait_for_subscribers(ready, 120, publishers={'perception/detections': 1})):
            raise RuntimeError('nodes did not come up:\n' + '\n'.join(n.log_tail(10) for n in nodes))
        print(f'demo: replaying {options.drives * options.frames} frames at {options.fps:g} FPS', flush=True)
        published = play(bag, PlayOptions(topics=(IMAGE_TOPIC,), wait_for_subscribers_s=60.0), node=collector.node)
        collector.wait_for_results(keys, timeout_s=30 + 2 * options.deadline_ms / 1e3 * len(keys) / 10)
        time.sleep(1.5)  # one more diagnostics period
    finally:
        for node in nodes:
            node.stop()
        collector.close()
    summary = summarize(collector, dataset, keys, published, package, options)
    (out / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    from splitee_ros.tools.report import write_report

    write_report(out, collector, dataset, keys, package, summary)
    return summary


def run_fleet_demo(options: DemoOptions, out: str | Path) -> dict:
    """Vehicles /veh_1 .. /veh_N, each a head_node with a drive of its own, against one tail_node.

    The tail serves the vehicles named in its `vehicles` parameter and batches their frames; every vehicle's
    bag is replayed at once, each on its own camera topic. Each vehicle gets its monitor in adaptive mode
    only (in a fixed mode it would only probe, and this machine's two cores are spoken for). Writes
    summary.json: per vehicle and for the fleet.
    """
    from concurrent.futures import ThreadPoolExecutor

    out = Path(out)
    vehicles = [f'veh_{index}' for index in range(1, options.fleet + 1)]
    package = ModelPackage.load(find_package(options.model))
    drives = {v: make_drive(out / v / 'drive', options, options.seed + i) for i, v in enumerate(vehicles)}
    domain = options.domain_id or 1 + os.getpid() % 200
    env = node_env(domain)
    camera = {vehicle: f'/{vehicle}{IMAGE_TOPIC}' for vehicle in vehicles}
    tail_parameters = {**node_parameters(options, package, '')[0], 'vehicles': vehicles, 'max_batch': options.fleet}
    nodes = [NodeProcess('tail_node', tail_parameters, env, out / 'edge' / 'logs')]
    for vehicle in vehicles:
        _, head_parameters, monitor_parameters = node_parameters(options, package, camera[vehicle])
        names = {'__ns': f'/{vehicle}'}
        logs = out / vehicle / 'logs'
        nodes.append(NodeProcess('head_node', head_parameters, env, logs, {**names, 'image': camera[vehicle]}))
        if options.mode == 'adaptive':
            nodes.append(NodeProcess('monitor_node', monitor_parameters, env, logs, names))
    edge = Collector(domain)
    collectors = {vehicle: Collector(domain, namespace=f'/{vehicle}') for vehicle in vehicles}
    try:
        print(
            f'demo: one tail_node, {len(vehicles)} vehicles (mode {options.mode}, ROS_DOMAIN_ID {domain})', flush=True
        )
        ready = {**{topic: 1 for topic in camera.values()}, **{f'/{v}/splitee/bottleneck': 1 for v in vehicles}}
        answers = {f'/{v}/perception/detections': 1 for v in vehicles} | {
            f'/{v}/splitee/edge/result': 1 for v in vehicles
        }
        active = edge.wait_until_active(['tail_node', *(f'/{v}/head_node' for v in vehicles)], 600)
        if not (active and edge.wait_for_subscribers(ready, 120, publishers=answers)):
            raise RuntimeError('nodes did not come up:\n' + '\n'.join(n.log_tail(10) for n in nodes))
        frames = options.drives * options.frames
        print(f'demo: replaying {frames} frames per vehicle at {options.fps:g} FPS, every vehicle at once', flush=True)
        started = time.monotonic()

        def replay(vehicle: str) -> int:
            remap = ((IMAGE_TOPIC, camera[vehicle]),)
            play_options = PlayOptions(topics=(IMAGE_TOPIC,), remap=remap, wait_for_subscribers_s=60.0)
            return play(drives[vehicle][0], play_options, node=collectors[vehicle].node)

        with ThreadPoolExecutor(len(vehicles)) as pool:
            published = dict(zip(vehicles, pool.map(replay, vehicles), strict=True))
        for vehicle in vehicles:
            collectors[vehicle].wait_for_results(
                drives[vehicle][2], timeout_s=30 + 2 * options.deadline_ms / 1e3 * frames / 10
            )
        seconds = time.monotonic() - started
        time.sleep(1.5)  # one more diagnostics period
    finally:
        for node in nodes:
            node.stop()
        for collector in (edge, *collectors.values()):
            collector.close()
    per_vehicle = {
        vehicle: summarize(
            collectors[vehicle], drives[vehicle][1], drives[vehicle][2], published[vehicle], package, options
        )
        for vehicle in vehicles
    }
    summary = {'vehicles': per_vehicle, 'fleet': fleet_summary(per_vehicle, edge, seconds)}
    (out / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    return summary


def fleet_summary(per_vehicle: dict[str, dict], edge: Collector, seconds: float) -> dict:
    """The fleet's totals, the edge's answers by kind, its throughput and mean batch, and the vehicles' mean mAP."""
    totals = {key: sum(summary[key] for summary in per_vehicle.values())
              for key in ('frames_in', 'results_out', 'duplicate_results', 'frames_edge', 'frames_fallback',
                          'frames_exit', 'frames_local', 'frames_dropped')}  # fmt: skip
    with edge.lock:
        served = [status_values(status) for _, status in edge.telemetry['tail_node'] if status.message == 'edge']
    batches = [int(values['batch']) for values in served if 'batch' in values]
    return {
        **totals,
        'edge_answers': edge.outcomes('tail_node'),
        'edge_frames_per_s': len(served) / max(seconds, 1e-9),
        'edge_mean_batch': float(np.mean(batches)) if batches else 0.0,
        'map50_mean': float(np.mean([summary['map50'] for summary in per_vehicle.values()])),
        'on_time_map50_mean': float(np.mean([summary['on_time_map50'] for summary in per_vehicle.values()])),
    }


LATE_BUDGET_MS = 10.0  # a fallback published this soon after its deadline counts as on time


def summarize(collector: Collector, dataset: CocoDataset, keys: dict, published: int, package, options) -> dict:
    """Counts, bytes, latency percentiles, fallback lateness, and mAP (all answers, and on time) of one run."""
    from splitee_ros.train.evaluate import CocoScorer

    head = collector.head_frames()
    outcomes = collector.outcomes('head_node')
    latencies = [float(values['latency_ms']) for _, values in head.values() if 'latency_ms' in values]
    sent = [int(values['bytes']) for outcome, values in head.values() if 'bytes' in values]
    lateness = [float(values['latency_ms']) - options.deadline_ms for outcome, values in head.values()
                if outcome == 'fallback' and 'latency_ms' in values]  # fmt: skip

    def answer(key) -> Detections:  # a frame without a result scores as one without detections
        if key not in collector.results:
            return Detections.empty()
        return msg_to_detections(collector.results[key][1], package.config.class_names)

    def on_time(key) -> bool:
        latency = float(head.get(key, ('', {}))[1].get('latency_ms', 'inf'))
        return latency <= options.deadline_ms + LATE_BUDGET_MS

    scorer, ids = CocoScorer(dataset), list(keys.values())
    score = scorer.score({image_id: answer(key) for key, image_id in keys.items()}, ids)
    timely = scorer.score({i: answer(k) if on_time(k) else Detections.empty() for k, i in keys.items()}, ids)
    ran = next((values for outcome, values in head.values() if values.get('mode') == 'split'), {})  # as it ran
    return {
        'mode': options.mode,
        'backend': options.backend,
        'split_point': ran.get('split', options.split_point),
        'codec': ran.get('codec', options.codec),
        'exit_threshold': float(ran['exit_threshold']) if 'exit_threshold' in ran else options.exit_threshold,
        'deadline_ms': options.deadline_ms,
        'frames_in': published,
        'results_out': len(set(collector.results) & set(keys)),
        'duplicate_results': sum(count - 1 for count in collector.result_counts.values()),
        **{f'frames_{outcome}': outcomes.get(outcome, 0) for outcome in (*OUTCOMES, 'late', 'dropped', 'rejected')},
        'drop_rate': outcomes.get('dropped', 0) / max(published, 1),
        'rejected_at_edge': collector.outcomes('tail_node').get('rejected', 0),
        'bytes_per_offloaded_frame': float(np.mean(sent)) if sent else 0.0,
        'bytes_per_frame': float(np.sum(sent)) / max(published, 1),
        **{f'latency_p{p}_ms': float(np.percentile(latencies, p)) if latencies else None for p in (50, 95, 99)},
        **{f'fallback_lateness_p{p}_ms': float(np.percentile(lateness, p)) if lateness else None for p in (50, 99)},
        'map50': score.map50,
        'map': score.map,
        'on_time_map50': timely.map50,
    }


def format_summary(summary: dict) -> str:
    """The summary as the demo prints it (a fleet's: every vehicle's, then the fleet's)."""
    if 'fleet' in summary:
        parts = [f'--- {vehicle}\n{format_summary(one)}' for vehicle, one in summary['vehicles'].items()]
        fleet = summary['fleet']
        parts.append(
            f'--- fleet of {len(summary["vehicles"])}\nframes in {fleet["frames_in"]}, results out '
            f'{fleet["results_out"]} (duplicates {fleet["duplicate_results"]}), answered by the edge '
            f'{fleet["frames_edge"]}, fallbacks {fleet["frames_fallback"]}, exits {fleet["frames_exit"]}, dropped '
            f'{fleet["frames_dropped"]}\nedge: {fleet["edge_frames_per_s"]:.1f} frames/s served, mean batch '
            f'{fleet["edge_mean_batch"]:.2f}, answers {fleet["edge_answers"]}\nmAP@.5 over the vehicles '
            f'{fleet["map50_mean"]:.3f} (on time: {fleet["on_time_map50_mean"]:.3f})'
        )
        return '\n'.join(parts)
    lines = [
        f'mode {summary["mode"]} ({summary["backend"]}), split {summary["split_point"]}, codec {summary["codec"]}, '
        f'exit threshold {summary["exit_threshold"]}, deadline {summary["deadline_ms"]:.0f} ms',
        f'frames in {summary["frames_in"]}, results out {summary["results_out"]} '
        f'(duplicates {summary["duplicate_results"]})',
        f'exits {summary["frames_exit"]}, offloaded and answered by the edge {summary["frames_edge"]}, '
        f'fallbacks {summary["frames_fallback"]}, local {summary["frames_local"]}, late edge results '
        f'{summary["frames_late"]}, dropped {summary["frames_dropped"]}, rejected {summary["frames_rejected"]} '
        f'(edge {summary["rejected_at_edge"]})',
        f'bytes per offloaded frame {summary["bytes_per_offloaded_frame"]:.0f}, per input frame '
        f'{summary["bytes_per_frame"]:.0f}',
    ]
    if summary['latency_p50_ms'] is not None:
        lines.append(
            f'latency p50 {summary["latency_p50_ms"]:.1f} ms, p95 {summary["latency_p95_ms"]:.1f} ms, '
            f'p99 {summary["latency_p99_ms"]:.1f} ms'
        )
    if summary['fallback_lateness_p50_ms'] is not None:
        lines.append(f'fallbacks published {summary["fallback_lateness_p50_ms"]:.1f} ms (p50) and '
                     f'{summary["fallback_lateness_p99_ms"]:.1f} ms (p99) after their deadline')  # fmt: skip
    lines.append(f'mAP@.5 {summary["map50"]:.3f} (on time: {summary["on_time_map50"]:.3f}), mAP@[.5:.95] '
                 f'{summary["map"]:.3f} against the ground truth')  # fmt: skip
    return '\n'.join(lines)
