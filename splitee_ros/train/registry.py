# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Registries of named training components, so that a YAML file can name them (as in torchdistill)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from splitee_ros.errors import UnknownNameError

T = TypeVar('T')


class Registry(Generic[T]):
    """Names → components, with errors that list the known names."""

    def __init__(self, kind: str) -> None:
        """Create an empty registry of `kind` (used in error messages)."""
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering a component under `name`."""

        def add(component: T) -> T:
            if name in self._entries:
                raise UnknownNameError(f'{self.kind} {name!r} is registered twice')
            self._entries[name] = component
            return component

        return add

    def __getitem__(self, name: str) -> T:
        """Look a component up by name."""
        if name not in self._entries:
            raise UnknownNameError(f'unknown {self.kind} {name!r}; known: {", ".join(sorted(self._entries))}')
        return self._entries[name]

    def __contains__(self, name: str) -> bool:
        """Whether `name` is registered."""
        return name in self._entries

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)
