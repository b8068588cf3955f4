"""A real two-node Ray cluster started as jobs/README.md says, by running the README's own command block.

The block runs line by line in bash, as typed, with token authentication on: only its ports (free ones), /tmp/l2l (a
test directory) and HOME (a test directory: `~/.ray/auth_token` is the test's own) differ, and no RAY_* variable of
the test session reaches it. Every process of the cluster (GCS, raylets, dashboard, agents, workers, the jobs'
drivers) inherits MARKER from the line that launched it, so the cluster is found and stopped by process id in place
of the block's `ray stop` (which would stop every Ray on the machine, the test session's own included).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
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

from pipeline.ray_env import all_pids, processes_with_env, session_dirs, session_id, stop_processes

MARKER = "L2L_TEST_CLUSTER"
REPO = Path(__file__).resolve().parents[1]
README = REPO / "jobs" / "README.md"
PORT = re.compile(r"((?:port=|127\.0\.0\.1:))(\d{4,5})\b")  # every port the block names


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_block(heading: str = "## A cluster on one machine") -> list[str]:
    """The command lines of the first fenced block after `heading` in jobs/README.md, continuation lines joined."""
    text = README.read_text().split(heading, 1)[1].split("```", 2)[1]
    return [line for line in re.sub(r"\\\n\s*", " ", text).splitlines() if line.strip()]


@dataclass
class Cluster:
    """The README's cluster: a head (the job server) and one worker node, from the README's own lines."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cluster-", dir="/tmp")))
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    ports: dict[str, str] = field(default_factory=dict)  # the README's port -> this cluster's
    env: dict[str, str] = field(default_factory=dict)  # the shell's environment after the lines run so far
    sessions: dict[str, int] = field(default_factory=dict)  # node -> the session id of its processes
    node_env: dict[str, str] = field(default_factory=dict)  # the environment the README's worker line ran in
    lines: list[str] = field(default_factory=readme_block)

    def __post_init__(self) -> None:
        (self.root / "home").mkdir(exist_ok=True)
        path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"  # as with the environment activated
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_") and k != "PYTHONPATH"}
        self.env.update(PATH=path, HOME=str(self.root / "home"))

    @property
    def out(self) -> Path:
        """What the README's /tmp/l2l stands for here."""
        return self.root / "l2l"

    def as_here(self, line: str) -> str:
        """A README line with this cluster's ports and directories (a port already this cluster's stays)."""
        line = PORT.sub(lambda m: m[0] if m[2] in self.ports.values() else m[1] + self.ports.setdefault(m[2], str(free_port())), line)
        return re.sub(r"/tmp/l2l(?=/|\s|$)", str(self.out), line)

    def run(self, line: str, node: str = "client", timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """One README line in bash, in its own session, as typed (ports and directories as here); the environment it
        leaves (its exports) holds for the next lines. `env`: another shell's environment (another node's), kept apart."""
        envfile = self.root / "env"
        script = f"{self.as_here(line)}\nrc=$?; env -0 > {envfile}; exit $rc"
        p = subprocess.Popen(["bash", "-c", script], cwd=REPO, env={**(env or self.env), MARKER: f"{self.tag}/{node}"},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        if node != "client":
            self.sessions[node] = p.pid  # before any failure: stop() finds what a failed start left
        out, _ = p.communicate(timeout=timeout)
        if envfile.exists() and env is None:
            self.env = dict(kv.split("=", 1) for kv in envfile.read_text().split("\0") if "=" in kv)
            self.env.pop(MARKER, None)
        return subprocess.CompletedProcess(line, p.returncode, out)

    def popen(self, line: str) -> subprocess.Popen:
        """A command line (a README line, as here, or the test's own) in the environment the README's lines left,
        running: for a job submitted while the test acts on the cluster."""
        return subprocess.Popen(["bash", "-c", self.as_here(line)], cwd=REPO, env={**self.env, MARKER: f"{self.tag}/client"},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def line(self, prefix: str) -> str:
        found = [ln for ln in self.lines if ln.startswith(prefix)]
        assert len(found) == 1, f"jobs/README.md's cluster block has {len(found)} lines starting {prefix!r}"
        return found[0]

    def start(self) -> Cluster:
        """Every line up to the first `jobs/submit.sh`; a start that fails stops whatever it had started."""
        try:
            for ln in self.lines[:self.lines.index(self.line("jobs/submit.sh dataset"))]:
                node = "head" if "--head" in ln else "worker-1" if ln.startswith("ray start") else "client"
                self.node_env = dict(self.env) if node == "worker-1" else self.node_env
                done = self.run(ln, node, timeout=180)
                if done.returncode != 0:
                    raise RuntimeError(f"`{done.args}` failed: {done.stdout[-3000:]}")
            self.wait_for_nodes(2)
        except Exception:
            self.stop()
            raise
        return self

    def ray(self, *args: str) -> str:
        """`ray <args>` against this cluster, with the environment the README's lines left (its token included)."""
        p = subprocess.run(["ray", *args], cwd=REPO, env=self.env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
        return p.stdout

    def nodes(self) -> list[dict]:
        nodes = json.loads(self.ray("list", "nodes", "--format=json", "--detail", f"--address={self.env['RAY_ADDRESS']}"))
        return [n for n in nodes if n["state"] == "ALIVE"]

    def actors(self) -> list[dict]:
        return json.loads(self.ray("list", "actors", "--format=json", "--detail", "--limit=10000", f"--address={self.env['RAY_ADDRESS']}"))

    def wait_for_nodes(self, n: int, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired, json.JSONDecodeError):
                if len(self.nodes()) >= n:
                    return
            time.sleep(1)
        raise RuntimeError(f"the cluster did not reach {n} nodes in {timeout} s")

    def add_worker(self, node: str) -> None:
        """The README's worker line once more, in the environment it ran in (not the client's, which exports
        RAY_ADDRESS later), its agent on a port of its own: a replacement node, as an autoscaler would add one after
        a node was lost."""
        before = len(self.nodes())
        worker = self.line("ray start --address")
        fresh = re.sub(r"--dashboard-agent-listen-port=\d+", f"--dashboard-agent-listen-port={free_port()}", worker)
        done = self.run(fresh, node, timeout=180, env=self.node_env)
        assert done.returncode == 0, done.stdout[-3000:]
        self.wait_for_nodes(before + 1)

    def pids(self, node: str | None = None) -> list[int]:
        """This cluster's processes (of one node: "head", "worker-1", ...): by session id (the agents' environment
        is overwritten by their process titles), and by the tag inherited from its line (jobs' drivers start
        sessions of their own)."""
        sids = {self.sessions[node]} if node else set(self.sessions.values())
        want = f"{self.tag}/{node}" if node else f"{self.tag}/"
        tagged = {pid for pid, tag in processes_with_env(MARKER).items() if tag == want or (node is None and tag.startswith(want))}
        return sorted(tagged | {pid for pid in all_pids() if session_id(pid) in sids})

    def listening(self) -> list[tuple[str, int, int]]:
        """(local address, port, pid) of every TCP socket the cluster's processes listen on (`ss -ltnp`)."""
        mine = set(self.pids())
        found = []
        for row in subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines():
            local, users = row.split()[3], row.split(None, 5)[-1]
            host, _, port = local.rpartition(":")
            found += [(host.strip("[]"), int(port), int(pid)) for pid in re.findall(r"pid=(\d+)", users) if int(pid) in mine]
        return found

    def remove_node(self, node: str) -> int:
        """A node lost: every process of it killed by pid at once (SIGKILL, no clean shutdown); returns how many."""
        pids = self.pids(node)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def stop(self) -> list[int]:
        """Stop every process of this cluster by pid (the block's `ray stop`, for this cluster only); returns the
        pids still alive afterwards (none, normally). Its Ray session directories and test directory go too."""
        sessions = set().union(set(), *(session_dirs(p) for p in self.pids()))
        for _ in range(3):  # a worker forked while stopping carries the marker too
            stop_processes(self.pids())
        for d in [*sessions, self.root]:
            shutil.rmtree(d, ignore_errors=True)
        return self.pids()
