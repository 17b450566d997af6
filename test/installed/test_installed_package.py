# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The package as `colcon build` installs it: what `colcon test` runs (make test does, in a scratch workspace).

Not collected by the plain `pytest` run (pytest.ini skips this folder): it needs the install's environment.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ament_index_python.packages import get_package_prefix, get_package_share_directory

PACKAGE = 'splitee_ros'
EXECUTABLES = ('head_node', 'tail_node', 'monitor_node', 'bag_player', 'splitee')


@pytest.fixture(scope='module')
def prefix() -> Path:
    return Path(get_package_prefix(PACKAGE))


def test_the_code_and_data_come_from_the_install(prefix, tmp_path):
    """Outside the source folder (where pytest itself imports from), `splitee_ros` is the installed one."""
    found = subprocess.run([sys.executable, '-c', 'import splitee_ros; print(splitee_ros.__file__)'], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60, check=True).stdout.strip()  # fmt: skip
    assert Path(found).resolve().is_relative_to(prefix.resolve()), found
    share = Path(get_package_share_directory(PACKAGE))
    for launch_file in ('vehicle.launch.py', 'edge.launch.py', 'demo.launch.py'):
        assert (share / 'launch' / launch_file).is_file()
    for config in ('head_node.yaml', 'monitor_node.yaml', 'tail_node.yaml', 'security/policy.xml',
                   'security/splitee/head_node/permissions.xml'):  # fmt: skip
        assert (share / 'config' / config).is_file()
    assert (share / 'models' / 'splitee_demo' / 'manifest.yaml').is_file()
    assert (share / 'package.xml').is_file()


@pytest.mark.parametrize('executable', EXECUTABLES)
def test_each_executable_is_where_ros2_run_looks(prefix, executable):
    path = prefix / 'lib' / PACKAGE / executable
    assert path.is_file() and os.access(path, os.X_OK)


def test_the_cli_and_the_bag_player_start(prefix):
    result = subprocess.run([prefix / 'lib' / PACKAGE / 'splitee', '--help'], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0 and 'demo' in result.stdout, result.stderr
    result = subprocess.run([prefix / 'lib' / PACKAGE / 'bag_player', '--help'], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0 and 'rosbag2' in result.stdout, result.stderr


@pytest.mark.timeout(300)
def test_tail_node_from_the_install_loads_the_installed_model_and_activates(prefix, tmp_path):
    """The model is found by name in the install's share folder (no path given), as after `ros2 launch`."""
    log = tmp_path / 'tail_node.log'
    env = {**os.environ, 'ROS_DOMAIN_ID': str(150 + os.getpid() % 50), 'SPLITEE_CACHE': str(tmp_path / 'cache'),
           'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST', 'PYTHONUNBUFFERED': '1'}  # fmt: skip
    with open(log, 'wb') as output:
        node = subprocess.Popen([prefix / 'lib' / PACKAGE / 'tail_node', '--ros-args', '-p', 'autostart:=true'],
                                env=env, stdout=output, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and node.poll() is None and 'active' not in log.read_text():
                time.sleep(0.5)
            text = log.read_text()
            assert 'warm' in text and 'active' in text, text[-3000:]
        finally:
            node.send_signal(signal.SIGINT)
            try:
                node.wait(30)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()
