"""Faults injected by process id into a command run as a user runs it: find the local Ray a driver started,
kill one of its workers or the driver itself, and wait for what should follow."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def command(verb: str, *args: str, **kw) -> subprocess.Popen:
    """`python -m pipeline <verb> ...` in its own session (killing the driver orphans its local Ray)."""
    env = {**os.environ, "RAY_DATA_DISABLE_PROGRESS_BARS": "1"}
    return subprocess.Popen([sys.executable, "-m", "pipeline", verb, *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def ray_processes_of(driver: int) -> list[int]:
    """Live processes started by the local Ray of driver pid `driver`: tagged by pipeline/ray_env.py, and the
    agents (untagged: their titles overwrite their environment) by their open files in the same session."""
    from pipeline.ray_env import OWNER_ENV, processes_with_env, with_their_sessions

    return with_their_sessions([pid for pid, owner in processes_with_env(OWNER_ENV).items() if owner.startswith(f"{driver}:")])


def left_behind(pids: list[int], sessions: set[str]) -> list[int]:
    """Which of `pids` still run (zombies, which run nothing, aside), and every process with files open in these Ray
    session directories: what a driver's local Ray left, found after its tagged processes are gone."""
    from pipeline.ray_env import processes_in_sessions, running

    return sorted({pid for pid in pids if running(pid)} | set(processes_in_sessions(sessions)))


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return ""


def wait_for(cond, proc: subprocess.Popen, timeout: float = 240) -> None:
    """Poll `cond` until it holds, the process ends, or `timeout` seconds pass."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not cond():
        time.sleep(0.2)


def find_worker(proc: subprocess.Popen, title: str, ready, timeout: float = 300) -> int:
    """The pid of a process of `proc`'s local Ray whose command line holds `title`, once `ready()` holds."""
    found: list[int] = []
    wait_for(lambda: ready() and bool(found.extend(p for p in ray_processes_of(proc.pid) if title in cmdline(p)) or found),
             proc, timeout)
    assert found, f"no {title} process was found while the command ran"
    return found[0]


def logged_steps(run: Path) -> list[int]:
    """The training steps a run's metrics.jsonl logged, in order, repeats included."""
    return [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines() if "loss/total" in x]


def train_through_two_faults(args: list[str], out: str) -> dict[str, object]:
    """`pipeline train *args` with a Ray Train worker killed after the first checkpoint (FailureConfig restarts the
    group from it), then the driver killed after a later one; then the same command again, run to the end.
    Returns the steps logged before the re-run and the re-run's console."""
    run = Path(out)
    checkpoints = lambda: sorted(int(p.name.split("-")[1]) for p in run.glob("ray-train/step-*"))  # noqa: E731
    proc = command("train", *args)
    try:
        os.kill(find_worker(proc, "RayTrainWorker", lambda: bool(checkpoints())), signal.SIGKILL)
        first_ckpt = checkpoints()[-1]
        wait_for(lambda: checkpoints()[-1] > first_ckpt, proc, 300)  # the group restarted and went on
        assert proc.poll() is None, f"the run ended before its driver could be killed: {proc.communicate()[1][-2000:]}"
    finally:  # the fault, or the clean-up of a run that went wrong: nothing keeps training behind the tests
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    killed_out, _ = proc.communicate()
    before = logged_steps(run)
    again = command("train", *args)
    try:
        console, err = again.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(again.pid, signal.SIGKILL)  # a hung re-run; after a clean exit, what its Ray left
    assert again.returncode == 0, err[-3000:]
    return {"before": before, "killed_console": killed_out, "console": console}
