# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The SROS2 permission files against the nodes' actual interfaces: every endpoint granted, every grant used.

The nodes run as a fleet deployment runs them: head_node and monitor_node in a vehicle's namespace, tail_node
in the root namespace serving that vehicle. Their endpoints are read from the ROS graph and named as DDS names
them (`rt/` topics, `rq/…Request` and `rr/…Reply` for services), then matched against the grants (fnmatch,
as DDS-Security does). The Fast DDS of the PyPI wheels has no security plugins, so the grants are not
enforced here (see tools/security.py).
"""

import time
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from conftest import DEMO_PACKAGE
from rclpy._rclpy_pybind11 import NodeNameNonExistentError

from splitee_ros.tools.harness import Collector, NodeProcess, node_env
from splitee_ros.tools.security import NODES, artifacts, read_permissions

ROOT = Path(__file__).resolve().parents[1]
SECURITY = ROOT / 'config' / 'security'
VEHICLE = '/veh_1'


def test_the_committed_files_are_what_splitee_security_writes():
    expected = dict(artifacts())
    committed = {str(p.relative_to(SECURITY)): p.read_text() for p in SECURITY.rglob('*.xml')}
    assert committed == expected, 'config/security is stale: run `splitee security`'


def dds_endpoints(collector: Collector, node: str, namespace: str) -> dict[str, set[str]]:
    """The node's endpoints as DDS topic names, by action."""
    graph = collector.node
    publish = {f'rt{name}' for name, _ in graph.get_publisher_names_and_types_by_node(node, namespace)}
    subscribe = {f'rt{name}' for name, _ in graph.get_subscriber_names_and_types_by_node(node, namespace)}
    for name, _ in graph.get_service_names_and_types_by_node(node, namespace):
        subscribe.add(f'rq{name}Request')
        publish.add(f'rr{name}Reply')
    for name, _ in graph.get_client_names_and_types_by_node(node, namespace):
        publish.add(f'rq{name}Request')
        subscribe.add(f'rr{name}Reply')
    return {'publish': publish, 'subscribe': subscribe}


@pytest.mark.ros
@pytest.mark.timeout(600)
def test_each_enclave_grants_exactly_what_its_node_uses(ros_env, runtime_cache, tmp_path, demo_exports):
    domain = int(ros_env['ROS_DOMAIN_ID'])
    env = node_env(domain, runtime_cache)
    common = {'model': DEMO_PACKAGE, 'backend': 'onnxruntime', 'threads': 1}
    in_vehicle = {'__ns': VEHICLE}
    nodes = {
        'tail_node': (NodeProcess('tail_node', {**common, 'vehicles': [VEHICLE]}, env, tmp_path), '/'),
        'head_node': (NodeProcess('head_node', {**common, 'debug_image': True}, env, tmp_path,
                                  {**in_vehicle, 'image': 'camera/image_raw'}), VEHICLE),
        'monitor_node': (NodeProcess('monitor_node', {}, env, tmp_path, in_vehicle), VEHICLE),
    }  # fmt: skip
    collector = Collector(domain)
    try:
        assert collector.wait_until_active([f'{VEHICLE}/head_node', 'tail_node'], 300), nodes['head_node'][0].log_tail()
        for node, (process, namespace) in nodes.items():
            granted = read_permissions(SECURITY / 'splitee' / node / 'permissions.xml')
            assert granted == NODES[node].dds_rules()
            # the graph fills in as discovery goes: wait until every grant is used (or time is up), then compare
            deadline = time.monotonic() + 60
            while True:
                try:
                    used = dds_endpoints(collector, node, namespace)
                except NodeNameNonExistentError:  # not discovered yet
                    used = {'publish': set(), 'subscribe': set()}
                unused = {action: [p for p in granted[action] if not any(fnmatchcase(n, p) for n in used[action])]
                          for action in granted}  # fmt: skip
                if not any(unused.values()) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            ungranted = {action: sorted(n for n in used[action] if not any(fnmatchcase(n, p) for p in granted[action]))
                         for action in used}  # fmt: skip
            assert not any(ungranted.values()), (node, ungranted)
            assert not any(unused.values()), (node, unused)
            assert process.alive(), process.log_tail()
    finally:
        for process, _ in nodes.values():
            process.stop()
        collector.close()
