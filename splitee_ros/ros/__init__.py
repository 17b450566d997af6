# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""rclpy glue that the nodes use (parameters, QoS, conversions, telemetry, the executor); nothing else.

Tools that drive the nodes from outside (demo, report, harness, smoke check, bag player) live in `tools/`.
"""
