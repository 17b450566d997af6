# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The ROS 2 nodes: thin wiring of topics, parameters and timers around `splitee_ros.pipeline`."""
