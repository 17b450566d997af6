# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Declaring a node's parameters from its table (`parameter_table`), with descriptors, and mapping live changes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from splitee_ros.errors import ConfigError

if TYPE_CHECKING:
    from splitee_ros.codec.auth import Authenticator
    from splitee_ros.runtime.base import Role

PACKAGE_DEFAULT = object()  # the default is the model package's operating point, given when declaring


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter of a node: how it is declared and, when live, which setting it tunes."""

    name: str
    default: Any
    description: str
    read_only: bool = False
    value_range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None  # () : the package's own, given when declaring
    setting: str | None = None  # the field of the node's settings that a live change sets (None: the node's own)

    def descriptor(self, choices: tuple[str, ...] | None, default: Any) -> ParameterDescriptor:
        """The ROS descriptor: description, read-only, the range (integer or floating point) or the choices."""
        descriptor = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if choices:
            descriptor.additional_constraints = 'one of: ' + ', '.join(choices)
        if self.value_range is not None:
            low, high = self.value_range
            if isinstance(default, bool) or not isinstance(default, int | float):
                raise TypeError(f'{self.name}: a range needs a numeric parameter')
            if isinstance(default, int):
                descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
            else:
                interval = FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)
                descriptor.floating_point_range = [interval]
        return descriptor


def declare_table(
    node,
    table: Iterable[ParameterSpec],
    defaults: Mapping[str, Any] | None = None,
    choices: Mapping[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """Declare every parameter of `table` on `node`; return their values (as a launch or params file set them).

    `defaults` and `choices` give what the table leaves to the package (its operating point, split points,
    codecs). A value outside the choices raises ValueError naming the parameter.
    """
    defaults, choices = dict(defaults or {}), dict(choices or {})
    values = {}
    for spec in table:
        default = defaults.get(spec.name, spec.default)
        if default is PACKAGE_DEFAULT:
            raise ValueError(f"parameter {spec.name}: its default is the package's, and none was given")
        allowed = choices.get(spec.name, spec.choices)
        value = node.declare_parameter(spec.name, default, spec.descriptor(allowed, default)).value
        if allowed and value not in allowed:
            raise ValueError(f'parameter {spec.name} must be one of {list(allowed)}, not {value!r}')
        values[spec.name] = value
    return values


def partition(table: Iterable[ParameterSpec], names: Iterable[str]) -> tuple[list[ParameterSpec], list[ParameterSpec]]:
    """The parameters of `table` named in `names`, and the others (each in table order)."""
    wanted = set(names)
    table = list(table)
    return [s for s in table if s.name in wanted], [s for s in table if s.name not in wanted]


def setting_changes(table: Iterable[ParameterSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """The settings fields that parameter `values` (name: value) change; lists become tuples."""
    settings = {spec.name: spec.setting for spec in table if spec.setting}
    return {settings[name]: tuple(value) if isinstance(value, list) else value
            for name, value in values.items() if name in settings}  # fmt: skip


def load_model(values: Mapping[str, Any], role: Role, max_batch: int = 1):
    """Load the package named by the model parameters' `values` (model, backend, device, threads) for `role`.

    Returns the package and its runtime with every split of `role` (and the whole model) loaded and warm;
    TensorRT engines take batches of up to `max_batch`. The edge (`role` tail) may also hand its graphs to a
    serving engine (backend ray or triton, at `engine_address`).
    """
    from splitee_ros.model.package import ModelPackage, find_package
    from splitee_ros.runtime.base import make_runtime

    backend, threads = values['backend'], values['threads']
    options: dict[str, object] = {'max_batch': max_batch} if backend == 'tensorrt' else {}
    if backend == 'ray':
        options = {'address': values['engine_address'] or 'auto', 'replicas': values['engine_replicas'],
                   'threads': max(threads, 1)}  # fmt: skip
    elif backend == 'triton':
        options = {'address': values['engine_address'] or 'localhost:8001'}
    package = ModelPackage.load(find_package(values['model']))
    runtime = make_runtime(package.folder, backend, role, values['device'], full=True, threads=threads, options=options)
    return package, runtime


def load_authenticator(values: Mapping[str, Any]) -> Authenticator | None:
    """The node's sealing and opening from its `auth_key_file` (None: authentication off); ConfigError if unusable."""
    from splitee_ros.codec.auth import Authenticator

    if not values['auth_key_file']:
        return None
    return Authenticator(values['auth_key_file'], values['auth_window_s'])


def refresh_keys(node, auth: Authenticator | None, counts: Counter[str]) -> None:
    """Take up a rotated key file (a node's 1-Hz timer); a broken one is logged and counted, the keys in use stay."""
    if auth is None:
        return
    try:
        if auth.refresh():
            node.get_logger().info(f'keys reloaded from {auth.path}; signing with key id {auth.sealer.ring.active}')
    except ConfigError as error:
        counts['auth_key_file_errors'] += 1
        node.get_logger().error(f'{error}; keeping the keys in use', throttle_duration_sec=10.0)
