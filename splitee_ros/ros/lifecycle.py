# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Managed (lifecycle) nodes: configure loads and warms the model, activate serves, deactivate stops serving.

A node that loads a model is a `ManagedNode`: `load` (configure), `start` (activate), `stop` (deactivate) and
`free` (cleanup). A configure that fails returns FAILURE; the reason is logged and published on /diagnostics,
and the node stays unconfigured, so it can be configured again once the cause is mended. Launch files drive
the transitions (their `autostart` argument); a node started on its own does with its `autostart` parameter.
"""

from __future__ import annotations

from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn


class ManagedNode(LifecycleNode):
    """A lifecycle node whose subclasses load, start, stop and free; failures of configure are reported."""

    def __init__(self, name: str, **kwargs) -> None:
        """Create the node; nothing is loaded until configure."""
        super().__init__(name, **kwargs)
        self.configure_error = ''  # why the last configure failed ('' when it did not)
        self.active = False

    def load(self) -> None:
        """Load and warm the model, create the publishers (configure); raise to fail the transition."""
        raise NotImplementedError

    def start(self) -> None:
        """Subscribe and start the threads and timers that serve (activate)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving; every frame already accepted still gets its answer (deactivate)."""
        raise NotImplementedError

    def free(self) -> None:
        """Drop the model and the publishers (cleanup)."""
        raise NotImplementedError

    def report_health(self) -> None:
        """Publish the node's health on /diagnostics (a failed configure is reported at once)."""
        raise NotImplementedError

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Load and warm; FAILURE with the reason logged and on /diagnostics when that fails."""
        try:
            self.load()
        except Exception as error:  # any cause (a missing package, a bad parameter, a backend): report it
            self.configure_error = f'configure failed: {type(error).__name__}: {error}'[:300]
            self.get_logger().error(self.configure_error)
            self.report_health()
            return TransitionCallbackReturn.FAILURE
        self.configure_error = ''
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Serve."""
        self.start()
        self.active = True
        self.get_logger().info('active')
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Stop serving; the model stays loaded."""
        self.active = False
        self.stop()
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        """Free the model."""
        self.free()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        """Stop serving if active, and free."""
        if self.active:
            self.active = False
            self.stop()
        self.free()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Stop serving first: no thread of the node runs on while it is taken apart."""
        if self.active:
            self.active = False
            self.stop()
        super().destroy_node()


def autostart(node: ManagedNode) -> bool:
    """Configure and activate `node` (its `autostart` parameter asked for it); False if configure failed."""
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        return False
    return node.trigger_activate() == TransitionCallbackReturn.SUCCESS
