# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The repository is an ament_python package that also installs with pip."""

import configparser
import subprocess
from pathlib import Path

import yaml
from catkin_pkg.package import parse_package

ROOT = Path(__file__).resolve().parents[1]
PYTHON_SOURCES = [
    ROOT / 'setup.py',
    *sorted(
        path
        for folder in ('splitee_ros', 'test', 'bench', 'launch')
        for path in (ROOT / folder).rglob('*.py')
        if '__pycache__' not in path.parts
    ),
]


def test_package_xml_is_a_valid_ament_python_package():
    package = parse_package(str(ROOT / 'package.xml'))
    assert package.name == 'splitee_ros'
    assert package.package_format == 3
    assert [e.content for e in package.exports if e.tagname == 'build_type'] == ['ament_python']
    run_depends = {d.name for d in package.exec_depends}
    assert {'rclpy', 'sensor_msgs', 'std_msgs', 'diagnostic_msgs', 'vision_msgs', 'cv_bridge'} <= run_depends
    assert {'python3-numpy', 'python3-opencv', 'lifecycle_msgs'} <= run_depends


def test_every_package_xml_key_resolves_with_rosdep_or_is_a_documented_pip_extra(setup_py):
    """Keys checked against rosdistro at the commit test/rosdep_keys.yaml names; pip-only ones are extras."""
    keys = yaml.safe_load((ROOT / 'test' / 'rosdep_keys.yaml').read_text())
    package = parse_package(str(ROOT / 'package.xml'))
    dependencies = {d.name for group in (package.buildtool_depends, package.build_depends, package.exec_depends,
                                         package.test_depends) for d in group}  # fmt: skip
    unresolved = dependencies - set(keys['ros_packages']) - set(keys['system'])
    assert unresolved == set(), f'package.xml keys that rosdep cannot resolve: {unresolved}'
    extras = setup_py['extras_require']
    for requirement, extra in keys['pip_only'].items():
        assert any(r.split('>')[0].split('[')[0] == requirement for r in extras[extra]), (requirement, extra)
        assert requirement in (ROOT / 'package.xml').read_text() or extra in (ROOT / 'package.xml').read_text()


def test_ament_python_layout():
    assert (ROOT / 'resource' / 'splitee_ros').is_file()
    assert (ROOT / 'splitee_ros' / '__init__.py').is_file()
    setup_cfg = configparser.ConfigParser()
    setup_cfg.read(ROOT / 'setup.cfg')
    # ros2 run looks for executables in lib/<package>
    assert setup_cfg['install']['install_scripts'] == '$base/lib/splitee_ros'
    assert setup_cfg['develop']['script_dir'] == '$base/lib/splitee_ros'


def test_splitee_command_is_installed():
    result = subprocess.run(['splitee', '--help'], capture_output=True, text=True, check=True)
    assert 'smoke' in result.stdout


def test_every_python_file_carries_the_license_header():
    assert len(PYTHON_SOURCES) > 5
    missing = [
        str(path.relative_to(ROOT))
        for path in PYTHON_SOURCES
        if not path.read_text().startswith(
            '# Copyright 2026 splitee_ros developers\n# SPDX-License-Identifier: Apache-2.0\n'
        )
    ]
    assert missing == []
