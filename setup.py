# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""ament_python package definition; also installs with pip for development."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = 'splitee_ros'
ROOT = Path(__file__).parent
# What the nodes need to run a package on ONNX Runtime: no PyTorch (the vehicle and the edge).
RUNTIME = ['numpy', 'opencv-python-headless', 'onnxruntime', 'pyyaml', 'zstandard', 'lz4', 'google-crc32c']
EXTRAS = {
    'vehicle': RUNTIME,
    'edge': RUNTIME,
    # the learned codec's coder is CompressAI's rANS extension, loaded alone; CompressAI's own metadata
    # pulls PyTorch in, which the nodes never import
    'learned': ['compressai>=1.2'],
    'tensorrt': ['cuda-python>=12.6'],  # TensorRT itself comes with JetPack or the NVIDIA wheels
    'train': [
        *RUNTIME,
        'torch',
        'torchvision',
        'onnx',
        'compressai>=1.2',
        'pycocotools',
        'rosbags',
        'av',
        'tqdm',
        'matplotlib',
    ],
    'view': ['foxglove-sdk>=0.30'],  # splitee view: Foxglove's WebSocket server, for machines without ROS tools
    'test': ['pytest', 'pytest-timeout', 'hypothesis'],  # colcon test runs pytest when the package asks for it
    # serving engines for the fleet edge's tail (engine:=ray | triton)
    'ray': ['ray[serve]>=2.40'],
    'triton': ['tritonclient[grpc]>=2.41'],
}


def share_files(folder: str) -> list[tuple[str, list[str]]]:
    """List every file under `folder` as data_files entries below share/<package>/."""
    entries: dict[str, list[str]] = {}
    for path in sorted((ROOT / folder).rglob('*')):
        if path.is_file() and '__pycache__' not in path.parts:
            relative = path.relative_to(ROOT)
            entries.setdefault(str(Path('share', PACKAGE, relative.parent)), []).append(str(relative))
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={PACKAGE: ['py.typed']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        *share_files('launch'),
        *share_files('config'),
        *share_files('models'),
    ],
    python_requires='>=3.10',
    install_requires=['setuptools'],
    extras_require=EXTRAS,
    zip_safe=True,
    maintainer='splitee_ros developers',
    maintainer_email='splitee-ros@example.com',
    description='Split computing with early exits for object detection on ROS 2.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'splitee = splitee_ros.cli:main',
            'bag_player = splitee_ros.cli:bag_player',
            'head_node = splitee_ros.nodes.head_node:main',
            'tail_node = splitee_ros.nodes.tail_node:main',
            'monitor_node = splitee_ros.nodes.monitor_node:main',
        ],
    },
)
