"""Every file name a run writes, in one place; zero-padded so sorting by name sorts by order."""

from __future__ import annotations

CONFIG = "config.json"  # written first: the resolved config, git revision, package versions
LOG = "log.txt"  # append-only
MANIFEST = "manifest.json"  # written last: what makes a dataset exist
PARQUET_DIR, WDS_DIR, STATS_DIR = "parquet", "wds", "stats"


def shard_stem(index: int) -> str:
    return f"shard-{index:06d}"


def parquet_path(index: int) -> str:
    return f"{PARQUET_DIR}/{shard_stem(index)}.parquet"


def tar_path(index: int) -> str:
    return f"{WDS_DIR}/{shard_stem(index)}.tar"


def stats_path(index: int) -> str:
    """Per-shard commit marker: exists only once both data files of the shard are in place."""
    return f"{STATS_DIR}/{shard_stem(index)}.json"


def sample_key(seed: int) -> str:
    """WebDataset key of a row: no dots (they would split the key), zero-padded."""
    return f"{seed:012d}"
