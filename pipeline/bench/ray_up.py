"""Ray as a job finds it on a cluster that has run a Ray Data job before: started, and Ray Data's own helper actors
up (its stats actor, autoscaling coordinator and actor-location tracker, each a process importing Ray Data, started
by a cluster's first Ray Data job and kept). Both are timed apart from the jobs the benchmarks time."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


class _Pass:
    """An actor-pool stage that does nothing: the smallest job that starts every helper an actor-pool job uses."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return batch


def start_ray(log_dir: str | Path) -> dict[str, float]:
    """A local Ray with Ray Data's helpers up; {"ray_start_s", "ray_data_start_s"}: the seconds each took."""
    import ray.data

    from pipeline.ray_env import init_ray

    t0 = time.perf_counter()
    init_ray(None, log_dir)
    t1 = time.perf_counter()
    ray.data.range(2, override_num_blocks=1).map_batches(_Pass, compute=ray.data.ActorPoolStrategy(size=1), num_cpus=0.1).materialize()
    return {"ray_start_s": t1 - t0, "ray_data_start_s": time.perf_counter() - t1}
