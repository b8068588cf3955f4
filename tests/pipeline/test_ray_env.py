"""The /proc reading that finds a run's processes (the orphan reaper, the test cluster)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.ray_env import all_pids, processes_with_env, stat_field


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
