# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: an isolated DDS domain per test process, one export cache for the runtime tests, a Ray cluster."""

import itertools
import os
import socket
import subprocess
import sys
import time

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
    """A one-node Ray cluster started as an operator would (`ray start --head`), stopped after the session."""
    pytest.importorskip('ray.serve', reason='Ray Serve is an edge extra (pip install splitee_ros[edge])')
    with socket.socket() as probe:  # a free port for its GCS
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    head = subprocess.Popen(
        [sys.executable, '-m', 'ray.scripts.scripts', 'start', '--head', f'--port={port}', '--num-cpus=2',
         '--include-dashboard=false', '--disable-usage-stats', f'--temp-dir={tmp_path_factory.mktemp("ray")}',
         '--block'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                socket.create_connection(('127.0.0.1', port), timeout=1.0).close()
                break
            except OSError:
                if time.monotonic() > deadline or head.poll() is not None:
                    raise RuntimeError('the Ray head did not come up') from None
                time.sleep(0.5)
        yield f'127.0.0.1:{port}'
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        head.terminate()
        head.wait(60)
