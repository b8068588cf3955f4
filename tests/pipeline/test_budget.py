"""The CPU and GPU budget of a job's pools (pipeline/budget.py), against a real local Ray taken as a cluster."""

from __future__ import annotations

import time

import pytest


def test_pools_a_cluster_cannot_hold_are_refused_in_one_line_once_no_node_is_on_the_way(ray_local):
    """The session's Ray (4 CPUs, no GPU, an autoscaler that launches nothing) as a cluster: pools that fit return at
    once; larger ones are refused after `settle_s`, in one line naming each pool's share, and the request the wait
    made of the autoscaler is withdrawn (a standing one would keep an autoscaling cluster's nodes up)."""
    import json

    from ray.experimental.internal_kv import _internal_kv_get

    from pipeline.budget import wait_for_cluster

    t0 = time.time()
    wait_for_cluster([(2, {"CPU": 0.5, "GPU": 0.0}), (1, {"CPU": 0.45})])
    assert time.time() - t0 < 2
    with pytest.raises(ValueError, match=r"^the stages ask for 8×0\.5 \+ 1×0\.45 = 4\.45 CPUs but the cluster has 4, "
                                         r"and no node is on the way: lower --<stage>\.actors"):
        wait_for_cluster([(8, {"CPU": 0.5, "GPU": 0.0}), (1, {"CPU": 0.45})], settle_s=2)
    assert 2 <= time.time() - t0 < 10
    with pytest.raises(ValueError, match=r"^the stages ask for 2×0\.25 = 0\.5 GPUs but the cluster has 0, and no node"):
        wait_for_cluster([(2, {"CPU": 0.5, "GPU": 0.25})], settle_s=1)
    assert json.loads(_internal_kv_get("autoscaler_resource_request")) == []  # the wait's request withdrawn


def test_a_job_on_a_cluster_checks_its_pools_against_the_cluster_not_the_local_rule(ray_local):
    """check_cpu_budget with an address: the cluster's rule (wait, then refuse) and its one line, not the local one."""
    from pipeline.budget import check_cpu_budget
    from pipeline.config import StageResources

    with pytest.raises(ValueError, match=r"= 4\.95 CPUs but the cluster has 4, and no node is on the way"):
        check_cpu_budget([StageResources(actors=9, num_cpus=0.5)], "ray://head:10001", plain_tasks=True)
