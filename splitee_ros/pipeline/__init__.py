# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What the nodes do, without ROS: the vehicle's per-frame decisions and deadlines, the edge's decoding."""
