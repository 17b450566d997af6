# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""rclpy glue shared by the nodes; the only part of the package besides nodes/ that imports rclpy."""
