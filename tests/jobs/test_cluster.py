"""jobs/submit.sh against a real two-node Ray cluster: dataset -> train -> edit through `ray job submit
--working-dir .`, as a user submits to a remote cluster; work lands on both nodes; the cluster is stopped by pid."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.manifest import read_manifest, verify_manifest
from tests.cluster import Cluster

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster():
    c = Cluster().start()
    yield c
    assert not c.stop(), "processes of the test cluster survived its stop"


def submit(cluster: Cluster, verb: str, *args: str) -> str:
    env = {**os.environ, "RAY_ADDRESS": cluster.job_server, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)  # the job runs from the uploaded working dir, not from this checkout
    p = subprocess.run([str(REPO / "jobs" / "submit.sh"), verb, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    out = p.stdout + p.stderr
    assert p.returncode == 0 and "succeeded" in out, out[-4000:]
    return out


def actor_nodes(cluster: Cluster) -> dict[str, set[str]]:
    """{actor class: node ids} of every actor the cluster ran, from Ray's state API."""
    import ray.util.state

    nodes: dict[str, set[str]] = {}
    for a in ray.util.state.list_actors(address=cluster.job_server, limit=10_000, raise_on_missing_output=False):
        nodes.setdefault(a.class_name, set()).add(a.node_id)
    return nodes


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_submit_dataset_train_edit_to_a_two_node_cluster(cluster, tmp_path):
    head, worker = ({n["node_id"] for n in cluster.nodes() if name in n["resources_total"]} for name in ("head_node", "worker_node"))
    ds, run, edits = tmp_path / "ds", tmp_path / "run", tmp_path / "edits"
    console = submit(cluster, "dataset", "--preset", "tiny", "--num-samples", "32", "--render-actors", "2",
                     "--label-actors", "2", "--out", str(ds))
    assert verify_manifest(str(ds)) == [] and read_manifest(str(ds))["num_rows"] == 32, console[-3000:]
    stages = {k: v for k, v in actor_nodes(cluster).items() if k.startswith("MapWorker")}
    assert stages and set().union(*stages.values()) >= head | worker, stages  # model stages ran on both nodes

    submit(cluster, "train", "--preset", "tiny", "--attrs", "smiling", "--dataset", str(ds), "--num-workers", "2",
           "--allow-weak-critic", "--out", str(run))
    assert (run / "export" / "mapper.json").is_file()

    submit(cluster, "edit", "--mapper", str(run / "export"), "--delta", "smiling=0.2", "--max-rows", "8", "--out", str(edits))
    manifest = read_manifest(str(edits))
    assert verify_manifest(str(edits)) == [] and manifest["num_rows"] == 8
