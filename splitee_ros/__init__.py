# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Split computing with early exits for an object detector on ROS 2."""

__version__ = '0.1.0'
