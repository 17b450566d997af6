# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Field-by-field comparison of ROS 2 messages, naming every field that differs."""

from __future__ import annotations

from typing import Any


def _is_message(value: Any) -> bool:
    return hasattr(value, 'get_fields_and_field_types')


def message_differences(expected: Any, actual: Any, path: str = '') -> list[str]:
    """Return one line per differing leaf field (empty when the messages are equal in every field)."""
    if _is_message(expected) or _is_message(actual):
        if type(expected) is not type(actual):
            return [f'{path or "<root>"}: type {type(expected).__name__} != {type(actual).__name__}']
        differences: list[str] = []
        for field in expected.get_fields_and_field_types():
            child = f'{path}.{field}' if path else field
            differences += message_differences(getattr(expected, field), getattr(actual, field), child)
        return differences
    if isinstance(expected, (list, tuple)) and not isinstance(expected, (bytes, str)):
        if len(expected) != len(actual):
            return [f'{path}: length {len(expected)} != {len(actual)}']
        differences = []
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            differences += message_differences(left, right, f'{path}[{index}]')
        return differences
    if hasattr(expected, 'tolist'):  # numpy arrays for fixed-size numeric fields
        expected = expected.tolist()
    if hasattr(actual, 'tolist'):
        actual = actual.tolist()
    if isinstance(expected, (bytes, bytearray)) or isinstance(actual, (bytes, bytearray)):
        expected, actual = bytes(expected), bytes(actual)
    if expected != actual:
        shown_expected, shown_actual = repr(expected)[:60], repr(actual)[:60]
        return [f'{path}: {shown_expected} != {shown_actual}']
    return []
