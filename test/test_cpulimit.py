# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The slower vehicle: a program run through the quota's prefix, and its children, live in the limited group."""

import subprocess
import sys

import pytest

from splitee_ros.tools.cpulimit import cpu_group, unavailable_reason

pytestmark = pytest.mark.timeout(60)
REASON = unavailable_reason()
# moving processes and threads into cgroups needs root and the cpu/cpuset controllers (CI runs as root)
needs_cgroups = pytest.mark.skipif(REASON is not None, reason=f'cannot make cgroups here: {REASON}')


@needs_cgroups
def test_a_group_holds_the_program_and_its_children_on_its_cores_and_throttles_them():
    child = (
        'import os, subprocess; print(os.sched_getaffinity(0)); '
        'print(subprocess.run(["cat", "/proc/self/cgroup"], capture_output=True).stdout)'
    )
    busy = 'import time\nt = time.process_time()\nwhile time.process_time() - t < 0.05: pass'
    with cpu_group('pytest', 0.05, cores=[0]) as group:
        listed = subprocess.run([*group.prefix, sys.executable, '-c', child], capture_output=True, check=True)
        assert listed.stdout.startswith(b'{0}\n')  # on its core only
        assert listed.stdout.count(b'splitee-pytest') >= 2  # the program's child too, in both controllers' groups
        before = group.throttled_periods()
        subprocess.run([*group.prefix, sys.executable, '-c', busy], check=True)
        assert group.throttled_periods() >= before + 10  # 50 ms of CPU against 1 ms per 20 ms period
    assert group.paths and not any(path.exists() for path in group.paths)  # removed on exit


def test_a_quota_or_cores_outside_the_machine_are_refused():
    with pytest.raises(ValueError, match='cpus must be between'), cpu_group('pytest', 0.0):
        pass
    with pytest.raises(ValueError, match='cpus must be between'), cpu_group('pytest', 1e6):
        pass
    with pytest.raises(ValueError, match='cores must be among'), cpu_group('pytest', cores=[10_000]):
        pass


@needs_cgroups
def test_one_named_thread_of_a_process_is_limited_alone():
    import os
    import threading
    import time

    from splitee_ros.ros.threads import named_thread
    from splitee_ros.tools.netns import MODEL_THREAD, _limit_thread

    stop = threading.Event()
    worker = named_thread(lambda: stop.wait(30.0), MODEL_THREAD)
    worker.start()
    try:
        with cpu_group('pytest-thread', 0.1) as group:
            found = time.monotonic() + 5.0  # the thread names itself once it runs
            while not _limit_thread(os.getpid(), MODEL_THREAD, group) and time.monotonic() < found:
                time.sleep(0.01)
            tasks = (group.paths[0] / 'tasks').read_text().split()
            assert tasks == [str(worker.native_id)]  # that thread alone, not the process
            assert not _limit_thread(os.getpid(), 'no-such-thread', group)
            stop.set()
            worker.join(5.0)
    finally:
        stop.set()


def test_a_thread_name_the_os_would_cut_is_refused():
    from splitee_ros.ros.threads import named_thread

    with pytest.raises(ValueError, match='at most 15 bytes'):
        named_thread(lambda: None, 'a-name-longer-than-fifteen')


def test_a_worker_loop_that_raises_is_reported_and_runs_again():
    from splitee_ros.ros.threads import named_thread

    runs: list[int] = []
    errors: list[Exception] = []

    def loop() -> None:  # a worker loop with a defect on its first two passes
        runs.append(len(runs))
        if len(runs) <= 2:
            raise RuntimeError(f'defect {len(runs)}')

    worker = named_thread(loop, 'test-worker', errors.append)
    worker.start()
    worker.join(5.0)
    assert not worker.is_alive() and runs == [0, 1, 2]  # ended by returning, after two restarts
    assert [str(error) for error in errors] == ['defect 1', 'defect 2']


def test_a_worker_error_is_counted_and_logged_unless_the_context_is_shut_down():
    """After Ctrl-C a publish in flight fails only because the context is gone: nothing to count or log."""
    from collections import Counter
    from types import SimpleNamespace

    from splitee_ros.ros.threads import report_worker_error

    logged: list[str] = []
    logger = SimpleNamespace(error=lambda message, **_: logged.append(message))
    context_ok = [True]
    node = SimpleNamespace(context=SimpleNamespace(ok=lambda: context_ok[0]), get_logger=lambda: logger)
    counts: Counter[str] = Counter()
    report_worker_error(node, counts, RuntimeError('a defect'))
    assert counts['thread_errors'] == 1 and len(logged) == 1 and 'a defect' in logged[0]
    context_ok[0] = False
    report_worker_error(node, counts, RuntimeError("publisher's context is invalid"))
    assert counts['thread_errors'] == 1 and len(logged) == 1
