# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: an isolated DDS domain per test process."""

import itertools
import os

import pytest
from hypothesis import settings

_domain_ids = itertools.count()


@pytest.fixture
def ros_env() -> dict[str, str]:
    """Environment for child ROS processes: a domain of their own, discovery on this host only."""
    domain = 1 + (os.getpid() * 7 + next(_domain_ids)) % 200
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    return env


# CI runs the property tests on a fixed sequence of examples; locally each run explores new ones.
settings.register_profile('ci', derandomize=True, print_blob=True)
settings.load_profile('ci' if os.environ.get('CI') else 'default')
