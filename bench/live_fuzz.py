# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Live fuzzing of tail_node's bottleneck input over DDS: 10,000 requests, one valid in four.

    python bench/live_fuzz.py [--messages 10000] [--rate 100]

Structured mutations of valid frames (forged shapes, ranks, lengths, codec ids, split indexes, extreme
quantisation parameters, random bodies with valid CRCs, truncation, oversize), bad format strings, JPEG
garbage and a decompression bomb, interleaved with valid requests (codes at both splits with int8+zstd3 and
the learned codec, and a JPEG). Counts what was sent and how each was answered, the tail's own rejection
counters, deaths, and its resident memory at each quarter. Writes bench/results/live_fuzz.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from results_file import memory_line, write_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / 'test'))


def main() -> None:
    """Run the fuzzer against a fresh tail_node and write the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--messages', type=int, default=10_000)
    parser.add_argument('--rate', type=float, default=100.0, help='requests per second')
    parser.add_argument('--depth', type=int, default=1000, help="history depth of the tail's reliable subscription")
    parser.add_argument('--malloc-arena-max', type=int, help="glibc's MALLOC_ARENA_MAX for the tail (default: glibc's)")
    parser.add_argument('--out', type=Path, default=HERE / 'results' / 'live_fuzz.json')
    args = parser.parse_args()

    from test_live_fuzz import valid_requests  # the same valid requests as the short run in the suite

    from splitee_ros.model.package import ModelPackage
    from splitee_ros.runtime.exports import cache_root
    from splitee_ros.tools.fuzz import fuzz_tail
    from splitee_ros.tools.harness import Collector, NodeProcess, node_env

    package = str(ROOT / 'models' / 'splitee_demo')
    valid = valid_requests(cache_root())
    domain = 170
    parameters = {'model': package, 'qos_overrides./splitee/bottleneck.subscription.reliability': 'reliable',
                  'qos_overrides./splitee/bottleneck.subscription.depth': args.depth}  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        env = node_env(domain, cache_root())
        if args.malloc_arena_max:
            env['MALLOC_ARENA_MAX'] = str(args.malloc_arena_max)
        tail = NodeProcess('tail_node', parameters, env, scratch)
        collector = Collector(domain)
        try:
            if not collector.wait_until_active(['tail_node'], 300):
                raise SystemExit('tail_node did not come up:\n' + tail.log_tail())
            class_count = len(ModelPackage.load(package).config.class_names)
            report = fuzz_tail(collector, tail.process.pid, valid, class_count, args.messages, seed=2026,
                               rate_hz=args.rate)  # fmt: skip
            report.alive = tail.alive()
        finally:
            tail.stop()
            collector.close()
    result = {'command': 'python bench/live_fuzz.py ' + ' '.join(sys.argv[1:]), 'messages': args.messages,
              'rate_hz': args.rate, 'depth': args.depth, 'malloc_arena_max': args.malloc_arena_max,
              **report.as_dict()}  # fmt: skip
    fuzzed = sum(n for kind, n in report.sent.items() if kind != 'valid')
    lines = [
        '# Live fuzzing of tail_node', '', f'`{result["command"]}`: {args.messages} requests ({fuzzed} fuzzed) at '
        f'{args.rate:g}/s in {report.seconds:.0f} s; tail_node alive at the end: {report.alive}.', '',
        f'- valid requests unanswered: {report.valid_unanswered}; answered twice: {report.answered_twice}; '
        f'answers that do not decode (non-finite or malformed): {report.undecodable_answers}',
        f'- answers: {dict(sorted(report.answers.items()))}',
        f'- the tail\'s rejection counters: {dict(sorted(report.rejected_counted.items()))}',
        f'- sent: {dict(sorted(report.sent.items()))}',
        memory_line('tail_node', report.rss_mb, report.rss_growth),
    ]  # fmt: skip
    write_results(args.out, result, lines)


if __name__ == '__main__':
    main()
