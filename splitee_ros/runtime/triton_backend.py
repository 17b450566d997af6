# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""NVIDIA Triton Inference Server: a model repository of a package's graphs, and a backend that runs on it.

`write_repository` turns the ONNX exports into a Triton model repository: one model per graph (each split's
tail and the whole model for an edge), `platform: "onnxruntime_onnx"` (TensorRT acceleration is Triton's
`optimization` setting on a GPU), a dynamic batcher and instance groups, and the package's model id as a
model parameter. `TritonBackend` runs those models from a tail_node over gRPC (`tritonclient`): the node stays
a thin DDS gateway that decodes, schedules and post-processes, while Triton batches and places the compute.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from splitee_ros.runtime.base import Role, graphs_of
from splitee_ros.runtime.graph_io import TensorSpec, onnx_io
from splitee_ros.runtime.spec import RuntimeSpec

if TYPE_CHECKING:
    import tritonclient.grpc

MODEL_ID_PARAMETER = 'splitee_model_id'
TRITON_TYPES = {'float32': 'TYPE_FP32', 'float16': 'TYPE_FP16', 'int64': 'TYPE_INT64'}
KINDS = ('gpu', 'cpu')


@dataclass(frozen=True)
class RepositorySettings:
    """What each model of the repository gets."""

    max_batch: int = 8
    max_queue_delay_us: int = 4000
    instances: int = 1
    kind: str = 'gpu'

    def __post_init__(self) -> None:
        """Refuse what Triton would refuse."""
        if self.max_batch < 1 or self.instances < 1 or self.max_queue_delay_us < 0 or self.kind not in KINDS:
            raise ValueError(f'need max_batch >= 1, instances >= 1, a delay >= 0 and kind in {KINDS}: {self}')


def model_name(prefix: str, graph: str) -> str:
    """The Triton model of `graph` (`stage2.tail` → `<prefix>__stage2_tail`)."""
    return f'{prefix}__{graph.replace(".", "_")}'


def _tensor(tensor: TensorSpec) -> str:
    dims = ', '.join(str(d) for d in tensor.shape[1:])  # the batch axis is Triton's (max_batch_size)
    return f'  {{ name: "{tensor.name}" data_type: {TRITON_TYPES[tensor.dtype]} dims: [ {dims} ] }}'


def model_config(name: str, tensors: list[TensorSpec], model_id: str, settings: RepositorySettings) -> str:
    """A `config.pbtxt` for one graph."""
    inputs = [_tensor(t) for t in tensors if t.is_input]
    outputs = [_tensor(t) for t in tensors if not t.is_input]
    preferred = sorted({max(1, settings.max_batch // 2), settings.max_batch})
    return '\n'.join([
        f'name: "{name}"',
        'platform: "onnxruntime_onnx"',
        f'max_batch_size: {settings.max_batch}',
        'input [', ',\n'.join(inputs), ']',
        'output [', ',\n'.join(outputs), ']',
        'dynamic_batching {',
        f'  preferred_batch_size: [ {", ".join(map(str, preferred))} ]',
        f'  max_queue_delay_microseconds: {settings.max_queue_delay_us}',
        '}',
        f'instance_group [ {{ count: {settings.instances} kind: KIND_{settings.kind.upper()} }} ]',
        f'parameters {{ key: "{MODEL_ID_PARAMETER}" value {{ string_value: "{model_id}" }} }}',
        '',
    ])  # fmt: skip


def write_repository(
    export: str | Path, out: str | Path, prefix: str, settings: RepositorySettings, role: Role = 'tail'
) -> list[str]:
    """Write a Triton model repository of the graphs `role` needs (tails and the whole model for the edge)."""
    export, out = Path(export), Path(out)
    spec = RuntimeSpec.load(export)
    names = []
    for graph in graphs_of(spec, role, full=True):
        name = model_name(prefix, graph)
        folder = out / name
        (folder / '1').mkdir(parents=True, exist_ok=True)
        shutil.copyfile(export / f'{graph}.onnx', folder / '1' / 'model.onnx')
        tensors = onnx_io(export / f'{graph}.onnx')
        (folder / 'config.pbtxt').write_text(model_config(name, tensors, spec.model_id, settings))
        names.append(name)
    return names


class TritonSession:
    """One Triton model, called over gRPC with a batch."""

    def __init__(
        self, client: tritonclient.grpc.InferenceServerClient, name: str, tensors: list[TensorSpec], timeout_s: float
    ) -> None:
        """Call model `name` whose tensors are `tensors`."""
        self.client, self.name, self.timeout_s = client, name, timeout_s
        self.input = next(t for t in tensors if t.is_input)
        self.outputs = [t.name for t in tensors if not t.is_input]

    def run(self, value: np.ndarray) -> dict[str, np.ndarray]:
        """Infer on a batch."""
        import tritonclient.grpc as triton

        request = triton.InferInput(self.input.name, list(value.shape), TRITON_TYPES[self.input.dtype][5:])
        request.set_data_from_numpy(np.ascontiguousarray(value, dtype=self.input.dtype))
        wanted = [triton.InferRequestedOutput(name) for name in self.outputs]
        result = self.client.infer(self.name, [request], outputs=wanted, client_timeout=self.timeout_s)
        return {name: result.as_numpy(name) for name in self.outputs}


class TritonBackend:
    """Runs a package's graphs on a Triton server that serves its repository (`splitee export-triton`)."""

    name = 'triton'

    def __init__(self, folder: str | Path, address: str, prefix: str, timeout_s: float = 10.0) -> None:
        """Connect to the Triton gRPC endpoint `address` (host:port); `folder` is the package's ONNX export."""
        import tritonclient.grpc as triton

        self.folder = Path(folder)
        self.device = address
        self.spec = RuntimeSpec.load(self.folder)
        self.prefix, self.timeout_s = prefix, timeout_s
        self.client = triton.InferenceServerClient(address)

    def load(self, graph: str) -> TritonSession:
        """The session of `graph`'s model, once the server has it ready and it is this package's."""
        name = model_name(self.prefix, graph)
        if not self.client.is_model_ready(name):
            raise RuntimeError(f'Triton at {self.device} has no ready model {name!r} (splitee export-triton)')
        config = self.client.get_model_config(name).config
        served = config.parameters[MODEL_ID_PARAMETER].string_value if MODEL_ID_PARAMETER in config.parameters else ''
        if served != self.spec.model_id:
            raise RuntimeError(f'Triton model {name!r} is of model {served or "?"}, the package {self.spec.model_id}')
        return TritonSession(self.client, name, onnx_io(self.folder / f'{graph}.onnx'), self.timeout_s)
