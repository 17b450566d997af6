# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Link estimation and stage statistics (no rclpy): what the monitor knows about the link and the stages."""
