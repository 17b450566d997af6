# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Bottleneck codecs (quantisation, then entropy coding) and the self-describing wire frame."""
