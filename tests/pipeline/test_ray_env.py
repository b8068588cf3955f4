"""The psutil look-ups that find a run's processes (the orphan reaper, the watchdog, the test cluster); a killed
driver's local Ray gone within seconds; pools a cluster cannot hold refused in one line."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.ray_env import (
    _start_time,
    all_pids,
    processes_with_env,
    running,
    session_dirs,
    session_id,
    stop_processes,
)
from tests.faults import cmdline, command, left_behind, ray_processes_of, wait_for


def test_a_process_is_known_by_its_session_state_and_start_time():
    me = os.getpid()
    assert me in all_pids() and running(me) and session_id(me) == os.getsid(0)
    stat = Path(f"/proc/{me}/stat").read_text().rsplit(")", 1)[1].split()  # fields 3.. of proc(5)
    assert _start_time(me) == stat[22 - 3]  # the tag's start time: clock ticks since boot, as the kernel counts them
    gone = 2**22 + 1  # above pid_max: no such process
    assert session_id(gone) is None and not running(gone) and _start_time(gone) is None


def test_a_zombie_is_not_running():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.time() + 10
        while running(child.pid) and time.time() < deadline:  # no poll(): it would reap the zombie
            time.sleep(0.1)
        assert not running(child.pid) and child.pid in all_pids()  # exited but not yet reaped: a zombie
    finally:
        child.wait()


def test_a_child_is_found_by_its_environment_tag_and_its_own_session():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True,
                             env={**os.environ, "L2L_TEST_TAG": "found-me"})
    try:
        assert processes_with_env("L2L_TEST_TAG").get(child.pid) == "found-me"
        assert session_id(child.pid) == child.pid  # a new session's id is its leader's pid
    finally:
        child.kill()
        child.wait()


def test_session_dirs_and_a_stop_that_escalates_to_sigkill(tmp_path):
    """A process holding a log open in a session directory is found by it; one deaf to SIGTERM is killed after the grace."""
    log = tmp_path / "session_2026-01-01_00-00-00_1" / "logs" / "raylet.out"
    log.parent.mkdir(parents=True)
    deaf = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); f = open(sys.argv[1], 'w');"
            "print('ready', flush=True); time.sleep(60)")
    children = [subprocess.Popen([sys.executable, "-c", code, str(log)], stdout=subprocess.PIPE, text=True)
                for code in (deaf, "import sys, time; print('ready', flush=True); time.sleep(60)")]
    try:
        assert all(c.stdout.readline() == "ready\n" for c in children)
        assert session_dirs(children[0].pid) == {str(log.parents[1])} and session_dirs(children[1].pid) == set()
        t0 = time.time()
        stop_processes([c.pid for c in children], grace_s=1.0)
        assert 1.0 <= time.time() - t0 < 5  # the grace, then SIGKILL (which it does not wait for)
        while any(running(c.pid) for c in children) and time.time() - t0 < 5:
            time.sleep(0.05)
        assert not any(running(c.pid) for c in children)
    finally:
        for c in children:
            c.kill()
            c.wait()


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
