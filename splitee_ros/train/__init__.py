# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""YAML-driven training (teacher, distilled bottlenecks, calibrated exits) and evaluation."""
