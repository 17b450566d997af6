# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The `splitee` command: subcommands call into the packages of splitee_ros."""

from __future__ import annotations

import argparse
import sys


def _smoke(args: argparse.Namespace) -> int:
    from splitee_ros.ros import smoke

    result = smoke.run(seed=args.seed, timeout_s=args.timeout)
    detections, image = result.expected
    print(
        f'smoke: {len(detections.detections)} detections and a {len(image.data)} B CompressedImage '
        f'between two processes over {smoke.DETECTIONS_TOPIC!r}/{smoke.IMAGE_TOPIC!r} in {result.seconds:.1f} s'
    )
    if result.ok:
        stamp = detections.header.stamp
        print(f'smoke: OK, every field equal, header stamp {stamp.sec}.{stamp.nanosec:09d} round-tripped')
        return 0
    print('smoke: FAILED', *result.differences[:20], sep='\n  ')
    return 1


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with one subparser per subcommand."""
    parser = argparse.ArgumentParser(prog='splitee', description=__doc__)
    commands = parser.add_subparsers(dest='command', required=True)

    smoke = commands.add_parser('smoke', help='end-to-end DDS check between two processes')
    smoke.add_argument('--seed', type=int, default=7)
    smoke.add_argument('--timeout', type=float, default=60.0, help='seconds to wait for delivery')
    smoke.set_defaults(handler=_smoke)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the `splitee` command line."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == '__main__':
    sys.exit(main())
