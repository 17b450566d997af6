# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The nodes' executor outlives publishers destroyed while it waits (ros2/rclpy#1142)."""

import threading

import pytest
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation
from std_msgs.msg import String

from splitee_ros.ros.executor import ResilientExecutor
from splitee_ros.tools.harness import poll_until

pytestmark = [pytest.mark.ros, pytest.mark.timeout(120)]


def delivered_through(probe, received: list[str]):
    """A condition that publishes once more on `probe` and holds once something was received."""

    def delivered() -> bool:
        probe.publish(String(data='after'))
        return bool(received)

    return delivered


def test_publishers_replaced_while_the_executor_spins_do_not_stop_it(ros_env):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(ros_env['ROS_DOMAIN_ID']))
    node = rclpy.create_node('churn', context=context)
    executor = ResilientExecutor(num_threads=2, context=context)
    executor.add_node(node)
    received: list[str] = []
    node.create_subscription(String, 'still_served', lambda msg: received.append(msg.data), 10)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        for index in range(300):  # as head_node replaces its request writer on a deadline change, over and over
            publisher = node.create_publisher(String, f'churn_{index % 3}', 10)
            publisher.publish(String(data='x'))
            node.destroy_publisher(publisher)
        assert spinner.is_alive()
        probe = node.create_publisher(String, 'still_served', 10)
        assert poll_until(delivered_through(probe, received), 30.0)  # callbacks still run after the churn
        assert received[0] == 'after'
        assert spinner.is_alive()
    finally:
        executor.shutdown()
        spinner.join(5.0)
        node.destroy_node()
        rclpy.shutdown(context=context)
    assert not spinner.is_alive()  # and it ends with its executor


def test_an_invalid_handle_mid_wait_is_counted_and_the_spin_goes_on(ros_env, monkeypatch):
    """The race above is rare; here rclpy's InvalidHandle is raised where it would be, on the first wait."""
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(ros_env['ROS_DOMAIN_ID']))
    node = rclpy.create_node('invalid_handle', context=context)
    executor = ResilientExecutor(num_threads=2, context=context)
    executor.add_node(node)
    plain_spin = MultiThreadedExecutor.spin
    raised: list[bool] = []

    def spin_raising_once(self) -> None:
        if not raised:
            raised.append(True)
            raise rclpy_implementation.InvalidHandle('Tried to use a handle that has been destroyed.')
        plain_spin(self)

    monkeypatch.setattr(MultiThreadedExecutor, 'spin', spin_raising_once)
    received: list[str] = []
    node.create_subscription(String, 'served', lambda msg: received.append(msg.data), 10)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        probe = node.create_publisher(String, 'served', 10)
        assert poll_until(delivered_through(probe, received), 30.0)
        assert received[0] == 'after'
        assert spinner.is_alive() and executor.destroyed_while_waiting == 1
    finally:
        executor.shutdown()
        spinner.join(5.0)
        node.destroy_node()
        rclpy.shutdown(context=context)
    assert not spinner.is_alive()


def test_a_handle_that_stays_invalid_ends_the_spin_instead_of_looping(ros_env, monkeypatch):
    """A burst of InvalidHandle is no race but a broken wait set: spinning on would be a hot loop."""
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(ros_env['ROS_DOMAIN_ID']))
    executor = ResilientExecutor(num_threads=2, context=context)

    def spin_always_raising(self) -> None:
        raise rclpy_implementation.InvalidHandle('Tried to use a handle that has been destroyed.')

    monkeypatch.setattr(MultiThreadedExecutor, 'spin', spin_always_raising)
    try:
        with pytest.raises(rclpy_implementation.InvalidHandle):
            executor.spin()
        assert executor.destroyed_while_waiting == ResilientExecutor.RESTART_BURST
    finally:
        executor.shutdown()
        rclpy.shutdown(context=context)


def test_races_spread_wider_than_the_burst_window_keep_spinning(ros_env, monkeypatch):
    """A burst is counted in time, not in total: as many races as a burst, spread out, are each just a race."""
    from types import SimpleNamespace

    from splitee_ros.ros import executor as executor_module

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(ros_env['ROS_DOMAIN_ID']))
    executor = ResilientExecutor(num_threads=2, context=context)
    clock = [0.0]
    monkeypatch.setattr(executor_module, 'time', SimpleNamespace(monotonic=lambda: clock[0]))
    races = 3 * ResilientExecutor.RESTART_BURST
    spacing_s = 1.5 * ResilientExecutor.RESTART_WINDOW_S / ResilientExecutor.RESTART_BURST

    def spin_raising_then_ending(self) -> None:  # a race every `spacing_s`, then a shutdown ends the spin
        if executor.destroyed_while_waiting < races:
            clock[0] += spacing_s
            raise rclpy_implementation.InvalidHandle('Tried to use a handle that has been destroyed.')

    monkeypatch.setattr(MultiThreadedExecutor, 'spin', spin_raising_then_ending)
    try:
        executor.spin()  # returns: no burst
        assert executor.destroyed_while_waiting == races
    finally:
        executor.shutdown()
        rclpy.shutdown(context=context)
