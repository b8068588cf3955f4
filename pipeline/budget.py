"""Whether a job's actor pools can ever start: checked before its chain runs, since pools that ask for more CPUs or
GPUs than Ray has wait forever without a word. A local Ray is checked against what it has; a cluster, which may grow,
is waited on while its autoscaler launches nodes and refused in one line when none are on the way."""

from __future__ import annotations

import time

import ray

from pipeline.config import StageResources
from pipeline.ray_env import on_cluster

TASK_CPUS = 0.45  # what a per-stage chain's plain tasks (read, encode) hold beside its pools


def check_cpu_budget(pools: list[StageResources], address: str | None, plain_tasks: bool) -> None:
    """Actor pools that ask for more CPUs or GPUs than Ray has wait forever, silently: say so up front. A chain of
    shard tasks (`plain_tasks` False) starts no plain tasks beside its pool, so nothing is held back for them. On a
    cluster, which may grow, its nodes are waited for while its autoscaler launches some (wait_for_cluster)."""
    if on_cluster(address):
        tasks = [(1, {"CPU": TASK_CPUS})] if plain_tasks else []
        wait_for_cluster([(r.actors, {"CPU": r.num_cpus, "GPU": r.num_gpus}) for r in pools] + tasks)
        return
    asked = sum(r.actors * r.num_cpus for r in pools) + (TASK_CPUS if plain_tasks else 0.0)
    gpus = sum(r.actors * r.num_gpus for r in pools)
    have = ray.cluster_resources()
    if gpus > have.get("GPU", 0.0):
        raise ValueError(f"the stages ask for {gpus:g} GPUs but this machine's Ray has {have.get('GPU', 0.0):g}: "
                         "drop the --<stage>.num-gpus flags or submit to a GPU cluster")
    if asked > have.get("CPU", 0.0):
        raise ValueError(f"the stages ask for {asked:g} CPUs but Ray has {have.get('CPU', 0.0):g}: lower --<stage>.actors or --<stage>.num-cpus")


AUTOSCALER_SETTLE_S = 12.0  # Ray's autoscaler acts every 5 s: two rounds and a margin to start launching nodes
Pools = list[tuple[int, dict[str, float]]]  # (actors or tasks, the resources each holds: {"CPU": .., "GPU": ..})


def asked_line(pools: Pools, short: dict[str, float], where: str) -> str:
    """"the stages ask for 8×0.5 + 1×0.45 = 4.45 CPUs but <where> 2": one clause per resource in `short`."""
    parts = []
    for key, have in short.items():
        terms = [f"{n}×{res[key]:g}" for n, res in pools if res.get(key, 0) > 0]
        parts.append(f"{' + '.join(terms)} = {sum(n * res.get(key, 0) for n, res in pools):g} {key}s but {where} {have:g}")
    return "the stages ask for " + "; ".join(parts)


def _shortfall(pools: Pools, have: dict[str, float]) -> dict[str, float]:
    """{resource: what `have` holds} for each resource the pools ask more of than that."""
    asked: dict[str, float] = {}
    for n, res in pools:
        for key, v in res.items():
            asked[key] = asked.get(key, 0.0) + n * v
    return {k: have.get(k, 0.0) for k, v in asked.items() if v > have.get(k, 0.0) + 1e-9}


def _nodes_on_the_way() -> bool:
    """Ray's autoscaler is launching nodes now (its status names pending launches or nodes); False where it says none."""
    import json

    try:
        from ray.autoscaler.v2.utils import is_autoscaler_v2

        if is_autoscaler_v2(fetch_from_server=True):
            from ray.autoscaler.v2.sdk import get_cluster_status

            status = get_cluster_status(ray.get_runtime_context().gcs_address)
            return bool(status.pending_launches or status.pending_nodes)
        from ray.experimental.internal_kv import _internal_kv_get

        raw = _internal_kv_get("__autoscaling_status")  # the v1 monitor's report (ray_constants.DEBUG_AUTOSCALING_STATUS)
        report = (json.loads(raw).get("autoscaler_report") or {}) if raw else {}
        return bool(report.get("pending_launches") or report.get("pending_nodes"))
    except Exception:  # a status this Ray does not give: no node is known to be on the way
        return False


def wait_for_cluster(pools: Pools, settle_s: float = AUTOSCALER_SETTLE_S) -> None:
    """Before a job on a cluster starts its pools: return once the cluster's nodes hold what they ask (at once when
    they do). Else its autoscaler is asked for them and waited on while it launches nodes; a one-line ValueError when
    Ray's record of the largest cluster is smaller, or `settle_s` pass with no node on the way (a fixed cluster:
    the pools would wait forever, silently)."""
    from ray.autoscaler.sdk import request_resources

    most = ray._private.state.state.get_max_resources_from_cluster_config()  # Ray Train checks it too; often None
    if most and (over := _shortfall(pools, most)):
        raise ValueError(f"{asked_line(pools, over, 'the cluster grows to at most')}: lower --<stage>.actors or --<stage>.num-*")
    if not _shortfall(pools, ray.cluster_resources()):
        return
    request_resources(bundles=[{k: v for k, v in res.items() if v > 0} for n, res in pools for _ in range(n) if any(res.values())])
    try:
        deadline, said = time.time() + settle_s, False
        while short := _shortfall(pools, ray.cluster_resources()):
            if _nodes_on_the_way():
                deadline = time.time() + settle_s
                if not said:
                    print(f"waiting for nodes: {asked_line(pools, short, 'the cluster has')} now", flush=True)
                    said = True
            elif time.time() > deadline:
                raise ValueError(f"{asked_line(pools, short, 'the cluster has')}, and no node is on the way: "
                                 "lower --<stage>.actors or --<stage>.num-cpus/--<stage>.num-gpus, or add nodes")
            time.sleep(1.0)
    finally:
        request_resources(bundles=[])  # the request ends with the wait: the pools' own demand holds the nodes
