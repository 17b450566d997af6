# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Two hosts on one machine: network namespaces joined by a veth pair, bandwidth limited with `tc tbf`.

Needs root and iproute2. DDS runs over UDP between the namespaces (the edge's nodes have no shared-memory
transport), with multicast discovery on the veth link; traffic stays inside the two namespaces.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass


def _run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f'{" ".join(command)}: {result.stderr.strip()}')


def unavailable_reason() -> str | None:
    """Why two hosts cannot be made here, or None if they can."""
    if os.geteuid() != 0:
        return 'network namespaces and tc need root'
    missing = [tool for tool in ('ip', 'tc') if shutil.which(tool) is None]
    if missing:
        return f'{", ".join(missing)} not installed (iproute2)'
    return None


@dataclass(frozen=True)
class Host:
    """One end: its namespace, its veth device and its address."""

    namespace: str
    device: str
    address: str

    def prefix(self) -> list[str]:
        """Command prefix that runs a program inside this host's namespace."""
        return ['ip', 'netns', 'exec', self.namespace]

    def limit(self, rate_mbit: float, latency_ms: int = 300) -> None:
        """Limit what this host sends to `rate_mbit` (tc tbf on its veth end; replaces any earlier limit).

        The bucket holds one packet, or what the rate brings in 4 ms where that is more (tbf needs rate/HZ):
        a deeper bucket lets small messages through at line rate and makes the link's speed depend on size.
        """
        burst = max(1600, round(rate_mbit * 1e6 / 8 * 0.004))
        _run(*self.prefix(), 'tc', 'qdisc', 'replace', 'dev', self.device, 'root', 'tbf', 'rate',
             f'{rate_mbit}mbit', 'burst', str(burst), 'latency', f'{latency_ms}ms')  # fmt: skip


@contextmanager
def two_hosts(tag: str, subnet: str = '10.231.7') -> Iterator[tuple[Host, Host]]:
    """A vehicle and an edge namespace joined by a veth pair; removed on exit."""
    vehicle = Host(f'splitee-veh-{tag}', f'sv{tag}'[:15], f'{subnet}.1')
    edge = Host(f'splitee-edge-{tag}', f'se{tag}'[:15], f'{subnet}.2')
    created: list[str] = []
    try:
        for host in (vehicle, edge):
            _run('ip', 'netns', 'add', host.namespace)
            created.append(host.namespace)
        _run('ip', 'link', 'add', vehicle.device, 'type', 'veth', 'peer', 'name', edge.device)
        for host in (vehicle, edge):
            _run('ip', 'link', 'set', host.device, 'netns', host.namespace)
            inside: Sequence[Sequence[str]] = (
                ('ip', 'addr', 'add', f'{host.address}/24', 'dev', host.device),
                ('ip', 'link', 'set', host.device, 'up'),
                ('ip', 'link', 'set', 'lo', 'up'),
                ('ip', 'route', 'add', '224.0.0.0/4', 'dev', host.device),
            )
            for command in inside:
                _run(*host.prefix(), *command)
        yield vehicle, edge
    finally:
        for namespace in created:  # deleting a namespace deletes its veth end, and so the pair
            subprocess.run(['ip', 'netns', 'delete', namespace], capture_output=True)


def dds_env(domain_id: int, shared_memory: bool) -> dict[str, str]:
    """Environment of a node on one of the hosts, discovery on the subnet.

    Without `shared_memory` the node speaks UDP only; so whatever it exchanges with another host goes through
    the veth pair, even where the other host's nodes have shared memory among themselves.
    """
    env = {key: value for key, value in os.environ.items() if key not in ('ROS_LOCALHOST_ONLY', 'ROS_STATIC_PEERS')}
    env.update(
        ROS_DOMAIN_ID=str(domain_id),
        PYTHONUNBUFFERED='1',
        FASTDDS_BUILTIN_TRANSPORTS='DEFAULT' if shared_memory else 'UDPv4',
        ROS_AUTOMATIC_DISCOVERY_RANGE='SUBNET',
    )
    return env
