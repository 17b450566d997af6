# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""A one-node Ray cluster started as an operator would (`ray start --head`), for tests and benchmarks."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def ray_head(temp_dir: str | Path, cpus: int = 2, timeout_s: float = 180.0) -> Iterator[str]:
    """A Ray head on a free local port; yields its address (host:port) and stops it on exit."""
    with socket.socket() as probe:  # a free port for its GCS
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    head = subprocess.Popen(
        [sys.executable, '-m', 'ray.scripts.scripts', 'start', '--head', f'--port={port}', f'--num-cpus={cpus}',
         '--include-dashboard=false', '--disable-usage-stats', f'--temp-dir={temp_dir}', '--block'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
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
