"""The /proc reading that finds a run's processes (the orphan reaper, the watchdog, the test cluster); a killed driver's
local Ray gone within seconds; pools a cluster cannot hold refused in one line."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.ray_env import all_pids, processes_with_env, session_dirs, stat_field, stop_processes
from tests.faults import cmdline, command, left_behind, ray_processes_of, wait_for


def test_stat_fields_are_numbered_as_proc5_numbers_them():
    me = os.getpid()
    assert me in all_pids()
    assert stat_field(me, 3) == "R"  # field 3: the state, running while it reads itself
    assert stat_field(me, 4) == str(os.getppid()) and stat_field(me, 6) == str(os.getsid(0))
    assert stat_field(2**22 + 1, 6) is None  # above pid_max: no such process
    with pytest.raises(ValueError, match="only fields from 3 on"):
        stat_field(me, 2)  # the command name may hold spaces and parentheses: never split


def test_a_child_is_found_by_its_environment_tag_and_its_own_session():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True,
                             env={**os.environ, "L2L_TEST_TAG": "found-me"})
    try:
        assert processes_with_env("L2L_TEST_TAG").get(child.pid) == "found-me"
        assert stat_field(child.pid, 6) == str(child.pid)  # a new session's id is its leader's pid
    finally:
        child.kill()
        child.wait()


def test_a_killed_driver_leaves_no_ray_process_behind(tmp_path):
    """kill -9 of `python -m pipeline dataset` mid-run: its local Ray's processes, the agents included (they outlived
    the driver by ~60 s before the watchdog), are gone within seconds, with no further run to reap them."""
    out = tmp_path / "killed"
    proc = command("dataset", "--preset", "tiny", "--no-one-pool", "--num-samples", "64", "--out", str(out))
    ray_pids: list[int] = []
    sessions: set[str] = set()
    try:
        wait_for(lambda: len(list((out / "stats").glob("*.json"))) >= 1, proc, 240)
        assert proc.poll() is None, f"the run ended before its driver could be killed: {proc.communicate()[1][-2000:]}"
        ray_pids = ray_processes_of(proc.pid)
        sessions = set().union(*(session_dirs(p) for p in ray_pids))
        assert len(ray_pids) >= 8 and sessions, ray_pids  # GCS, raylet, agents, the pools' actors
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t0, left = time.time(), ray_pids
        while left and time.time() - t0 < 15:
            time.sleep(0.5)
            left = left_behind(ray_pids, sessions)
        assert not left, [cmdline(p) for p in left]
        print(f"the killed driver's {len(ray_pids)} Ray processes were gone {time.time() - t0:.1f} s after the kill")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        stop_processes(left_behind(ray_pids, sessions))
