"""A real two-node Ray cluster on 127.0.0.1, started and stopped as a user would with `ray start`.

Every process of the cluster (GCS, raylets, dashboard, agents, workers, the jobs' drivers) inherits MARKER from
the `ray start` that launched it, so the cluster is found and stopped by process id, whatever else runs here
(`ray stop` would stop every Ray on the machine, the test session's own included).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ray_env import all_pids, processes_with_env, stat_field, stop_processes

MARKER = "L2L_TEST_CLUSTER"
RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    """A head (the job server, few CPUs) and one worker node, each with a custom resource naming it."""

    head_cpus: int = 2  # logical CPUs (a scheduling label, as a local Ray uses 4 on 2 cores): 7 actors at 0.5 and tasks fit
    worker_cpus: int = 3
    object_store_bytes: int = 256 * 2**20
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    temp: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="l2l-ray-", dir="/tmp"))  # sockets: short paths
    gcs_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    runtime_env: Path | None = None  # what jobs submitted to it use (L2L_RUNTIME_ENV)
    sessions: dict[str, int] = field(default_factory=dict)  # node -> the session id of its processes

    @property
    def gcs(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def job_server(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def env(self, node: str) -> dict[str, str]:
        path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"  # as with the environment activated: `python` is ours
        return {**os.environ, "PATH": path, MARKER: f"{self.tag}/{node}", "RAY_USAGE_STATS_ENABLED": "0"}

    def _start(self, *args: str, cpus: int, name: str, node: str) -> None:
        cmd = [RAY, "start", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}", "--num-gpus=0",
               f"--resources={json.dumps({name: 1})}", f"--object-store-memory={self.object_store_bytes}",
               f"--dashboard-agent-listen-port={free_port()}", f"--metrics-export-port={free_port()}",
               "--disable-usage-stats", *args]
        # its own session: every process of the node (agents included) keeps that session id, whoever its parent
        p = subprocess.Popen(cmd, env=self.env(node), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        self.sessions[node] = p.pid  # before any failure: stop() finds what a failed start left
        out, _ = p.communicate(timeout=180)
        if p.returncode != 0:
            raise RuntimeError(f"ray start ({name}) failed: {out[-3000:]}")

    def start(self) -> Cluster:
        """The head, then one worker node; a start that fails stops whatever it had started."""
        try:
            self._start_nodes()
        except Exception:
            self.stop()
            raise
        return self

    def _start_nodes(self) -> None:
        self._start("--head", f"--port={self.gcs_port}", f"--temp-dir={self.temp}", "--include-dashboard=true",
                    "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dashboard_port}",
                    f"--ray-client-server-port={free_port()}", cpus=self.head_cpus, name="head_node", node="head")
        self.add_worker("worker-1")

    def add_worker(self, node: str) -> None:
        """Join one more worker node (a replacement after a node was lost, as an autoscaler would)."""
        before = len(self.nodes())
        self._start(f"--address={self.gcs}", cpus=self.worker_cpus, name="worker_node", node=node)
        self.wait_for_nodes(before + 1)

    def nodes(self) -> list[dict]:
        import ray.util.state

        return [n.__dict__ for n in ray.util.state.list_nodes(address=self.job_server) if n.state == "ALIVE"]

    def wait_for_nodes(self, n: int, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if len(self.nodes()) >= n:
                    return
            except Exception:  # the dashboard is still starting
                pass
            time.sleep(1)
        raise RuntimeError(f"the cluster did not reach {n} nodes in {timeout} s")

    def pids(self, node: str | None = None) -> list[int]:
        """This cluster's processes (of one node: "head", "worker-1", ...): by session id (the agents' environment
        is overwritten by their process titles), and by the tag inherited from `ray start` (jobs' drivers start
        sessions of their own)."""
        sids = {str(self.sessions[node])} if node else {str(s) for s in self.sessions.values()}
        want = f"{self.tag}/{node}" if node else f"{self.tag}/"
        tagged = {pid for pid, tag in processes_with_env(MARKER).items() if tag == want or (node is None and tag.startswith(want))}
        return sorted(tagged | {pid for pid in all_pids() if stat_field(pid, 6) in sids})

    def remove_node(self, node: str) -> int:
        """A node lost: every process of it killed by pid at once (SIGKILL, no clean shutdown); returns how many."""
        pids = self.pids(node)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def stop(self) -> list[int]:
        """Stop every process of this cluster by pid; returns the pids still alive afterwards (none, normally)."""
        for _ in range(3):  # a worker forked while stopping carries the marker too
            stop_processes(self.pids())
        shutil.rmtree(self.temp, ignore_errors=True)
        return self.pids()
