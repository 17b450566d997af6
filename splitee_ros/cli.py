# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The `splitee` command: subcommands call into the packages of splitee_ros."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from splitee_ros.errors import ConfigError, SpliteeError

if TYPE_CHECKING:
    import numpy as np


def _smoke(args: argparse.Namespace) -> int:
    from splitee_ros.tools import smoke

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


def _model_info(args: argparse.Namespace) -> int:
    from splitee_ros.model.config import load_model_config
    from splitee_ros.model.families import build_detector
    from splitee_ros.model.info import format_table, split_table

    detector = build_detector(load_model_config(args.target))
    print(format_table(detector, split_table(detector)))
    return 0


def _model_export(args: argparse.Namespace) -> int:
    from splitee_ros.model.config import load_model_config
    from splitee_ros.model.export import export_all
    from splitee_ros.model.families import build_detector

    if args.out is None:  # provisioning: the cache the nodes read, so that they never need PyTorch
        from splitee_ros.model.package import ModelPackage, find_package
        from splitee_ros.runtime.exports import ensure_exported

        print(ensure_exported(ModelPackage.load(find_package(args.target)), args.cache))
        return 0
    detector = build_detector(load_model_config(args.target))
    for exported in export_all(detector, args.out):
        print(f'{exported.split}: {exported.head_path} {exported.tail_path} code {exported.code_shape}')
    return 0


def _data_synth(args: argparse.Namespace) -> int:
    import json

    from splitee_ros.data.synth_dataset import SynthConfig, make_synthetic_dataset

    config = SynthConfig(
        seed=args.seed, drives=args.drives, frames=args.frames, fps=args.fps, image_format=args.image_format,
        bag_storage=None if args.bag == 'none' else args.bag, condition=args.condition,
    )  # fmt: skip
    summary = make_synthetic_dataset(args.out, config)
    print(json.dumps(summary, indent=2))
    return 0


def _data_kitti2coco(args: argparse.Namespace) -> int:
    from pathlib import Path

    from splitee_ros.data.coco import kitti_to_coco, write_json

    dataset = kitti_to_coco(args.kitti_root, args.image_folder, args.label_folder)
    write_json(Path(args.out), dataset)
    print(f'{len(dataset["images"])} images, {len(dataset["annotations"])} annotations -> {args.out}')
    return 0


def _train(args: argparse.Namespace) -> int:
    from splitee_ros.train.engine import TrainConfig, run_training

    manifest = run_training(TrainConfig.from_yaml(args.config))
    print(f'model package: {manifest.parent}')
    return 0


def _profile(args: argparse.Namespace) -> int:
    from splitee_ros.control.measure import measure_device, profile_package
    from splitee_ros.model.package import find_package

    folder = find_package(args.package)
    device = measure_device(folder, args.backend, args.device, args.threads, args.frames, args.name)
    path = profile_package(folder, device)
    heads = ', '.join(f'{split} {d.median:.1f}' for split, d in device.head_ms.items())
    tails = ', '.join(f'{split} {d.median:.1f}' for split, d in device.tail_ms.items())
    print(f'{device.name}: head ms {heads}; tail ms {tails}; full {device.full_ms.median:.1f} ms -> {path}')
    return 0


def _eval(args: argparse.Namespace) -> int:
    from splitee_ros.control.profile import refresh_accuracy
    from splitee_ros.model.package import ModelPackage, write_defaults
    from splitee_ros.train.evaluate import HELD_OUT, evaluate, schedule_text, smallest_within, write_model_card

    package = ModelPackage.load(args.package)
    if args.coco:
        data = {'coco': {'annotations': args.coco}}
    else:
        data = {'synth': {**HELD_OUT['synth'], 'drives': args.drives, 'frames': args.frames, 'seed': args.seed}}
    out = Path(args.out or args.package)
    report = evaluate(args.package, data, args.work_dir, out)
    config = package.manifest.get('training', {}).get('config')
    data_flags = (
        f'--coco {args.coco}' if args.coco else f'--seed {args.seed} --drives {args.drives} --frames {args.frames}'
    )
    reproduce = (f'splitee train {config}\n' if config else '') + f'splitee eval {args.package} {data_flags}'
    write_model_card(report, out / 'MODEL_CARD.md', reproduce, schedule_text(package.folder))
    point = report['operating_point']
    if out.resolve() == package.folder.resolve():  # the package's own evaluation sets its defaults and accuracy
        write_defaults(package.folder, {k: point[k] for k in ('split', 'codec', 'exit_threshold')})
        if refresh_accuracy(package.folder, package.model_id.hex()):
            print(f'updated the accuracy in {package.folder / "profile.yaml"}')
    teacher, best = report['teacher'], smallest_within(report)
    print(f'teacher mAP@.5 {teacher["map50"]:.3f}, mAP@[.5:.95] {teacher["map"]:.3f} on {report["images"]} images')
    if best['code'] and best['jpeg_ratio']:
        print(f"at the teacher's accuracy: code {best['code']['bytes']:.0f} B ({best['code']['config']}) vs JPEG "
              f"{best['jpeg']['bytes']:.0f} B ({best['jpeg_ratio']:.1f}x)")  # fmt: skip
    print(f'operating point: {point["split"]} {point["codec"]} threshold {point["exit_threshold"]:.2f}')
    print(f'wrote {out / "eval.json"}, {out / "rate_accuracy.png"}, {out / "MODEL_CARD.md"}')
    return 0


def _export_triton(args: argparse.Namespace) -> int:
    from splitee_ros.model.package import ModelPackage, find_package
    from splitee_ros.runtime.exports import ensure_exported
    from splitee_ros.runtime.triton_backend import RepositorySettings, write_repository

    package = ModelPackage.load(find_package(args.package))
    settings = RepositorySettings(args.max_batch, args.max_queue_delay_us, args.instances, args.kind)
    export = ensure_exported(package, args.cache)
    for name in write_repository(export, args.out, package.folder.name, settings, args.role):
        print(f'{Path(args.out) / name}')
    return 0


def _build_engines(args: argparse.Namespace) -> int:
    import cv2

    from splitee_ros.data.synth import sample_frames
    from splitee_ros.model.package import ModelPackage
    from splitee_ros.runtime.base import graphs_of
    from splitee_ros.runtime.exports import ensure_exported
    from splitee_ros.runtime.tensorrt_backend import TensorRTBackend, require_tensorrt

    require_tensorrt()
    folder = ensure_exported(ModelPackage.load(args.package), args.cache)
    images: list[np.ndarray] = []
    if args.precision == 'int8':
        if args.calibration_dir:
            paths = sorted(p for p in Path(args.calibration_dir).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            for path in paths[: args.calibration_frames]:
                image = cv2.imread(str(path))
                if image is None:
                    raise ConfigError(f'calibration image {path} is unreadable')
                images.append(image)
        else:
            images = sample_frames(args.calibration_frames, seed=7000)
    backend = TensorRTBackend(
        folder, args.device, args.precision, workspace_mb=args.workspace_mb, calibration_images=images,
        max_batch=args.max_batch, on_build=lambda graph, reason: print(f'{graph}: building ({reason})', flush=True),
    )  # fmt: skip
    for graph in graphs_of(backend.spec, args.role, full=args.full):
        backend.engine_bytes(graph)
        print(f'{graph}: {backend.cache.paths(graph, backend.key(graph))[0]}')
    return 0


def _play(args: argparse.Namespace) -> int:
    from splitee_ros.tools.player import PlayOptions, play

    remap = []
    for rule in args.remap or ():
        old, separator, new = rule.partition(':=')
        if not (separator and old and new):
            raise ConfigError(f'--remap takes FROM:=TO, not {rule!r}')
        remap.append((old, new))
    options = PlayOptions(rate=args.rate, loop=args.loop, clock=args.clock, topics=tuple(args.topics or ()),
                          remap=tuple(remap), start_delay_s=args.delay,
                          wait_for_subscribers_s=args.wait_for_subscribers)  # fmt: skip
    count = play(args.bag, options)
    print(f'played {count} messages from {args.bag}')
    return 0


def _demo(args: argparse.Namespace) -> int:
    from splitee_ros.tools.demo import DemoOptions, format_summary, run_demo

    if args.fleet < 0:
        raise ConfigError(f'--fleet takes a number of vehicles (0 for one in the root namespace), not {args.fleet}')
    options = DemoOptions(mode=args.mode, model=args.model, backend=args.backend, split_point=args.split_point,
                          codec=args.codec, exit_threshold=args.exit_threshold, deadline_ms=args.deadline_ms,
                          drives=args.drives, frames=args.frames, fleet=args.fleet)  # fmt: skip
    summary = run_demo(options, args.out)
    print(format_summary(summary))
    print(f'summary: {Path(args.out) / "summary.json"}' if args.fleet else f'report: {Path(args.out) / "report.html"}')
    totals = summary['fleet'] if args.fleet else summary
    answered_once = totals['results_out'] + totals['frames_dropped'] == totals['frames_in']
    return 0 if answered_once and totals['duplicate_results'] == 0 else 1


IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with one subparser per subcommand."""
    parser = argparse.ArgumentParser(prog='splitee', description=__doc__)
    commands = parser.add_subparsers(dest='command', required=True)

    smoke = commands.add_parser('smoke', help='end-to-end DDS check between two processes')
    smoke.add_argument('--seed', type=int, default=7)
    smoke.add_argument('--timeout', type=float, default=60.0, help='seconds to wait for delivery')
    smoke.set_defaults(handler=_smoke)

    model = commands.add_parser('model', help='splittable detectors').add_subparsers(
        dest='model_command', required=True
    )
    target_help = 'a detector family, a model YAML file or a model package folder'
    info = model.add_parser('info', help='per split point: tensor shape, bytes, parameters, MACs, exits')
    info.add_argument('target', help=target_help)
    info.set_defaults(handler=_model_info)
    export = model.add_parser('export', help='ONNX head and tail graphs for every split point')
    export.add_argument('target', help=target_help)
    export.add_argument(
        '--out', help="folder for <split>.head.onnx and <split>.tail.onnx (default: a package's graphs into the cache)"
    )
    export.add_argument('--cache', help='with no --out: the cache (default $SPLITEE_CACHE or ~/.cache/splitee_ros)')
    export.set_defaults(handler=_model_export)

    from splitee_ros.data.synth import CONDITIONS

    data = commands.add_parser('data', help='data sets').add_subparsers(dest='data_command', required=True)
    synth = data.add_parser('synth', help='synthetic drives: COCO images + annotations and a rosbag2')
    synth.add_argument('--out', required=True, help='output folder')
    synth.add_argument('--seed', type=int, default=0)
    synth.add_argument('--drives', type=int, default=4, help='number of drives (sequences)')
    synth.add_argument('--frames', type=int, default=50, help='frames per drive')
    synth.add_argument('--fps', type=float, default=10.0)
    synth.add_argument('--image-format', choices=['png', 'jpg'], default='png')
    synth.add_argument('--bag', choices=['mcap', 'sqlite3', 'none'], default='mcap', help='rosbag2 storage')
    synth.add_argument('--condition', choices=CONDITIONS, help='one condition for every drive')
    synth.set_defaults(handler=_data_synth)
    kitti = data.add_parser('kitti2coco', help='convert KITTI object labels to a COCO annotation file')
    kitti.add_argument('kitti_root', help='folder with image_2/ and label_2/')
    kitti.add_argument('--out', required=True, help='COCO JSON file to write (file names relative to kitti_root)')
    kitti.add_argument('--image-folder', default='image_2')
    kitti.add_argument('--label-folder', default='label_2')
    kitti.set_defaults(handler=_data_kitti2coco)

    train = commands.add_parser('train', help='train a model package from a YAML config (resumes where it stopped)')
    train.add_argument('config', help='training YAML, e.g. config/train/demo_cpu.yaml')
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser('eval', help='COCO mAP of a model package: teacher, splits x codecs, exits, JPEG')
    evaluate.add_argument('package', help='model package folder, e.g. models/splitee_demo')
    evaluate.add_argument('--coco', help='a COCO annotation file to evaluate on (default: a held-out synthetic set)')
    evaluate.add_argument('--seed', type=int, default=2027, help='held-out synthetic set: seed (differs from training)')
    evaluate.add_argument('--drives', type=int, default=40, help='held-out synthetic set: drives')
    evaluate.add_argument('--frames', type=int, default=10, help='held-out synthetic set: frames per drive')
    evaluate.add_argument('--work-dir', default='artifacts/eval', help='where the held-out set is made')
    evaluate.add_argument('--out', help='folder for eval.json, rate_accuracy.png, MODEL_CARD.md (default: the package)')
    evaluate.set_defaults(handler=_eval)

    profile = commands.add_parser(
        'profile', help='measure stage times and bytes per split and codec on this device into profile.yaml'
    )
    profile.add_argument('package', help='model package: a name under models/ or a folder (needs its eval.json)')
    profile.add_argument('--backend', choices=['torch', 'onnxruntime', 'tensorrt'], default='onnxruntime')
    profile.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    profile.add_argument('--threads', type=int, default=0, help='intra-op threads (0: the backend decides)')
    profile.add_argument('--frames', type=int, default=20, help='synthetic camera frames to time')
    profile.add_argument('--name', help='device profile name (default: backend/device[/threads]t)')
    profile.set_defaults(handler=_profile)

    engines = commands.add_parser(
        'build-engines', help='build (or verify cached) TensorRT engines of every split ahead of time'
    )
    engines.add_argument('package', help='model package folder, e.g. models/splitee_demo')
    engines.add_argument('--precision', choices=['fp32', 'fp16', 'int8'], default='fp16')
    engines.add_argument('--role', choices=['head', 'tail', 'both'], default='both', help='vehicle, edge or both')
    engines.add_argument('--full', action='store_true', help='also the unsplit model (local and image offload)')
    engines.add_argument('--device', default='cuda')
    engines.add_argument('--workspace-mb', type=int, default=1024)
    engines.add_argument(
        '--max-batch', type=int, default=1, help="largest batch (the edge's max_batch; a one-camera vehicle: 1)"
    )
    engines.add_argument('--cache', help='export and engine cache (default $SPLITEE_CACHE or ~/.cache/splitee_ros)')
    engines.add_argument('--calibration-dir', help='INT8: folder of sample camera images (default: synthetic drives)')
    engines.add_argument('--calibration-frames', type=int, default=200, help='INT8: number of calibration frames')
    engines.set_defaults(handler=_build_engines)

    triton = commands.add_parser(
        'export-triton', help="a Triton model repository of the package's graphs (the edge's tails and whole model)"
    )
    triton.add_argument('package', help='model package: a name under models/ or a folder')
    triton.add_argument('out', help='the model repository folder (tritonserver --model-repository OUT)')
    triton.add_argument('--role', choices=['tail', 'head', 'both'], default='tail', help='the graphs of this side')
    triton.add_argument('--max-batch', type=int, default=8, help='max_batch_size of each model')
    triton.add_argument('--max-queue-delay-us', type=int, default=4000, help="the dynamic batcher's longest wait")
    triton.add_argument('--instances', type=int, default=1, help='instances of each model (instance_group count)')
    triton.add_argument('--kind', choices=['gpu', 'cpu'], default='gpu', help='where the instances run')
    triton.add_argument('--cache', help='export cache (default $SPLITEE_CACHE or ~/.cache/splitee_ros)')
    triton.set_defaults(handler=_export_triton)

    demo = commands.add_parser('demo', help='head, tail and monitor nodes on a synthetic drive: summary and report')
    demo.add_argument(
        '--mode',
        choices=['split', 'local', 'offload-image', 'adaptive'],
        default='split',
        help='a fixed configuration, or adaptive: the monitor re-tunes the head (starting from split)',
    )
    demo.add_argument('--model', default='splitee_demo')
    demo.add_argument('--backend', choices=['torch', 'onnxruntime', 'tensorrt'], default='onnxruntime')
    demo.add_argument('--split-point', help="default: the package's (its manifest's defaults)")
    demo.add_argument('--codec', help="default: the package's")
    demo.add_argument('--exit-threshold', type=float, help="default: the package's")
    demo.add_argument('--deadline-ms', type=float, default=200.0)
    demo.add_argument('--drives', type=int, default=10)
    demo.add_argument('--frames', type=int, default=20, help='frames per drive (5 FPS)')
    demo.add_argument(
        '--fleet',
        type=int,
        default=0,
        metavar='N',
        help='N vehicles (/veh_1 ..), each replaying its own drive, against one edge (0: one vehicle)',
    )
    demo.add_argument('--out', default='artifacts/demo', help='folder for summary.json, report.html, logs')
    demo.set_defaults(handler=_demo)

    view = commands.add_parser(
        'view', help='live view in Foxglove (WebSocket server): frames, detections, outcomes, the monitor'
    )
    view.add_argument('--namespace', default='', help="the vehicle's namespace, e.g. veh_1")
    view.add_argument('--camera', default='camera/image_raw', help='image topic (also <topic>/compressed)')
    view.add_argument('--host', default='127.0.0.1', help='0.0.0.0 to serve other machines')
    view.add_argument('--port', type=int, default=8765)
    view.add_argument('--layout', metavar='FILE', help='only write the Foxglove layout of the channels to FILE')
    view.set_defaults(handler=_view)

    player = commands.add_parser('play', help='publish a rosbag2 with its timing (for hosts without ros2 bag)')
    player.add_argument('bag', help='rosbag2 folder (mcap or sqlite3)')
    player.add_argument('--rate', type=float, default=1.0, help='speed factor')
    player.add_argument('--loop', action='store_true')
    player.add_argument('--clock', action='store_true', help='publish /clock from the bag stamps (use_sim_time)')
    player.add_argument('--topics', nargs='+', help='only these topics')
    player.add_argument('--remap', nargs='+', metavar='FROM:=TO', help='publish a bag topic under another name')
    player.add_argument('--delay', type=float, default=1.0, help='seconds to wait before playing')
    player.add_argument(
        '--wait-for-subscribers', type=float, default=0.0, metavar='SECONDS',
        help='wait up to this long until every played topic has a subscriber (reliable delivery starts there)',
    )  # fmt: skip
    player.set_defaults(handler=_play)

    keys = commands.add_parser(
        'keys', help='key files that authenticate frames and results (auth_key_file): new, add, activate, remove'
    ).add_subparsers(dest='keys_command', required=True)
    for name, text in (('new', 'a new key file with one key'), ('add', 'add a fresh key'),
                       ('activate', 'sign with a key from now on'), ('remove', 'remove a key that no longer signs'),
                       ('show', 'the key ids and the signing one')):  # fmt: skip
        command = keys.add_parser(name, help=text)
        command.add_argument('file', help='the key file (mode 600)')
        if name in ('activate', 'remove'):
            command.add_argument('key_id', type=int)
        if name == 'add':
            command.add_argument('--activate', action='store_true', help='also sign with it at once')
        command.set_defaults(handler=_keys)

    security = commands.add_parser(
        'security', help='SROS2 policy and DDS-Security permissions of the three nodes (a secured deployment)'
    )
    security.add_argument(
        '--out', default='config/security', help='folder for policy.xml and <enclave>/permissions.xml'
    )
    security.set_defaults(handler=_security)
    return parser


def _security(args: argparse.Namespace) -> int:
    from splitee_ros.tools.security import write

    for path in write(args.out):
        print(path)
    return 0


def _keys(args: argparse.Namespace) -> int:
    from splitee_ros.codec.auth import KeyRing
    from splitee_ros.tools import keys

    if args.keys_command == 'new':
        ring = keys.new(args.file)
    elif args.keys_command == 'add':
        ring = keys.add(args.file, args.activate)
    elif args.keys_command in ('activate', 'remove'):
        ring = getattr(keys, args.keys_command)(args.file, args.key_id)
    else:
        ring = KeyRing.load(args.file)
    print(f'{args.file}: {keys.describe(ring)}')
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the `splitee` command line."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (SpliteeError, RuntimeError, ValueError, FileNotFoundError) as error:
        print(f'splitee {args.command}: error: {error}', file=sys.stderr)
        return 2


def _view(args: argparse.Namespace) -> int:
    from splitee_ros.tools.view import layout, run

    if args.layout:
        Path(args.layout).write_text(json.dumps(json.loads(layout()), indent=1) + '\n')
        return 0
    run(args.namespace, args.camera, args.host, args.port)
    return 0


def bag_player() -> int:
    """`splitee play` as the package's own executable (`ros2 run splitee_ros bag_player BAG`; demo.launch.py)."""
    from rclpy.utilities import remove_ros_args

    return main(['play', *remove_ros_args(sys.argv)[1:]])


if __name__ == '__main__':
    sys.exit(main())
