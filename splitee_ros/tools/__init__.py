# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Tools that drive the nodes from outside: two hosts in network namespaces, a camera that records answers.

The nodes never use them.
"""
