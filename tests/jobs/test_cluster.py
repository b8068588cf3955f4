"""jobs/submit.sh against a real two-node Ray cluster: dataset -> train -> edit through `ray job submit
--working-dir .`, as a user submits to a remote cluster; work lands on both nodes; a worker node lost mid-edit;
the cluster is stopped by process id."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pipeline.edit.job import FORMAT as EDITS
from pipeline.manifest import read_manifest, verify_manifest
from tests.cluster import Cluster

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


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
    # the nodes run this environment, as a cluster image built from it would: the runtime env installs nothing
    # (with a virtualenv-based Ray a pip runtime env clones the whole environment, torch included, per node)
    c.runtime_env = REPO / "jobs" / "runtime_env.image.yaml"
    yield c
    assert not c.stop(), "processes of the test cluster survived its stop"


def _submit(cluster: Cluster, verb: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "RAY_ADDRESS": cluster.job_server, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "L2L_RUNTIME_ENV": str(cluster.runtime_env)}
    env.pop("PYTHONPATH", None)  # the job runs from the uploaded working dir, not from this checkout
    return subprocess.Popen([str(REPO / "jobs" / "submit.sh"), verb, *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def submit(cluster: Cluster, verb: str, *args: str) -> str:
    p = _submit(cluster, verb, *args)
    out, _ = p.communicate(timeout=420)
    assert p.returncode == 0 and "succeeded" in out, out[-4000:]
    return out


def actor_nodes(cluster: Cluster) -> dict[str, set[str]]:
    """{actor class: node ids} of every actor the cluster ran, from Ray's state API."""
    import ray.util.state

    nodes: dict[str, set[str]] = {}
    for a in ray.util.state.list_actors(address=cluster.job_server, limit=10_000, raise_on_missing_output=False):
        nodes.setdefault(a.class_name, set()).add(a.node_id)
    return nodes


@pytest.fixture(scope="module")
def chain(cluster, tmp_path_factory):
    """dataset then train, each a submitted job."""
    root = tmp_path_factory.mktemp("cluster")
    ds, run = root / "ds", root / "run"
    console = submit(cluster, "dataset", "--preset", "tiny", "--num-samples", "32", "--no-one-pool", "--render.actors", "2",
                     "--label.actors", "2", "--out", str(ds))
    stages = {k: v for k, v in actor_nodes(cluster).items() if k.startswith("MapWorker")}
    console += submit(cluster, "train", "--preset", "tiny", "--attributes", "smiling", "--dataset", str(ds), "--num-workers", "2",
                      "--allow-weak-critic", "--out", str(run))
    return {"root": root, "ds": ds, "run": run, "stages": stages, "console": console}


def test_submitted_dataset_and_train_jobs_run_on_both_nodes_and_write_verified_outputs(cluster, chain):
    head, worker = ({n["node_id"] for n in cluster.nodes() if name in n["resources_total"]} for name in ("head_node", "worker_node"))
    assert verify_manifest(str(chain["ds"])) == [] and read_manifest(str(chain["ds"]))["num_rows"] == 32
    assert chain["stages"] and set().union(*chain["stages"].values()) >= head | worker, chain["stages"]  # both nodes
    assert (chain["run"] / "export" / "mapper.json").is_file()  # the edit job on this export: the next test


def test_a_worker_node_lost_mid_edit(cluster, chain):
    """The worker node's processes all killed while the edit job runs, a replacement node joined (as an autoscaler
    would): the job finishes, or fails and finishes on re-submission; every (row, variant) is written once."""
    out = chain["root"] / "edits-node-lost"
    args = ["--mapper", str(chain["run"] / "export"), "--sweep", "smiling=-0.2:0.2:3", "--shard-size", "8", "--out", str(out)]
    job = _submit(cluster, "edit", *args)
    deadline = time.time() + 600
    while time.time() < deadline and job.poll() is None and not list((out / "stats").glob("*.json")):
        time.sleep(0.2)
    assert job.poll() is None, "the edit job ended before the node could be lost"
    assert cluster.remove_node("worker-1") > 0
    cluster.add_worker("worker-2")
    first, _ = job.communicate(timeout=420)
    if job.returncode != 0:  # a failed job says why and resumes from its committed shards
        print("the edit job failed after the node loss; re-submitted:", first.strip().splitlines()[-1])
        submit(cluster, "edit", *args)
    else:
        print("the edit job finished despite the node loss")
    m = read_manifest(str(out), (EDITS,))
    assert verify_manifest(str(out)) == [] and m["num_rows"] == 32 * 3, first[-3000:]
    rows = pd.read_parquet(out / "parquet", columns=["position", "variant"])
    assert not rows.duplicated().any() and len(rows) == 96
