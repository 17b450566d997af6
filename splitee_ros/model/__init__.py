# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Splittable detectors: backbone stages, split points, bottlenecks, exit heads, registry, ONNX export."""
