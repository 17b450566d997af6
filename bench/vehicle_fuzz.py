# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Live fuzzing of the vehicle's inputs and every node's parameters over DDS: at least 10,000 per input.

    python bench/vehicle_fuzz.py [--messages 27000] [--rate 50] [--probes 10000] [--parameter-rounds 30]

head_node, tail_node and monitor_node run as processes, as in test/test_vehicle_fuzz.py (the short run):
camera images (wrong encodings, step and size mismatches, huge dimensions) and edge results (malformed
envelopes for frames waiting at the edge, results for frames never sent, duplicates at once and late, the
largest envelopes the format allows), one valid frame in four; probe replies (forged ids and tokens,
duplicates, reordered); SetParameters on every parameter of every node with wrong types and out-of-range
values, round after round. Records what was sent, how the valid frames were answered, the nodes' rejection
counters, deaths, and head_node's resident memory at each quarter. Writes bench/results/vehicle_fuzz.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from results_file import memory_line, write_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / 'test'))


def _progress(phase: str) -> None:
    """A long run says where it is (a stalled phase is told from a slow one by its last line)."""
    print(f'{time.strftime("%H:%M:%S")} {phase}', file=sys.stderr, flush=True)


def main() -> None:
    """Fuzz fresh nodes and write the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--messages', type=int, default=40_000, help='images (1/2), results (1/4), valid frames (1/4)')
    parser.add_argument('--rate', type=float, default=50.0, help='messages per second')
    parser.add_argument('--probes', type=int, default=10_000)
    parser.add_argument('--parameter-rounds', type=int, default=34, help='passes over every parameter of every node')
    parser.add_argument('--depth', type=int, default=50, help="history depth of the head's fuzzed subscriptions")
    parser.add_argument('--out', type=Path, default=HERE / 'results' / 'vehicle_fuzz.json')
    args = parser.parse_args()

    from test_vehicle_fuzz import vehicle_and_edge  # the same nodes and settings as the short run

    from splitee_ros.data.synth import sample_frames
    from splitee_ros.model.package import ModelPackage
    from splitee_ros.ros.parameter_table import TABLES
    from splitee_ros.runtime.exports import cache_root
    from splitee_ros.tools.fuzz import fuzz_head, fuzz_parameters, fuzz_probe_replies
    from splitee_ros.tools.harness import Collector

    domain = 171
    with tempfile.TemporaryDirectory() as scratch:
        nodes = vehicle_and_edge(domain, cache_root(), scratch, args.depth)
        collector = Collector(domain)
        try:
            if not collector.wait_until_active(['tail_node', 'head_node'], 300):
                raise SystemExit('the nodes did not come up:\n' + nodes['head_node'].log_tail())
            _progress(
                f'images and results: {args.messages} messages at {args.rate:g} Hz, '
                f'about {args.messages / args.rate / 60:.0f} min'
            )
            class_count = len(ModelPackage.load(ROOT / 'models' / 'splitee_demo').config.class_names)
            head = fuzz_head(collector, nodes['head_node'].process.pid, sample_frames(8, seed=31), class_count,
                             args.messages, seed=2026, rate_hz=args.rate)  # fmt: skip
            head_counts = collector.wait_for_health('head_node', lambda v: False, timeout_s=3.0)
            _progress(f'probe replies: {args.probes} at 200 Hz')
            probes = fuzz_probe_replies(collector, args.probes, seed=2027, rate_hz=200.0)
            link = collector.wait_for_health('monitor_node', lambda v: False, timeout_s=3.0, status='splitee: link')
            parameters: dict[str, dict[str, object]] = {}
            for node in ('head_node', 'tail_node', 'monitor_node'):
                _progress(f'parameters of {node}: {args.parameter_rounds} rounds')
                totals: dict[str, object] = {'attempts': 0, 'refused': 0, 'accepted': 0, 'accepted_values': []}
                for _ in range(args.parameter_rounds):
                    outcome = fuzz_parameters(collector, node, TABLES[node])
                    for key in ('attempts', 'refused', 'accepted'):
                        totals[key] = int(totals[key]) + int(outcome.get(key, 0))  # type: ignore[arg-type]
                    totals['accepted_values'] = sorted({*totals['accepted_values'], *outcome['accepted_values']})  # type: ignore[misc]
                parameters[node] = totals
            alive = {name: process.alive() for name, process in nodes.items()}
        finally:
            for process in nodes.values():
                process.stop()
            collector.close()
    rejected = {k: int(v) for k, v in head_counts.items()
                if k.startswith('rejected') or k in ('unknown_edge_results', 'duplicate_edge_results')}  # fmt: skip
    own = {k: int(head_counts.get(k, 0)) for k in ('edge', 'fallback', 'dropped', 'late')}  # the head's own account
    probe_counts = {k: int(v) for k, v in link.items() if k.startswith('probe_replies_')}
    result = {
        'command': 'python bench/vehicle_fuzz.py ' + ' '.join(sys.argv[1:]), 'rate_hz': args.rate,
        'head': {**head.as_dict(), 'counted': rejected, 'own_outcome_counts': own}, 'depth': args.depth,
        'probe_replies': {'sent': dict(probes), 'counted': probe_counts, 'rtt_ms': link.get('rtt_ms')},
        'parameters': parameters, 'alive': alive,
    }  # fmt: skip
    images = sum(n for k, n in head.sent.items() if k.startswith('images/') and k != 'images/valid')
    results = sum(n for k, n in head.sent.items() if k.startswith('results/'))
    attempts = sum(int(p['attempts']) for p in parameters.values())  # type: ignore[call-overload]
    lines = [
        '# Live fuzzing of the vehicle and of every parameter', '', f'`{result["command"]}`; nodes alive at the end: '
        f'{alive}.', '',
        f'- camera images: {images} malformed, {head.sent["images/valid"]} valid; valid frames answered once: '
        f'{head.valid_answered_once}/{head.valid_frames} ({dict(head.outcomes)}; all settled within 60 s of the '
        f'last message: {head.settled}); answered twice: '
        f'{head.answered_twice}; answers for frames never sent: {head.foreign_answers}; non-finite published: '
        f'{head.non_finite_published}; the head\'s own count of its frames: {own} (the observer may miss '
        f'messages under load)',
        f'- edge results: {results} fuzzed ({ {k[8:]: n for k, n in head.sent.items() if k.startswith("results/")} })',
        f'- head_node\'s counters: {rejected}',
        memory_line('head_node', head.rss_mb, head.rss_growth),
        f'- probe replies: {sum(probes.values())} sent ({dict(probes)}); monitor_node counted {probe_counts}; its RTT '
        f'estimate at the end {link.get("rtt_ms")} ms',
        f'- parameters: {attempts} wrong sets over {args.parameter_rounds} rounds; accepted: '
        f'{ {n: p["accepted_values"] for n, p in parameters.items()} }',
    ]  # fmt: skip
    write_results(args.out, result, lines)


if __name__ == '__main__':
    main()
