# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Data: synthetic drives, COCO and KITTI input/output, rosbag2 writing."""
