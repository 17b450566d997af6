# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What the launch files share: a managed node that launch configures and then activates (`autostart`).

Imported by launch files only (it needs `launch` and `launch_ros`, which the nodes do not).
"""

from __future__ import annotations

from launch.actions import EmitEvent, RegisterEventHandler
from launch.conditions import IfCondition
from launch.events import matches_action
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState, StateTransition
from lifecycle_msgs.msg import Transition


def managed(node: LifecycleNode, autostart) -> list:
    """`node`, and while `autostart` is true, configure it at once and activate it when configure succeeds.

    The activation follows configure only (start state `configuring`), so a node deactivated by hand stays so.
    """
    when = IfCondition(autostart)

    def change(transition: int, **condition) -> EmitEvent:
        event = ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=transition)
        return EmitEvent(event=event, **condition)

    activate = OnStateTransition(
        target_lifecycle_node=node,
        start_state='configuring',
        goal_state='inactive',
        entities=[change(Transition.TRANSITION_ACTIVATE)],
    )
    configure = change(Transition.TRANSITION_CONFIGURE, condition=when)
    return [node, RegisterEventHandler(activate, condition=when), configure]


def once_active(node_name: str, entities: list) -> RegisterEventHandler:
    """Start `entities` the first time a lifecycle node whose name ends with `node_name` becomes active."""
    started: list[bool] = []

    def first_activation(event) -> bool:
        matched = (isinstance(event, StateTransition) and event.goal_state == 'active'
                   and event.action.node_name.endswith(node_name) and not started)  # fmt: skip
        if matched:
            started.append(True)
        return matched

    return RegisterEventHandler(OnStateTransition(matcher=first_activation, entities=entities))
