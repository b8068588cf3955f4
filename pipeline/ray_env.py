"""Starting or joining Ray, the same way for every job, and keeping its chatter off the console."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil

from pipeline import names
from pipeline.redact import RedactingFormatter

_VERBOSE = False
T = TypeVar("T")
OWNER_ENV = "L2L_RAY_OWNER"  # "<driver pid>:<start time>", inherited by every process a local Ray starts


def set_verbose(on: bool) -> None:
    """-v on the CLI: Ray's INFO lines and warnings on the console again."""
    global _VERBOSE
    _VERBOSE = on


def quiet_ray_logs(log_dir: str | Path | None) -> None:
    """Ray's driver-side logger: errors stay on the console; INFO and warnings go to <log_dir>/ray.log (kept only
    for local run directories; Ray's session logs under /tmp/ray hold them in any case)."""
    logger = logging.getLogger("ray")
    if _VERBOSE:
        return
    for name in ("ray", "ray.data"):  # Ray Data's logger does not propagate; it keeps its own session file
        for h in logging.getLogger(name).handlers:
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                h.setLevel(logging.ERROR)
    if log_dir is not None and "://" not in str(log_dir):
        path = (Path(log_dir) / names.RAY_LOG).resolve()
        if not any(isinstance(h, logging.FileHandler) and h.baseFilename == str(path) for h in logger.handlers):
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(path)
            handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)


@contextlib.contextmanager
def console_errors_held() -> Iterator[None]:
    """Ray's console handlers print nothing in this block (but with -v): for one whose errors the caller re-raises as
    one line of its own (Ray Data's file log keeps its copy)."""
    handlers = [h for name in ("ray", "ray.data") for h in logging.getLogger(name).handlers
                if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)] if not _VERBOSE else []
    levels = [h.level for h in handlers]
    for h in handlers:
        h.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for h, level in zip(handlers, levels):
            h.setLevel(level)


def all_pids() -> list[int]:
    """Every process id on this machine."""
    return psutil.pids()


def session_id(pid: int) -> int | None:
    """The session id of `pid` (a new session's is its leader's pid); None once it is gone."""
    try:
        return os.getsid(pid)
    except OSError:
        return None


def running(pid: int) -> bool:
    """`pid` exists and is no zombie (a zombie runs nothing)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _start_time(pid: int) -> str | None:
    """The start time in clock ticks since boot (proc(5)'s starttime): with the pid, an identity that a reused pid cannot
    fake. Since boot, unlike psutil's create_time, which moves when the wall clock is set."""
    try:
        return str(round((psutil.Process(pid).create_time() - psutil.boot_time()) * os.sysconf("SC_CLK_TCK")))
    except psutil.Error:
        return None


def processes_with_env(key: str) -> dict[int, str]:
    """{pid: value} of the processes whose environment holds `key`: how a run finds the processes its Ray started,
    whatever their parent."""
    found = {}
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            value = p.environ().get(key)
            if value is not None:
                found[p.pid] = value
    return found


def stop_processes(pids: list[int], grace_s: float = 3.0) -> None:
    """SIGTERM, then SIGKILL what is left after `grace_s`: by pid only (psutil checks a pid was not reused)."""
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()


def session_dirs(pid: int) -> set[str]:
    """The Ray session directories (.../session_<date>_<pid>) a process holds files open in (its logs)."""
    found = set()
    with contextlib.suppress(psutil.Error):
        for f in psutil.Process(pid).open_files():
            hit = re.match(r"(.*/session_[^/]+)/", f.path)
            if hit:
                found.add(hit[1])
    return found


def processes_in_sessions(sessions: set[str]) -> list[int]:
    """Processes with files open in any of these Ray session directories: the agents too, whose environment
    Ray's long process titles overwrite (so an environment tag cannot find them)."""
    if not sessions:
        return []
    return [pid for pid in all_pids() if session_dirs(pid) & sessions]


def with_their_sessions(pids: list[int]) -> list[int]:
    """`pids` and every process with files open in the same Ray session directories (the untagged agents)."""
    sessions = set().union(*(session_dirs(p) for p in pids)) if pids else set()
    return sorted(set(pids) | set(processes_in_sessions(sessions)))


def reap_orphans() -> list[int]:
    """Stop the Ray processes of local sessions whose driver died (a kill -9 of the driver leaves Ray's agents
    running). Each process this project's local Ray starts inherits OWNER_ENV = "<driver pid>:<start time>";
    the sessions of tagged processes whose owner is gone are stopped whole, by pid."""
    tagged = []
    for pid, owner in processes_with_env(OWNER_ENV).items():
        driver, _, start = owner.partition(":")
        if driver.isdigit() and _gone(int(driver), start):
            tagged.append(pid)
    orphans = with_their_sessions(tagged)
    stop_processes(orphans)
    return orphans


def _gone(pid: int, start: str) -> bool:
    """The process `pid` that started at `start` has exited (a zombie counts: it runs nothing)."""
    return _start_time(pid) != start or not running(pid)


def watch_driver(driver: int, start: str, session: str) -> None:
    """The watchdog's whole life (a process of its own): wait for the driver to end, however it ends, then stop
    what its local Ray left (Ray's agents outlive a kill -9 of the driver by about a minute)."""
    with contextlib.suppress(OSError, AttributeError):  # pidfd (Linux 5.3+): woken by the exit, no polling
        fd = os.pidfd_open(driver)
        if not _gone(driver, start):  # the pid is still the driver's: no reused pid is watched
            select.select([fd], [], [])
        os.close(fd)
    while not _gone(driver, start):
        time.sleep(0.5)
    tagged = [pid for pid, owner in processes_with_env(OWNER_ENV).items() if owner == f"{driver}:{start}"]
    stop_processes(sorted(set(tagged) | set(processes_in_sessions({session}))))


def start_watchdog(session: str) -> int:
    """Start the watchdog of this driver's local Ray (session directory `session`); returns its pid. It runs in a
    session of its own with no tag and no open file of the driver, so a killed driver's group, the orphan reaper and
    a caller reading the driver's output to its end all leave it be."""
    import subprocess

    me = os.getpid()
    code = f"from pipeline.ray_env import watch_driver; watch_driver({me}, {_start_time(me)!r}, {session!r})"
    env = {k: v for k, v in os.environ.items() if k != OWNER_ENV}
    return subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True).pid


def init_ray(address: str | None, log_dir: str | Path | None = None, object_store_memory: int | None = None) -> None:
    """Join `address` (or RAY_ADDRESS); otherwise start a local Ray (its object store `object_store_memory` bytes,
    default Ray's). Reuses one already started."""
    import ray  # here, not at the top: the CLI reads set_verbose before it knows a job runs
    import ray.data

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    quiet_ray_logs(log_dir)
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=_VERBOSE)
    else:
        reaped = reap_orphans()
        if reaped:
            logging.getLogger("ray").warning("stopped %d Ray processes left by a killed run", len(reaped))
        os.environ[OWNER_ENV] = f"{os.getpid()}:{_start_time(os.getpid())}"  # inherited by every process Ray starts
        # CPUs are a scheduling label: more logical CPUs than cores avoids silent 2-core hangs (actor pools or train
        # workers taking every CPU and leaving none for the read tasks that feed them)
        cpus = max(4, os.cpu_count() or 1)
        # the raylet starts at most min(cores, CPUs) workers at once and warns past 4x that; a job's ~8 actor-pool
        # and task workers are by design, so the cap follows the logical CPUs (read by the raylet from its env)
        os.environ.setdefault("RAY_worker_maximum_startup_concurrency", str(cpus))
        # the raylet otherwise starts workers for queued tasks that a warm worker then takes; it kills them idle
        # and starts more: in an edit job of 1 M latents, 9 of 19 workers booted (~1 s CPU each) and ran nothing
        os.environ.setdefault("RAY_enable_worker_prestart", "0")
        # "local": a new Ray of this run's own; without it ray.init joins a `ray start` cluster this machine runs
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=_VERBOSE, object_store_memory=object_store_memory)
        start_watchdog(ray._private.worker._global_node.get_session_dir_path())  # a kill -9 of this driver leaves nothing
    # Ray Data's own progress display on a terminal; off one, its per-operator blocks would flood the log
    ray.data.DataContext.get_current().enable_progress_bars = _VERBOSE or sys.stderr.isatty()


def object_store_report() -> dict[str, int] | None:
    """The object store's totals since Ray started (bytes): capacity, in use, spilled to disk and restored, and
    what fell back to plain memory; None where Ray does not say (it is Ray's internal API)."""
    try:
        import ray
        from ray._private.internal_api import get_memory_info_reply, get_state_from_address

        st = get_memory_info_reply(get_state_from_address(ray.get_runtime_context().gcs_address)).store_stats
        return {"capacity": int(st.object_store_bytes_avail), "used": int(st.object_store_bytes_used),
                "spilled": int(st.spilled_bytes_total), "restored": int(st.restored_bytes_total),
                "fallback": int(st.object_store_bytes_fallback)}
    except Exception:  # a report, never a reason to fail a finished job
        return None


def store_line(report: dict[str, int] | None) -> str:
    if report is None:
        return "object store: no report"
    mib = {k: v / 2**20 for k, v in report.items()}
    return (f"object store {mib['capacity']:.0f} MiB: spilled {mib['spilled']:.0f} MiB to disk, restored "
            f"{mib['restored']:.0f} MiB, {mib['fallback']:.0f} MiB in fallback memory")


def on_cluster(address: str | None) -> bool:
    return bool(address or os.environ.get("RAY_ADDRESS"))


def one_machine() -> bool:
    """Every live node of the Ray this process joined is this machine: its workers can open the driver's local files."""
    import ray

    here = ray.util.get_node_ip_address()
    return all(n["NodeManagerAddress"] == here for n in ray.nodes() if n["Alive"])


def off_driver(fn: Callable[..., T], *args: Any, address: str | None = None, log_dir: str | Path | None = None) -> T:
    """fn(*args), where the models are: a task on the cluster when the job runs on one (its driver loads no
    weights), in this process otherwise (so bad input fails before a local Ray starts)."""
    if not on_cluster(address):
        return fn(*args)
    import ray

    init_ray(address, log_dir)
    try:
        return ray.get(ray.remote(num_cpus=0.1)(fn).remote(*args))
    except ray.exceptions.RayTaskError as e:  # the task's own error, one line as if it ran here
        raise (e.cause if isinstance(e.cause, Exception) else e) from None


def device_for(num_gpus: float) -> str:
    return "cuda" if num_gpus > 0 else "cpu"
