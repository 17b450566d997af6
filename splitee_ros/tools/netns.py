# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Two hosts on one machine: network namespaces joined by a veth pair, bandwidth limited with `tc tbf`.

Needs root and iproute2. DDS runs over UDP between the namespaces (the edge's nodes have no shared-memory
transport); traffic stays inside the namespaces. Two topologies: one link with multicast discovery on it
(`two_hosts`), or two subnets joined by a router namespace that forwards unicast only, where the hosts find
each other through static peers (`routed_hosts`), as vehicles reach an edge across a routed network.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from splitee_ros.tools.cpulimit import CpuGroup, cpu_group


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

    def tx_bytes(self) -> int:
        """Bytes this host has sent on its veth end."""
        result = subprocess.run([*self.prefix(), 'cat', f'/sys/class/net/{self.device}/statistics/tx_bytes'],
                                capture_output=True, text=True, check=True)  # fmt: skip
        return int(result.stdout)

    def limit(self, rate_mbit: float, latency_ms: int = 300) -> None:
        """Limit what this host sends to `rate_mbit` (tc tbf on its veth end; replaces any earlier limit).

        The bucket holds one packet, or what the rate brings in 4 ms where that is more (tbf needs rate/HZ):
        a deeper bucket lets small messages through at line rate and makes the link's speed depend on size.
        """
        burst = max(1600, round(rate_mbit * 1e6 / 8 * 0.004))
        _run(*self.prefix(), 'tc', 'qdisc', 'replace', 'dev', self.device, 'root', 'tbf', 'rate',
             f'{rate_mbit}mbit', 'burst', str(burst), 'latency', f'{latency_ms}ms')  # fmt: skip

    def set_link(self, up: bool) -> None:
        """Take this host's veth end down (the link is cut: no carrier on either end) or up again."""
        _run(*self.prefix(), 'ip', 'link', 'set', self.device, 'up' if up else 'down')

    def routes_multicast(self) -> bool:
        """Whether this host has a route for multicast (224.0.0.0/4) at all."""
        result = subprocess.run([*self.prefix(), 'ip', 'route', 'get', '224.0.0.1'], capture_output=True)
        return result.returncode == 0


def _join(left: Host, right: Host, prefix_length: int = 24) -> None:
    """A veth pair from `left`'s device to `right`'s, each end addressed and up in its host's namespace."""
    _run('ip', 'link', 'add', left.device, 'type', 'veth', 'peer', 'name', right.device)
    for host in (left, right):
        _run('ip', 'link', 'set', host.device, 'netns', host.namespace)
        _run(*host.prefix(), 'ip', 'addr', 'add', f'{host.address}/{prefix_length}', 'dev', host.device)
        _run(*host.prefix(), 'ip', 'link', 'set', host.device, 'up')
        _run(*host.prefix(), 'ip', 'link', 'set', 'lo', 'up')


@contextmanager
def _namespaces(*names: str) -> Iterator[None]:
    """Network namespaces `names`, deleted on exit (with them, their veth ends and so the pairs)."""
    created: list[str] = []
    try:
        for name in names:
            _run('ip', 'netns', 'add', name)
            created.append(name)
        yield
    finally:
        for name in created:
            subprocess.run(['ip', 'netns', 'delete', name], capture_output=True)


@contextmanager
def two_hosts(tag: str, subnet: str = '10.231.7') -> Iterator[tuple[Host, Host]]:
    """A vehicle and an edge namespace joined by a veth pair (multicast routed onto it); removed on exit."""
    vehicle = Host(f'splitee-veh-{tag}', f'sv{tag}'[:15], f'{subnet}.1')
    edge = Host(f'splitee-edge-{tag}', f'se{tag}'[:15], f'{subnet}.2')
    with _namespaces(vehicle.namespace, edge.namespace):
        _join(vehicle, edge)
        for host in (vehicle, edge):
            _run(*host.prefix(), 'ip', 'route', 'add', '224.0.0.0/4', 'dev', host.device)
        yield vehicle, edge


@contextmanager
def routed_hosts(tag: str, subnets: tuple[str, str] = ('10.231.8', '10.231.9')) -> Iterator[tuple[Host, Host]]:
    """A vehicle and an edge in two subnets, joined by a router namespace; removed on exit.

    The router forwards unicast (IP forwarding, no multicast routing), and each end has a route to the other's
    subnet through it and none for 224.0.0.0/4: DDS has to discover across it by unicast.
    """
    router = f'splitee-rtr-{tag}'
    vehicle = Host(f'splitee-veh-{tag}', f'sv{tag}'[:15], f'{subnets[0]}.1')
    edge = Host(f'splitee-edge-{tag}', f'se{tag}'[:15], f'{subnets[1]}.1')
    gateways = (Host(router, f'rv{tag}'[:15], f'{subnets[0]}.254'), Host(router, f're{tag}'[:15], f'{subnets[1]}.254'))
    with _namespaces(vehicle.namespace, router, edge.namespace):
        _join(vehicle, gateways[0])
        _join(edge, gateways[1])
        _run('ip', 'netns', 'exec', router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1')
        for host, gateway, other in ((vehicle, gateways[0], subnets[1]), (edge, gateways[1], subnets[0])):
            _run(*host.prefix(), 'ip', 'route', 'add', f'{other}.0/24', 'via', gateway.address)
        yield vehicle, edge


def dds_env(domain_id: int, shared_memory: bool, peers: Sequence[str] = ()) -> dict[str, str]:
    """Environment of a node on one of the hosts: discovery on the subnet, or of `peers` only where given.

    Without `shared_memory` the node speaks UDP only; so whatever it exchanges with another host goes through
    the veth pair, even where the other host's nodes have shared memory among themselves. With `peers` (ROS 2
    Iron or later), automatic discovery stays on this host and the other hosts are found by unicast.
    """
    env = {key: value for key, value in os.environ.items() if key not in ('ROS_LOCALHOST_ONLY', 'ROS_STATIC_PEERS')}
    env.update(
        ROS_DOMAIN_ID=str(domain_id),
        PYTHONUNBUFFERED='1',
        FASTDDS_BUILTIN_TRANSPORTS='DEFAULT' if shared_memory else 'UDPv4',
        ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST' if peers else 'SUBNET',
    )
    if peers:
        env['ROS_STATIC_PEERS'] = ';'.join(peers)
    return env


@dataclass
class TwoHostRun:
    """What a run of the pair gave back: the camera's record, the times the rate changed, and the node logs."""

    record: dict
    changed_at: list[tuple[float, float]]  # (monotonic time, Mbit/s) of every rate set, the first at the start
    logs: dict[str, str]
    faults: list[tuple[float, str]]  # (monotonic time, fault) of every fault made, in order
    wall_offset: float  # time.time() - time.monotonic() during the run: to read the nodes' log stamps
    uplink_bytes: int  # what the vehicle's veth sent from the first frame to the end: the shaped path's bytes


VEHICLE_CORES = (0,)  # with a slower vehicle: its computer's cores; the edge has the others
MODEL_THREAD = 'head-inference'  # the head's thread that runs the model (an accelerator's work on a vehicle)
FAULTS = ('kill_tail', 'stop_tail', 'start_tail', 'kill_monitor', 'link_down', 'link_up')


def run_two_hosts(
    schedule: Sequence[tuple[float, float]],
    head: Mapping[str, object],
    tail: Mapping[str, object],
    monitor: Mapping[str, object] | None,
    camera: Sequence[str],
    folder: Path,
    env: Mapping[str, str] | None = None,
    tag: str | None = None,
    routed: bool = False,
    faults: Sequence[tuple[float, str]] = (),
    vehicle_cpus: float | None = None,
) -> TwoHostRun:
    """Run head, monitor and camera on the vehicle, the tail on the edge, the link following `schedule`.

    `schedule` is (seconds after the camera's first frame, Mbit/s), the first entry at 0 (also the rate while the
    nodes start); `camera` the arguments of `splitee_ros.tools.camera` after its domain, ready and out flags.
    Returns the camera's record and when each rate took effect (monotonic clock, shared by the namespaces); the
    monitor logs every decision with its inputs (debug level), so that a failure shows why it chose.
    `routed`: the hosts sit in two subnets behind a router and find each other as static peers. `faults` are
    (seconds after the first frame, one of `FAULTS`): the tail killed (SIGKILL) or stopped, a new tail started (a
    new DDS participant), the monitor killed, the link cut or restored. `vehicle_cpus`: two computers, the
    vehicle's model the slower (`tools.cpulimit`): the head and the monitor on core 0, the edge on the others,
    and the head's model thread (`head-inference`) limited to that much CPU time. The camera, a sensor, runs
    anywhere.
    """
    import json
    import sys
    import time

    from splitee_ros.tools.harness import NodeProcess, with_parent

    tag = tag or f'{os.getpid() % 100000}'
    domain = 120 + int(tag) % 80
    extra = dict(env or {})
    with contextlib.ExitStack() as stack:
        vehicle, edge = stack.enter_context((routed_hosts if routed else two_hosts)(tag))
        computer, server, model = [], [], None
        if vehicle_cpus:
            computer = stack.enter_context(cpu_group(f'veh-{tag}', None, VEHICLE_CORES)).prefix
            others = [core for core in range(os.cpu_count() or 1) if core not in VEHICLE_CORES]
            server = stack.enter_context(cpu_group(f'edge-{tag}', None, others)).prefix if others else []
            model = stack.enter_context(cpu_group(f'model-{tag}', vehicle_cpus))
        for host in (vehicle, edge):
            host.limit(schedule[0][1])
        # the camera, head and monitor share memory on the vehicle, as they would there; the edge has UDP only
        vehicle_env = {**dds_env(domain, True, [edge.address] if routed else []), **extra}
        edge_env = {**dds_env(domain, False, [vehicle.address] if routed else []), **extra}
        nodes = [
            NodeProcess('tail_node', tail, edge_env, folder, prefix=[*server, *edge.prefix()]),
            NodeProcess('head_node', head, vehicle_env, folder, prefix=[*computer, *vehicle.prefix()]),
        ]
        if monitor is not None:
            nodes.append(
                NodeProcess(
                    'monitor_node',
                    monitor,
                    vehicle_env,
                    folder,
                    prefix=[*computer, *vehicle.prefix()],
                    log_level='debug',
                )
            )  # every decision and its inputs, for a failure's record
        ready, record = folder / 'ready.json', folder / 'record.json'
        for stale in (ready, record):  # an earlier run's: its start would put the whole schedule in the past
            stale.unlink(missing_ok=True)
        command = [*vehicle.prefix(), sys.executable, '-m', 'splitee_ros.tools.camera', '--domain', str(domain),
                   '--ready', str(ready), '--out', str(record), *camera]  # fmt: skip
        with open(folder / 'camera.log', 'wb') as log:  # the camera keeps its own copy of the descriptor
            driver = subprocess.Popen(with_parent(command), env=vehicle_env, stdout=log, stderr=subprocess.STDOUT)

        def new_tail() -> NodeProcess:
            return NodeProcess('tail_node', tail, edge_env, folder, prefix=[*server, *edge.prefix()])

        changed_at: list[tuple[float, float]] = []
        made: list[tuple[float, str]] = []
        wall_offset = time.time() - time.monotonic()
        try:
            deadline = time.monotonic() + 240
            limited = model is None
            while (not ready.exists() or not limited) and driver.poll() is None and time.monotonic() < deadline:
                if model is not None and not limited:
                    limited = _limit_thread(nodes[1].process.pid, MODEL_THREAD, model)
                time.sleep(0.1)
            if not limited:
                raise RuntimeError(f'the head has no {MODEL_THREAD} thread to limit:\n{nodes[1].log_tail()}')
            if not ready.exists():
                tails = '\n'.join(f'--- {n.node}\n{n.log_tail()}' for n in nodes)
                raise RuntimeError(f'the camera did not start:\n{(folder / "camera.log").read_text()}\n{tails}')
            start = json.loads(ready.read_text())['start']
            changed_at.append((start, schedule[0][1]))
            sent_before = vehicle.tx_bytes()
            timeline = sorted([(offset, 'rate', rate) for offset, rate in schedule[1:]]
                              + [(offset, fault, 0.0) for offset, fault in faults])  # fmt: skip
            for offset, kind, rate in timeline:
                time.sleep(max(0.0, start + offset - time.monotonic()))
                if kind == 'rate':
                    for host in (vehicle, edge):
                        host.limit(rate)
                    changed_at.append((time.monotonic(), rate))
                    continue
                nodes = _make_fault(kind, nodes, vehicle, new_tail)
                made.append((time.monotonic(), kind))
            if driver.wait(timeout=600) != 0:
                raise RuntimeError(f'the camera failed:\n{(folder / "camera.log").read_text()}')
            uplink_bytes = vehicle.tx_bytes() - sent_before
        finally:
            if driver.poll() is None:
                driver.kill()
            for node in nodes:
                node.stop()
        logs = {node.node: node.log_path.read_text(errors='replace') for node in nodes}
        return TwoHostRun(json.loads(record.read_text()), changed_at, logs, made, wall_offset, uplink_bytes)


def _limit_thread(pid: int, name: str, group: CpuGroup) -> bool:
    """Move process `pid`'s thread called `name` into `group`; False while it has none (not yet started)."""
    for task in Path(f'/proc/{pid}/task').glob('*'):
        try:
            if (task / 'comm').read_text().strip() == name:
                group.add_thread(int(task.name))
                return True
        except OSError:  # the thread ended meanwhile
            continue
    return False


def _make_fault(kind: str, nodes: list, vehicle: Host, new_tail) -> list:
    """Make one fault; returns the nodes that run afterwards (a killed node's process is reaped)."""
    if kind not in FAULTS:
        raise ValueError(f'unknown fault {kind!r}; one of {FAULTS}')
    if kind in ('link_down', 'link_up'):
        vehicle.set_link(kind == 'link_up')
        return nodes
    if kind == 'start_tail':  # a new process: a new DDS participant; its log continues the old one's
        return [*nodes, new_tail()]
    target = 'monitor_node' if kind == 'kill_monitor' else 'tail_node'
    for node in [n for n in nodes if n.node == target and n.alive()]:
        if kind == 'stop_tail':
            node.stop()
        else:
            node.process.kill()
            node.process.wait(timeout=30)
    return nodes
