# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Tools that drive the nodes from outside (demo, report, harness, smoke check, bag player, namespaces, camera).

The nodes never use them; they may use training and data code, which `ros/` and `nodes/` must not.
"""
