"""Shared fixtures: one real local Ray per test session (never mocked), tiny configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("RAY_DATA_LOG_LEVEL", "WARNING")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def ray_local():
    import ray

    ray.init(address="local", num_cpus=4, include_dashboard=False, object_store_memory=512 * 2**20,
             log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
