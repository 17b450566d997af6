# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The slower vehicle: a program run through the quota's prefix, and its children, live in the limited group."""

import subprocess
import sys

import pytest

from splitee_ros.tools.cpulimit import cpu_quota, unavailable_reason

pytestmark = pytest.mark.timeout(60)
REASON = unavailable_reason()


@pytest.mark.skipif(REASON is not None, reason=REASON or '')
def test_a_quota_holds_the_program_and_its_children_and_throttles_them():
    child = 'import subprocess; print(subprocess.run(["cat", "/proc/self/cgroup"], capture_output=True).stdout)'
    busy = 'import time\nt = time.process_time()\nwhile time.process_time() - t < 0.05: pass'
    with cpu_quota('pytest', 0.05) as group:
        listed = subprocess.run([*group.prefix, sys.executable, '-c', child], capture_output=True, check=True)
        assert b'splitee-pytest' in listed.stdout  # the program's child too
        before = group.throttled_periods()
        subprocess.run([*group.prefix, sys.executable, '-c', busy], check=True)
        assert group.throttled_periods() >= before + 10  # 50 ms of CPU against 1 ms per 20 ms period
    assert not group.path.exists()  # removed on exit


def test_a_quota_outside_the_machine_is_refused():
    with pytest.raises(ValueError, match='cpus must be between'), cpu_quota('pytest', 0.0):
        pass
    with pytest.raises(ValueError, match='cpus must be between'), cpu_quota('pytest', 1e6):
        pass
