# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Declaring parameters with descriptors (description, ranges, read_only) in one call each."""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor


def declare(
    node,
    name: str,
    default: Any,
    description: str,
    read_only: bool = False,
    value_range: tuple[float, float] | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """Declare `name` on `node` and return its value (as overridden by the launch or a params file)."""
    descriptor = ParameterDescriptor(description=description, read_only=read_only)
    if choices:
        descriptor.additional_constraints = 'one of: ' + ', '.join(choices)
    if value_range is not None:
        low, high = value_range
        if isinstance(default, bool) or not isinstance(default, int | float):
            raise TypeError(f'{name}: a range needs a numeric parameter')
        if isinstance(default, int):
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        else:
            interval = FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)
            descriptor.floating_point_range = [interval]
    value = node.declare_parameter(name, default, descriptor).value
    if choices and value not in choices:
        raise ValueError(f'parameter {name} must be one of {list(choices)}, not {value!r}')
    return value


def load_model(node, role: str, max_batch: int = 1):
    """Declare the read-only model parameters (model, backend, device, threads) and load the package for `role`.

    Returns the package and its runtime with every split of `role` (and the whole model) loaded and warm;
    TensorRT engines take batches of up to `max_batch`. The edge (`role` tail) may also hand its graphs to a
    serving engine (backend ray or triton, at `engine_address`).
    """
    from splitee_ros.model.package import ModelPackage, find_package
    from splitee_ros.runtime.base import BACKENDS, ENGINES, make_runtime

    model = declare(node, 'model', 'splitee_demo', 'model package: a name under models/ or a folder', True)
    backends = BACKENDS + ENGINES if role == 'tail' else BACKENDS
    backend = declare(node, 'backend', 'onnxruntime', 'inference backend', True, choices=backends)
    device = declare(node, 'device', 'cpu', 'cpu, cuda or cuda:N', True)
    threads = declare(node, 'threads', 0, 'intra-op threads (0: the backend decides)', True, (0, 64))
    options: dict[str, object] = {'max_batch': max_batch} if backend == 'tensorrt' else {}
    if role == 'tail':
        address = declare(node, 'engine_address', '', 'ray: cluster address (auto); triton: host:port (gRPC)', True)
        replicas = declare(node, 'engine_replicas', 1, 'ray: replicas of each graph', True, (1, 64))
        if backend == 'ray':
            options = {'address': address or 'auto', 'replicas': replicas, 'threads': max(threads, 1)}
        elif backend == 'triton':
            options = {'address': address or 'localhost:8001'}
    package = ModelPackage.load(find_package(model))
    return package, make_runtime(package.folder, backend, role, device, full=True, threads=threads, options=options)
