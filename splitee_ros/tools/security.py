# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""A secured deployment (SROS2): the enclaves, policy and DDS-Security permissions of the three nodes.

    splitee security [--out config/security]

writes `policy.xml` (SROS2's policy format, for `ros2 security create_permission`) and, per enclave,
`<enclave>/permissions.xml` (the DDS-Security grant that sros2 makes of it, still to be signed with the
keystore's permissions CA). Each node is granted exactly what it uses (`NODES`, checked against the running
nodes by test/test_security.py): its topics, its parameter (and lifecycle) services, /rosout,
/parameter_events, /diagnostics. Vehicles run in namespaces of their own (`namespace:=veh_1`); their names are
the wildcard `*`, so one policy serves a fleet. The edge runs in the root namespace.

Not covered: `use_sim_time` (a replay's /clock), a node's `ros_discovery_info` (sros2 adds it to every
grant), and the operator's tools (`ros2 param`, `splitee view`), which need an enclave of their own.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from splitee_ros.ros.qos import BOTTLENECK_TOPIC, PROBE_REPLY_TOPIC, PROBE_TOPIC, RESULT_TOPIC

VEHICLE = '/*'  # any vehicle's namespace (DDS permissions match with fnmatch: `*` spans levels)
EDGE = ''  # the edge's namespace: the root
CAMERAS = 'camera/image_raw*'  # the cameras' topics (vehicle.launch.py's default), raw and `/compressed`
PARAMETER_SERVICES = (
    'describe_parameters', 'get_parameter_types', 'get_parameters', 'get_type_description', 'list_parameters',
    'set_parameters', 'set_parameters_atomically',
)  # fmt: skip
LIFECYCLE_SERVICES = ('change_state', 'get_available_states', 'get_available_transitions', 'get_state',
                      'get_transition_graph')  # fmt: skip
EVERY_NODE_PUBLISHES = ('/diagnostics', '/parameter_events', '/rosout')
VALIDITY = ('2026-01-01T00:00:00', '2036-01-01T00:00:00')
DOMAINS = (0, 232)  # every ROS domain; narrow it to the fleet's


@dataclass(frozen=True)
class NodeInterfaces:
    """What one node publishes, subscribes, serves and calls: absolute ROS names, namespaces as patterns."""

    node: str
    namespace: str
    publishes: tuple[str, ...]
    subscribes: tuple[str, ...]
    serves: tuple[str, ...]
    calls: tuple[str, ...] = ()

    @property
    def enclave(self) -> str:
        """The node's enclave (`--enclave`, and a folder of the keystore)."""
        return f'/splitee/{self.node}'

    def dds_rules(self) -> dict[str, list[str]]:
        """The DDS topics (patterns) it may publish and subscribe: topics, service requests and replies."""
        publish = [f'rt{name}' for name in self.publishes]
        subscribe = [f'rt{name}' for name in self.subscribes]
        publish += [f'rr{name}Reply' for name in self.serves] + [f'rq{name}Request' for name in self.calls]
        subscribe += [f'rq{name}Request' for name in self.serves] + [f'rr{name}Reply' for name in self.calls]
        return {'publish': sorted(publish), 'subscribe': sorted(subscribe)}


def _private(namespace: str, node: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f'{namespace}/{node}/{name}' for name in names)


def _interfaces() -> tuple[NodeInterfaces, ...]:
    head = NodeInterfaces(
        'head_node', VEHICLE,
        publishes=(*EVERY_NODE_PUBLISHES, f'{VEHICLE}/perception/detections', f'{VEHICLE}/{BOTTLENECK_TOPIC}',
                   *_private(VEHICLE, 'head_node', ('debug_image', 'telemetry', 'transition_event'))),
        subscribes=(f'{VEHICLE}/{CAMERAS}', f'{VEHICLE}/{RESULT_TOPIC}'),
        serves=_private(VEHICLE, 'head_node', PARAMETER_SERVICES + LIFECYCLE_SERVICES),
    )  # fmt: skip
    monitor = NodeInterfaces(
        'monitor_node', VEHICLE,
        publishes=(*EVERY_NODE_PUBLISHES, f'{VEHICLE}/{PROBE_TOPIC}'),
        subscribes=('/parameter_events', f'{VEHICLE}/head_node/telemetry', f'{VEHICLE}/{PROBE_REPLY_TOPIC}'),
        serves=_private(VEHICLE, 'monitor_node', PARAMETER_SERVICES),
        calls=_private(VEHICLE, 'head_node', ('get_parameters', 'set_parameters_atomically')),
    )  # fmt: skip
    tail = NodeInterfaces(
        'tail_node', EDGE,
        publishes=(*EVERY_NODE_PUBLISHES, *_private(EDGE, 'tail_node', ('telemetry', 'transition_event')),
                   f'{VEHICLE}/{RESULT_TOPIC}', f'{VEHICLE}/{PROBE_REPLY_TOPIC}'),
        subscribes=(f'{VEHICLE}/{BOTTLENECK_TOPIC}', f'{VEHICLE}/{PROBE_TOPIC}'),
        serves=_private(EDGE, 'tail_node', PARAMETER_SERVICES + LIFECYCLE_SERVICES),
    )  # fmt: skip
    return head, monitor, tail


NODES = {interfaces.node: interfaces for interfaces in _interfaces()}


def policy_xml(nodes: tuple[NodeInterfaces, ...] = tuple(NODES.values())) -> str:
    """The SROS2 policy (format 0.2.0) of `nodes`, one enclave each."""
    policy = ET.Element('policy', version='0.2.0')
    enclaves = ET.SubElement(policy, 'enclaves')
    for interfaces in nodes:
        enclave = ET.SubElement(enclaves, 'enclave', path=interfaces.enclave)
        profile = ET.SubElement(ET.SubElement(enclave, 'profiles'), 'profile', ns='/', node=interfaces.node)
        for kind, mode, names in (('topics', 'publish', interfaces.publishes),
                                  ('topics', 'subscribe', interfaces.subscribes),
                                  ('services', 'reply', interfaces.serves),
                                  ('services', 'request', interfaces.calls)):  # fmt: skip
            if names:
                group = ET.SubElement(profile, kind, {mode: 'ALLOW'})
                for name in names:
                    ET.SubElement(group, kind[:-1]).text = name
    return _text(policy)


def permissions_xml(interfaces: NodeInterfaces) -> str:
    """The DDS-Security permissions of one enclave: its grant, allow rules and default deny (to be signed)."""
    dds = ET.Element('dds', {'xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
                             'xsi:noNamespaceSchemaLocation': 'http://www.omg.org/spec/DDS-SECURITY/20170901/'
                                                              'omg_shared_ca_permissions.xsd'})  # fmt: skip
    grant = ET.SubElement(ET.SubElement(dds, 'permissions'), 'grant', name=interfaces.enclave)
    ET.SubElement(grant, 'subject_name').text = f'CN={interfaces.enclave}'
    validity = ET.SubElement(grant, 'validity')
    ET.SubElement(validity, 'not_before').text, ET.SubElement(validity, 'not_after').text = VALIDITY
    rule = ET.SubElement(grant, 'allow_rule')
    domains = ET.SubElement(ET.SubElement(rule, 'domains'), 'id_range')
    ET.SubElement(domains, 'min').text, ET.SubElement(domains, 'max').text = map(str, DOMAINS)
    for action, patterns in interfaces.dds_rules().items():
        topics = ET.SubElement(ET.SubElement(rule, action), 'topics')
        for pattern in patterns:
            ET.SubElement(topics, 'topic').text = pattern
    ET.SubElement(grant, 'default').text = 'DENY'
    return _text(dds)


def read_permissions(path: str | Path) -> dict[str, list[str]]:
    """The publish and subscribe topic patterns of a permissions file's allow rules."""
    root = ET.parse(path).getroot()
    return {action: sorted(topic.text or '' for rule in root.iter(action) for topic in rule.iter('topic'))
            for action in ('publish', 'subscribe')}  # fmt: skip


def _text(element: ET.Element) -> str:
    ET.indent(element, space='  ')
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element, encoding='unicode') + '\n'


def artifacts() -> Iterator[tuple[str, str]]:
    """(relative path, text) of every file `splitee security` writes."""
    yield 'policy.xml', policy_xml()
    for interfaces in NODES.values():
        yield f'{interfaces.enclave.strip("/")}/permissions.xml', permissions_xml(interfaces)


def write(out: str | Path) -> list[Path]:
    """Write the policy and the permissions under `out`."""
    written = []
    for relative, text in artifacts():
        path = Path(out) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
