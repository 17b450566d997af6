# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The parameter tables against everything that names parameters: config files, launch files, the monitor."""

import ast
from pathlib import Path

import pytest
import yaml
from rclpy.parameter import parameter_dict_from_yaml_file

from splitee_ros.nodes.monitor_node import HEAD_PARAMETERS
from splitee_ros.ros.parameter_table import TABLES
from splitee_ros.ros.params import PACKAGE_DEFAULT

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_NODES = {'vehicle.launch.py': ('head_node', 'monitor_node'), 'edge.launch.py': ('tail_node',)}
# the deployment files differ from the nodes' defaults (the demo's) only here: authentication is on
DEPLOYMENT = {
    'head_node': {'auth_key_file': '/etc/splitee/keys.yaml'},
    'tail_node': {'auth_key_file': '/etc/splitee/keys.yaml', 'request_lifespan_ms': 200.0},
}


def spec(node: str, name: str):
    return next(s for s in TABLES[node] if s.name == name)


def launch_text(value) -> str:
    """A parameter default as a launch argument writes it."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, list):
        return '[' + ', '.join(repr(v) if v == '' else str(v) for v in value) + ']'
    return str(value)


@pytest.mark.parametrize('node', sorted(TABLES))
def test_each_node_config_file_lists_its_parameters_at_their_defaults(node):
    path = ROOT / 'config' / f'{node}.yaml'
    values = yaml.safe_load(path.read_text())['/**']['ros__parameters']
    table = {s.name: s for s in TABLES[node]}
    assert set(values) <= set(table), f'{path.name} sets parameters the node does not have'
    missing = {name for name, s in table.items() if s.default is not PACKAGE_DEFAULT} - set(values)
    assert missing == set(), f'{path.name} lacks {missing}'
    deployment = DEPLOYMENT.get(node, {})
    for name, value in values.items():
        expected = deployment.get(name, table[name].default)
        assert value == expected, f'{path.name}: {name} is {value!r}, not {expected!r}'
    for name in (name for name, s in table.items() if s.default is PACKAGE_DEFAULT):
        assert name in path.read_text(), f"{path.name} does not say that {name} defaults to the package's"


@pytest.mark.parametrize('node', sorted(TABLES))
@pytest.mark.parametrize('target', ['/{node}', '/veh_1/{node}'])
def test_config_files_load_through_rclpys_own_parameter_file_loader(node, target):
    """`ros2 param load` uses this loader: the node by its full name, in any namespace."""
    loaded = parameter_dict_from_yaml_file(
        str(ROOT / 'config' / f'{node}.yaml'), use_wildcard=True, target_nodes=[target.format(node=node)]
    )
    assert set(loaded) == set(yaml.safe_load((ROOT / 'config' / f'{node}.yaml').read_text())['/**']['ros__parameters'])


def launch_calls(path: Path, function: str) -> list[ast.Call]:
    return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)
            and getattr(n.func, 'id', getattr(n.func, 'attr', None)) == function]  # fmt: skip


def keyword(call: ast.Call, name: str):
    found = next((k.value for k in call.keywords if k.arg == name), None)
    return ast.literal_eval(found) if found is not None else None


def launch_parameter_arguments(path: Path) -> dict[str, str]:
    """Parameter name -> the launch argument that sets it (in the parameter dicts given to the nodes)."""
    mapping = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                configs = [c for c in ast.walk(value) if isinstance(c, ast.Call)
                           and getattr(c.func, 'id', None) == 'LaunchConfiguration']  # fmt: skip
                if isinstance(key, ast.Constant) and configs:
                    mapping[key.value] = ast.literal_eval(configs[0].args[0])
    return mapping


@pytest.mark.parametrize('launch_file', sorted(LAUNCH_NODES))
def test_launch_arguments_that_set_parameters_match_their_defaults_and_choices(launch_file):
    path = ROOT / 'launch' / launch_file
    arguments = {ast.literal_eval(call.args[0]): call for call in launch_calls(path, 'DeclareLaunchArgument')}
    checked = 0
    for parameter, argument in launch_parameter_arguments(path).items():
        if parameter == 'use_sim_time':  # rclpy's own
            continue
        declared = arguments[argument]
        specs = [spec(node, parameter) for node in LAUNCH_NODES[launch_file]
                 if any(s.name == parameter for s in TABLES[node])]  # fmt: skip
        assert specs, f'{launch_file}: {argument} sets {parameter}, which none of its nodes has'
        for parameter_spec in specs:
            if parameter_spec.choices:
                assert keyword(declared, 'choices') == list(parameter_spec.choices), f'{launch_file}: {argument}'
            elif isinstance(parameter_spec.default, bool):
                assert keyword(declared, 'choices') == ['true', 'false'], f'{launch_file}: {argument}'
            if argument == parameter:  # an argument of another name (cameras, adaptation) has its own default
                assert keyword(declared, 'default_value') == launch_text(parameter_spec.default), launch_file
            checked += 1
    assert checked >= 4


@pytest.mark.parametrize('launch_file', sorted(p.name for p in (ROOT / 'launch').glob('*.launch.py')))
def test_launch_files_start_only_executables_the_package_installs(launch_file, setup_py):
    path = ROOT / 'launch' / launch_file
    installed = {script.split('=')[0].strip() for script in setup_py['entry_points']['console_scripts']}
    assert launch_calls(path, 'ExecuteProcess') == [], f'{launch_file} runs a command that a colcon install may lack'
    for call in [*launch_calls(path, 'Node'), *launch_calls(path, 'LifecycleNode')]:
        assert keyword(call, 'package') == 'splitee_ros'
        assert keyword(call, 'executable') in installed, f'{launch_file}: {keyword(call, "executable")}'


def test_what_the_monitor_tunes_are_live_head_parameters():
    for name in HEAD_PARAMETERS:
        assert not spec('head_node', name).read_only and spec('head_node', name).setting, name
