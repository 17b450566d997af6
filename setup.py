# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""ament_python package definition; also installs with pip for development."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = 'splitee_ros'
ROOT = Path(__file__).parent


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
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        *share_files('launch'),
        *share_files('config'),
        *share_files('models'),
    ],
    python_requires='>=3.10',
    install_requires=['setuptools'],
    # serving engines for the fleet edge's tail (engine:=ray | triton), optional: pip install .[ray]
    extras_require={'ray': ['ray[serve]>=2.40'], 'triton': ['tritonclient[grpc]>=2.41']},
    zip_safe=True,
    maintainer='splitee_ros developers',
    maintainer_email='splitee-ros@example.com',
    description='Split computing with early exits for object detection on ROS 2.',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'splitee = splitee_ros.cli:main',
            'head_node = splitee_ros.nodes.head_node:main',
            'tail_node = splitee_ros.nodes.tail_node:main',
            'monitor_node = splitee_ros.nodes.monitor_node:main',
        ],
    },
)
