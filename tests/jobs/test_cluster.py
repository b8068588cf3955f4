"""jobs/README.md's cluster, as documented: its command block run as typed (tests/cluster.py), token authentication
on; dataset -> train -> edit through jobs/submit.sh as a user submits to a remote cluster; work lands on both nodes;
what the cluster listens on; pools larger than the cluster refused in one line; a stopped job's exit status; a
worker node lost mid-edit; the cluster stopped by process id."""

from __future__ import annotations

import re
import time

import pandas as pd
import pytest

from pipeline.edit.job import FORMAT as EDITS
from pipeline.manifest import read_manifest, verify_manifest
from tests.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
WILDCARD = {"*", "0.0.0.0", "::"}


def start_cluster() -> Cluster:
    """A started cluster; one more try on a fresh one if the first does not start (under load a node's raylet can
    miss the 30 s Ray allows it to register, "The current node timed out during startup")."""
    try:
        return Cluster().start()
    except RuntimeError as e:
        print(f"the test cluster did not start, starting another: {str(e).splitlines()[-1]}")
        return Cluster().start()


@pytest.fixture(scope="module")
def cluster():
    c = start_cluster()
    yield c
    assert not c.stop(), "processes of the test cluster survived its stop"


def submit(cluster: Cluster, line: str) -> str:
    p = cluster.popen(line)
    out, _ = p.communicate(timeout=420)
    assert p.returncode == 0 and "succeeded" in out, out[-4000:]
    return out


def actor_nodes(cluster: Cluster) -> dict[str, set[str]]:
    """{actor class: node ids} of every actor the cluster ran, from Ray's state API (`ray list actors`)."""
    nodes: dict[str, set[str]] = {}
    for a in cluster.actors():
        nodes.setdefault(a["class_name"], set()).add(a["node_id"])
    return nodes


def test_the_cluster_runs_with_token_authentication_and_refuses_a_client_without_the_token(cluster):
    assert cluster.lines[0].startswith("export RAY_AUTH_MODE=token") and cluster.lines[-1] == "ray stop"  # stop(): by pid
    assert (cluster.root / "home" / ".ray" / "auth_token").is_file()  # the README's token, in the test's HOME
    for env in ({"RAY_AUTH_MODE": "disabled"}, {"RAY_AUTH_TOKEN": "not-the-token"}):
        refused = cluster.popen(f"{' '.join(f'{k}={v}' for k, v in env.items())} ray job list")
        out, _ = refused.communicate(timeout=120)
        assert refused.returncode != 0 and "Authentication" in out, (env, out[-2000:])
    assert "[" in cluster.ray("job", "list")  # with the README's environment: the token is sent and accepted


def test_the_job_server_listens_on_loopback_only_the_rest_on_every_interface_as_the_readme_says(cluster):
    sockets = cluster.listening()
    job_server, gcs = int(cluster.ports["8265"]), int(cluster.ports["6390"])
    assert {host for host, port, _ in sockets if port == job_server} == {"127.0.0.1"}, sockets
    assert {host for host, port, _ in sockets if port == gcs} <= WILDCARD, sockets  # not loopback: README says so
    print(f"{len(sockets)} listening sockets, {sum(h in WILDCARD for h, _, _ in sockets)} on every interface")


@pytest.fixture(scope="module")
def chain(cluster):
    """The README's dataset, train and edit lines, each a submitted job."""
    console = submit(cluster, cluster.line("jobs/submit.sh dataset"))
    stages = {k: v for k, v in actor_nodes(cluster).items() if k.startswith("MapWorker")}
    console += submit(cluster, cluster.line("jobs/submit.sh train"))
    console += submit(cluster, cluster.line("jobs/submit.sh edit"))
    out = cluster.out
    return {"ds": out / "ds", "run": out / "run", "edits": out / "edits", "stages": stages, "console": console}


def test_the_readme_jobs_run_on_both_nodes_and_write_verified_outputs(cluster, chain):
    head = {n["node_id"] for n in cluster.nodes() if n["is_head_node"]}
    worker = {n["node_id"] for n in cluster.nodes() if not n["is_head_node"]}
    assert len(head) == 1 and len(worker) == 1
    assert verify_manifest(str(chain["ds"])) == [] and read_manifest(str(chain["ds"]))["num_rows"] == 32
    assert chain["stages"] and set().union(*chain["stages"].values()) >= head | worker, chain["stages"]  # both nodes
    assert (chain["run"] / "export" / "mapper.json").is_file()
    assert verify_manifest(str(chain["edits"])) == [] and read_manifest(str(chain["edits"]), (EDITS,))["num_rows"] > 0


def test_pools_larger_than_the_cluster_are_refused_within_seconds_in_one_line(cluster):
    """8 render actors at 0.5 CPU in each of two pools on the 2 + 3 CPU cluster: no autoscaler launches nodes, so
    the job fails before any actor starts, and submit.sh says FAILED with exit status 1."""
    t0 = time.time()
    job = cluster.popen("jobs/submit.sh dataset --preset tiny --num-samples 32 --no-one-pool --render.actors 8 --out /tmp/l2l/too-big")
    out, _ = job.communicate(timeout=300)
    took = time.time() - t0
    said = [ln for ln in out.splitlines() if "the stages ask for" in ln]
    assert job.returncode == 1 and "FAILED" in out and "Traceback" not in out, out[-3000:]  # one line, no trace
    want = "8×0.5 + 8×0.5 + 1×0.5 + 1×0.5 + 1×0.45 = 9.45 CPUs but the cluster has 5, and no node is on the way"
    assert said and all(want in ln for ln in said), out[-3000:]  # the log's line (Ray's status message repeats it)
    assert not (cluster.out / "too-big" / "stats").exists()  # no shard was started
    print(f"refused {took:.0f} s after submission: {said[0]}")
    assert took < 120


def test_a_stopped_job_makes_submit_sh_exit_non_zero(cluster):
    job = cluster.popen("jobs/submit.sh dataset --preset tiny --num-samples 4096 --out /tmp/l2l/stopped")
    head = ""
    while not (found := re.search(r"Job '(l2l-dataset-[^']+)' submitted successfully", head)):
        assert (line := job.stdout.readline()), head[-3000:]
        head += line
    deadline = time.time() + 300
    while "RUNNING" not in cluster.ray("job", "status", "--log-color=false", found[1]) and time.time() < deadline:
        time.sleep(1)
    cluster.ray("job", "stop", found[1])
    rest, _ = job.communicate(timeout=300)
    assert job.returncode == 2 and f"job {found[1]} STOPPED" in rest, (head + rest)[-3000:]


def test_a_worker_node_lost_mid_edit(cluster, chain):
    """The worker node's processes all killed while the edit job runs, a replacement node joined (as an autoscaler
    would): the job finishes, or fails and finishes on re-submission; every (row, variant) is written once."""
    out = cluster.out / "edits-node-lost"
    line = f"jobs/submit.sh edit --mapper {chain['run'] / 'export'} --sweep smiling=-0.2:0.2:3 --shard-size 8 --out {out}"
    job = cluster.popen(line)
    deadline = time.time() + 600
    while time.time() < deadline and job.poll() is None and not list((out / "stats").glob("*.json")):
        time.sleep(0.2)
    assert job.poll() is None, f"the edit job ended before the node could be lost: {job.communicate()[0][-3000:]}"
    assert cluster.remove_node("worker-1") > 0
    cluster.add_worker("worker-2")
    first, _ = job.communicate(timeout=420)
    if job.returncode != 0:  # a failed job says why and resumes from its committed shards
        print("the edit job failed after the node loss; re-submitted:", first.strip().splitlines()[-1])
        submit(cluster, line)
    else:
        print("the edit job finished despite the node loss")
    m = read_manifest(str(out), (EDITS,))
    assert verify_manifest(str(out)) == [] and m["num_rows"] == 32 * 3, first[-3000:]
    rows = pd.read_parquet(out / "parquet", columns=["position", "variant"])
    assert not rows.duplicated().any() and len(rows) == 96
