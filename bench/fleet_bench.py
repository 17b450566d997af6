# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""One edge for a fleet: throughput and latency against the number of vehicles, batched and unbatched.

    python bench/fleet_bench.py [--seconds 15] [--fps 10] [--vehicles 1 2 4 8] [--parts sweep flood ray]

One tail_node (onnxruntime, one intra-op thread per worker) serves vehicles /veh_1 .. /veh_8. A replayer in
this process plays them: pre-encoded bottleneck frames of the package's operating point (its default split
and codec), each vehicle at `--fps`, each request with `--deadline-ms` of budget, so that no vehicle's head
competes for the edge's cores. It times every request from its publish to its envelope (one clock).

Runs, each on a tail started for it (the same backend and threads; only the batching differs):
- batched (`max_batch` 8) and unbatched (1), one worker: 1, 2, 4, 8 vehicles;
- batched with two workers (two batches at once: replicas in one process), the most vehicles;
- a flood: four vehicles at `--flood-fps` (default half of `--fps`: a baseline below the edge's capacity, not
  already a queue), then the same with one of them at 10x its rate; the others' p99 and service;
- on Ray Serve (part `ray`, a one-node cluster started here): the tail as a gateway to 1, then 2 replicas of
  each graph (one thread each), batched, the most vehicles: saturated throughput against replicas.
Per run: offered and answered requests per second, busy and expired answers, p50 and p99 of the answered
ones, and the mean batch. Writes bench/results/fleet.{json,md}, with each run's load average
(1 min) as it ends.

On this 2-core virtual machine, run it beside a steady load (the training job, say): with both cores idle
between frames, DDS delivery stalled for 1 to 2 s at times (measured here: one vehicle unbatched, p99 1.6 s
with the training paused, 53 ms with it running), while the same tail graph in a loop showed no stall.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PARTS = ('sweep', 'flood', 'ray')
ROOT = HERE.parent


class Replayer:
    """Vehicles that send pre-encoded frames and time the edge's answers."""

    def __init__(self, domain: int, vehicles: int, frames: list[bytes], frame_format: str) -> None:
        """Join `domain` and open every vehicle's request and result topics."""
        import rclpy
        from diagnostic_msgs.msg import DiagnosticStatus
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CompressedImage

        from splitee_ros.ros.executor import ResilientExecutor
        from splitee_ros.ros.telemetry import status_values

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = Node('fleet_replayer', context=self.context)
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.frames, self.frame_format = frames, frame_format
        self.lock = threading.Lock()
        self.sent: dict[tuple[int, int], float] = {}
        self.answers: list[tuple[int, str, float]] = []  # vehicle, status, latency (s)
        self.batches: list[int] = []
        self.publishers = [
            self.node.create_publisher(CompressedImage, f'/veh_{v}/splitee/bottleneck', reliable)
            for v in range(1, vehicles + 1)
        ]
        for vehicle in range(1, vehicles + 1):
            self.node.create_subscription(
                CompressedImage, f'/veh_{vehicle}/splitee/edge/result',
                lambda msg, v=vehicle: self._on_answer(v, msg), reliable,
            )  # fmt: skip
        self.node.create_subscription(
            DiagnosticStatus, '/tail_node/telemetry',
            lambda msg: msg.message == 'edge' and self.batches.append(int(status_values(msg).get('batch', 1))), 100,
        )  # fmt: skip
        self.executor = ResilientExecutor(num_threads=2, context=self.context)
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()
        self._message = CompressedImage

    def _on_answer(self, vehicle: int, msg) -> None:
        from splitee_ros.codec.envelope import decode_envelope

        now = time.monotonic()
        status = decode_envelope(bytes(msg.data), 256).status.name.lower()
        with self.lock:
            sent = self.sent.pop((vehicle, msg.header.stamp.nanosec), None)
            if sent is not None:
                self.answers.append((vehicle, status, now - sent))

    def ready(self, timeout_s: float) -> bool:
        """Whether the edge subscribes to every vehicle's requests."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() > 0 for p in self.publishers):
                return True
            time.sleep(0.2)
        return False

    def play(self, rates: dict[int, float], seconds: float) -> dict:
        """Send at `rates` (vehicle -> frames per second) for `seconds`; the answers' statistics."""
        with self.lock:
            self.sent.clear()
            self.answers.clear()
            self.batches.clear()
        start = time.monotonic()
        next_at = dict.fromkeys(rates, start)
        sequence = 0
        offered: dict[int, int] = dict.fromkeys(rates, 0)
        while (now := time.monotonic()) < start + seconds:
            vehicle = min(next_at, key=next_at.__getitem__)
            if next_at[vehicle] > now:
                time.sleep(min(next_at[vehicle] - now, 0.005))
                continue
            next_at[vehicle] += 1.0 / rates[vehicle]
            sequence += 1
            msg = self._message(format=self.frame_format, data=self.frames[sequence % len(self.frames)])
            msg.header.frame_id = 'camera'
            msg.header.stamp.sec, msg.header.stamp.nanosec = vehicle, sequence
            with self.lock:
                self.sent[vehicle, sequence] = time.monotonic()
            self.publishers[vehicle - 1].publish(msg)
            offered[vehicle] += 1
        time.sleep(2.0)  # the last answers
        with self.lock:
            answers, batches = list(self.answers), list(self.batches)
        return summarize(answers, batches, offered, seconds)

    def close(self) -> None:
        """Leave the domain."""
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def summarize(answers: list[tuple[int, str, float]], batches: list[int], offered: dict[int, int], seconds: float):
    """Per run and per vehicle: requests per second offered and answered, refusals, latency quantiles."""

    def stats(rows: list[tuple[int, str, float]], sent: int) -> dict:
        ok = [latency * 1e3 for _, status, latency in rows if status == 'ok']
        return {
            'offered_rps': sent / seconds, 'answered_rps': len(ok) / seconds,
            'busy': sum(status == 'busy' for _, status, _ in rows),
            'expired': sum(status == 'expired' for _, status, _ in rows),
            'unanswered': sent - len(rows),
            'p50_ms': float(np.percentile(ok, 50)) if ok else None,
            'p99_ms': float(np.percentile(ok, 99)) if ok else None,
        }  # fmt: skip

    result = stats(answers, sum(offered.values()))
    result['mean_batch'] = float(np.mean(batches)) if batches else None
    result['vehicles'] = {str(v): stats([a for a in answers if a[0] == v], n) for v, n in offered.items()}
    return result


def encoded_frames(package_folder: Path, count: int, operating_point: str | None) -> tuple[list[bytes], str]:
    """Bottleneck frames of `operating_point` (SPLIT/CODEC; default the package's), and its name."""
    from splitee_ros.codec.frame import encode_frame
    from splitee_ros.data.synth import sample_frames
    from splitee_ros.model.package import ModelPackage
    from splitee_ros.runtime.base import make_runtime

    package = ModelPackage.load(package_folder)
    runtime = make_runtime(package_folder, 'onnxruntime', 'head', threads=2)
    split, codec_name = package.defaults.get('split', runtime.split_names[-1]), package.defaults.get('codec', 'int8')
    if operating_point is not None:
        split, codec_name = operating_point.split('/')
    codec = {c.name: c for c in package.codecs().values()}[codec_name]
    index = runtime.split_names.index(split)
    frames = [
        encode_frame(runtime.run_head(split, image).code, codec, package.model_id, index, n)
        for n, image in enumerate(sample_frames(count, seed=6100))
    ]
    return frames, f'{split}/{codec_name}'


def reliable_requests(vehicles: int) -> dict[str, object]:
    """Tail parameters that make every vehicle's requests reliable with a deep queue, so every one is answered.

    The throughput runs count every request; the flood runs keep the package's QoS (best effort, the newest
    request per vehicle), so that a vehicle's surplus is dropped in its own reader queue, as it would be.
    """
    return {
        **{
            f'qos_overrides./veh_{v}/splitee/bottleneck.subscription.reliability': 'reliable'
            for v in range(1, vehicles + 1)
        },
        **{f'qos_overrides./veh_{v}/splitee/bottleneck.subscription.depth': 100 for v in range(1, vehicles + 1)},
    }


def main() -> None:
    """Start a tail per configuration, replay the fleet, write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--package', type=Path, default=ROOT / 'models' / 'splitee_demo')
    parser.add_argument('--operating-point', help="the frames' SPLIT/CODEC (default: the package's)")
    parser.add_argument('--seconds', type=float, default=15.0)
    parser.add_argument('--fps', type=float, default=10.0)
    parser.add_argument('--flood-fps', type=float, help='per vehicle in the flood runs (default: half of --fps)')
    parser.add_argument('--deadline-ms', type=float, default=250.0)
    parser.add_argument('--vehicles', type=int, nargs='+', default=[1, 2, 4, 8])
    parser.add_argument(
        '--parts',
        nargs='+',
        choices=PARTS,
        default=list(PARTS),
        help='which runs; a part run alone replaces its runs in an existing fleet.json',
    )
    parser.add_argument('--out', type=Path, default=HERE / 'results')
    parser.add_argument('--work', type=Path, default=ROOT / 'artifacts' / 'fleet_bench')
    args = parser.parse_args()

    from splitee_ros.pipeline.request import BOTTLENECK, RequestFormat
    from splitee_ros.tools.harness import NodeProcess, node_env

    frames, operating_point = encoded_frames(args.package, 12, args.operating_point)
    frame_format = RequestFormat(BOTTLENECK, (480, 640), int(args.deadline_ms), 0).text()
    most = max(args.vehicles)
    domain = 1 + os.getpid() % 200
    env = node_env(domain, args.work / 'cache')
    settings = {
        'package': str(args.package), 'operating_point': operating_point, 'fps': args.fps,
        'flood_fps': args.flood_fps or args.fps / 2, 'deadline_ms': args.deadline_ms, 'seconds': args.seconds,
    }  # fmt: skip
    previous = args.out / 'fleet.json'
    report: dict = {**settings, 'command': ' '.join(['python bench/fleet_bench.py', *sys.argv[1:]]), 'runs': {}}
    if set(args.parts) != set(PARTS) and previous.exists():
        kept = json.loads(previous.read_text())
        if all(kept.get(key) == value for key, value in settings.items()):
            report['runs'] = {name: run for name, run in kept['runs'].items() if run.get('part') not in args.parts}

    def with_tail(label: str, max_batch: int, workers: int, plays: list[tuple[str, dict[int, float]]],
                  part: str, engine: dict | None = None) -> None:  # fmt: skip
        parameters = {
            'model': str(args.package), 'backend': 'onnxruntime', 'threads': 1, 'max_batch': max_batch,
            'workers': workers, 'vehicles': [f'veh_{v}' for v in range(1, most + 1)], **(engine or {}),
            **(reliable_requests(most) if part != 'flood' else {}),
        }  # fmt: skip
        tail = NodeProcess('tail_node', parameters, env, args.work / label)
        replayer = Replayer(domain, most, frames, frame_format)
        try:
            if not replayer.ready(240):
                raise RuntimeError(f'the tail did not come up:\n{tail.log_tail()}')
            replayer.play({1: args.fps}, 3.0)  # warm: the service time estimate, the DDS matching
            for name, rates in plays:
                result = replayer.play(rates, args.seconds)
                report['runs'][f'{label} {name}'] = {'part': part, 'load_average': os.getloadavg()[0],
                                                     'max_batch': max_batch, 'workers': workers,
                                                     **result}  # fmt: skip
                print(f'{label} {name}: {result["answered_rps"]:.1f} answered/s of {result["offered_rps"]:.1f}, '
                      f'p99 {result["p99_ms"]} ms, busy {result["busy"]}, expired {result["expired"]}, '
                      f'mean batch {result["mean_batch"]}', flush=True)  # fmt: skip
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / 'fleet.json').write_text(json.dumps(report, indent=1) + '\n')
        finally:
            replayer.close()
            tail.stop()

    sweep = [(f'{n} vehicles', dict.fromkeys(range(1, n + 1), args.fps)) for n in args.vehicles]
    if 'sweep' in args.parts:
        with_tail('unbatched', 1, 1, sweep, 'sweep')
        with_tail('batched', 8, 1, sweep, 'sweep')
        with_tail('batched 2 workers', 8, 2, sweep[-1:], 'sweep')
    if 'flood' in args.parts:
        fps = settings['flood_fps']
        flood = [('4 vehicles', dict.fromkeys(range(1, 5), fps)),
                 ('4 vehicles, veh_1 at 10x', {1: 10 * fps, 2: fps, 3: fps, 4: fps})]  # fmt: skip
        with_tail('flood', 8, 1, flood, 'flood')
    if 'ray' in args.parts:
        from splitee_ros.tools.ray_cluster import ray_head

        with ray_head(args.work / 'ray') as address:
            for replicas in (1, 2):
                engine = {'backend': 'ray', 'engine_address': address, 'engine_replicas': replicas}
                with_tail(f'ray {replicas} replica{"s" if replicas > 1 else ""}', 8, 2, sweep[-1:], 'ray', engine)
    report['summary'] = summary(report, most)
    (args.out / 'fleet.json').write_text(json.dumps(report, indent=1) + '\n')
    (args.out / 'fleet.md').write_text(markdown(report))
    print(markdown(report))


def summary(report: dict, most: int) -> dict:
    """The ratios the issue asks for, each from runs of one invocation (of its part)."""
    runs = report['runs']

    def ratio(numerator: str, denominator: str) -> dict:
        if numerator not in runs or denominator not in runs:
            return {}
        key = f'{numerator} / {denominator} (answered/s)'
        return {key: runs[numerator]['answered_rps'] / max(runs[denominator]['answered_rps'], 1e-9)}

    result = {
        **ratio(f'batched {most} vehicles', f'unbatched {most} vehicles'),
        **ratio(f'batched 2 workers {most} vehicles', f'batched {most} vehicles'),
        **ratio(f'ray 2 replicas {most} vehicles', f'ray 1 replica {most} vehicles'),
    }
    calm, flood = runs.get('flood 4 vehicles'), runs.get('flood 4 vehicles, veh_1 at 10x')
    if calm and flood:
        others = [str(v) for v in (2, 3, 4)]
        result["flood: the others' p99 increase"] = (
            max(flood['vehicles'][v]['p99_ms'] or math.inf for v in others)
            / max(calm['vehicles'][v]['p99_ms'] or math.inf for v in others)
            - 1.0
        )
        result["flood: the others' least answered share"] = min(
            flood['vehicles'][v]['answered_rps'] / flood['vehicles'][v]['offered_rps'] for v in others
        )
    return result


def markdown(report: dict) -> str:
    """The runs as a table, and the ratios."""
    lines = [
        f'# Fleet edge ({report["operating_point"]}, {report["fps"]:g} FPS per vehicle, budget '
        f'{report["deadline_ms"]:g} ms, {report["seconds"]:g} s per run)',
        '',
        f'`{report["command"]}`; the flood runs at {report["flood_fps"]:g} FPS per vehicle.',
        '',
        '| run | max batch | workers | offered/s | answered/s | busy | expired | p50 ms | p99 ms | mean batch |',
        '|---|---|---|---|---|---|---|---|---|---|',
    ]
    for name, run in report['runs'].items():
        p50, p99 = (f'{run[k]:.1f}' if run[k] is not None else '-' for k in ('p50_ms', 'p99_ms'))
        batch = f'{run["mean_batch"]:.2f}' if run['mean_batch'] else '-'
        counts = f'{run["offered_rps"]:.1f} | {run["answered_rps"]:.1f} | {run["busy"]} | {run["expired"]}'
        lines.append(f'| {name} | {run["max_batch"]} | {run["workers"]} | {counts} | {p50} | {p99} | {batch} |')
    if 'summary' in report:
        lines += ['', *(f'- {key}: {value:.3f}' if isinstance(value, float) else f'- {key}: {value}'
                        for key, value in report['summary'].items())]  # fmt: skip
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
