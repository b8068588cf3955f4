"""Starting or joining Ray, the same way for every job."""

from __future__ import annotations

import os

import ray


def init_ray(address: str | None) -> None:
    """Join `address` (or RAY_ADDRESS); otherwise start a local Ray. Reuses one already started."""
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
        return
    # CPUs are a scheduling label: more logical CPUs than cores avoids silent 2-core hangs (actor pools or train
    # workers taking every CPU and leaving none for the read tasks that feed them)
    ray.init(num_cpus=max(4, os.cpu_count() or 1), include_dashboard=False, log_to_driver=False)


def device_for(num_gpus: float) -> str:
    return "cuda" if num_gpus > 0 else "cpu"
