# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: an isolated DDS domain per test process, one export cache for the runtime tests, a Ray cluster."""

import itertools
import os
import runpy
from pathlib import Path

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


DEMO_PACKAGE = 'models/splitee_demo'
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def setup_py(monkeypatch) -> dict:
    """What setup.py passes to setup() (extras, entry points, ...), without running it."""
    import setuptools

    captured: dict = {}
    monkeypatch.setattr(setuptools, 'setup', lambda **arguments: captured.update(arguments))
    runpy.run_path(str(ROOT / 'setup.py'))
    return captured


@pytest.fixture(scope='session')
def runtime_cache(tmp_path_factory):
    """An export (and engine) cache shared by the tests of one run."""
    return tmp_path_factory.mktemp('runtime-cache')


@pytest.fixture(scope='session')
def demo_exports(runtime_cache):
    """The shipped demo package's ONNX exports."""
    from splitee_ros.model.package import ModelPackage
    from splitee_ros.runtime.exports import ensure_exported

    return ensure_exported(ModelPackage.load(DEMO_PACKAGE), runtime_cache)


# CI runs the property tests on a fixed sequence of examples; locally each run explores new ones.
settings.register_profile('ci', derandomize=True, print_blob=True)
settings.load_profile('ci' if os.environ.get('CI') else 'default')


@pytest.fixture(scope='session')
def ray_cluster(tmp_path_factory):
    """A one-node Ray cluster for the session (Ray Serve is the edge's `ray` extra, in the test environment)."""
    from splitee_ros.tools.ray_cluster import ray_head

    with ray_head(tmp_path_factory.mktemp('ray')) as address:
        yield address
