# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Runtimes: one interface (`SplitRuntime`) over PyTorch, ONNX Runtime and TensorRT backends."""
