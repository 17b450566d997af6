# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Ray Serve: a package's graphs as deployments with replicas across a Ray cluster, run from a tail_node.

Each graph the edge needs (every split's tail, the whole model) is one Serve application, named after the
package's model id and the graph, whose replicas run the ONNX graph with onnxruntime on batches. The
tail_node stays a thin DDS gateway: it decodes, schedules (deadline first, fair share, batches) and
post-processes, and hands each batch to the graph's deployment; Serve routes it to a free replica, on any
node of the cluster. An application already running (deployed by another gateway of the same package)
is used as it is.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from splitee_ros.runtime.spec import RuntimeSpec

if TYPE_CHECKING:
    from ray.serve.handle import DeploymentHandle

NAMESPACE = 'splitee'


class GraphReplica:
    """One replica of one graph: an onnxruntime session on batches (the deployment's class)."""

    def __init__(self, onnx: bytes, threads: int) -> None:
        """Open the graph (its bytes travel with the deployment, so any node of the cluster can run it)."""
        import onnxruntime

        from splitee_ros.runtime.ort_backend import OrtSession, session_options

        self.session = OrtSession(
            onnxruntime.InferenceSession(onnx, session_options(threads), ['CPUExecutionProvider'])
        )

    def __call__(self, value: np.ndarray) -> dict[str, np.ndarray]:
        """Run one batch."""
        return self.session.run(value)


def application_name(model_id: str, graph: str) -> str:
    """The Serve application of `graph` of the package `model_id` (hex)."""
    return f'splitee-{model_id[:16]}-{graph}'


class RaySession:
    """Calls one graph's deployment with a batch and waits for its outputs."""

    def __init__(self, handle: DeploymentHandle[GraphReplica], timeout_s: float) -> None:
        """Use the deployment `handle`."""
        self.handle, self.timeout_s = handle, timeout_s

    def run(self, value: np.ndarray) -> dict[str, np.ndarray]:
        """Run on a batch, on whichever replica Serve picks."""
        outputs: dict[str, np.ndarray] = self.handle.remote(value).result(timeout_s=self.timeout_s)
        return outputs


class RayServeBackend:
    """Runs a package's graphs as Ray Serve deployments on the cluster at `address`."""

    name = 'ray'

    def __init__(
        self,
        folder: str | Path,
        address: str = 'auto',
        replicas: int = 1,
        threads: int = 1,
        cpus_per_replica: float = 0.0,
        timeout_s: float = 30.0,
    ) -> None:
        """Join the cluster (`auto`: the one started on this host with `ray start`; or `ray://host:10001`).

        `cpus_per_replica` is what Ray reserves for each replica (0: place them regardless, onnxruntime's
        `threads` decide the cores they use).
        """
        import ray

        if replicas < 1 or threads < 1 or cpus_per_replica < 0:
            raise ValueError(f'need replicas >= 1, threads >= 1, cpus_per_replica >= 0: {replicas}, {threads}')
        self.folder = Path(folder)
        self.device = address
        self.spec = RuntimeSpec.load(self.folder)
        self.replicas, self.threads, self.cpus, self.timeout_s = replicas, threads, cpus_per_replica, timeout_s
        if not ray.is_initialized():
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING)

    def load(self, graph: str) -> RaySession:
        """The graph's deployment: the running one, or deployed now with `replicas` replicas."""
        from ray import serve
        from ray.serve.exceptions import RayServeException

        name = application_name(self.spec.model_id, graph)
        try:
            handle = serve.get_app_handle(name)
        except RayServeException:  # not deployed yet
            serve.start(proxy_location='Disabled')  # handles only: no HTTP proxy
            deployment = serve.deployment(name=graph.replace('.', '_'))(GraphReplica).options(
                num_replicas=self.replicas, ray_actor_options={'num_cpus': self.cpus}
            )
            onnx = (self.folder / f'{graph}.onnx').read_bytes()
            handle = serve.run(deployment.bind(onnx, self.threads), name=name, route_prefix=None)
        return RaySession(handle, self.timeout_s)
