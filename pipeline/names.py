"""Every file name a run writes, in one place; zero-padded so sorting by name sorts by order."""

from __future__ import annotations

import re

CONFIG = "config.json"  # written first: the resolved config, git revision, package versions
LOG = "log.txt"  # append-only
MANIFEST = "manifest.json"  # written last: what makes a dataset exist
REPORT = "report.json"  # the photos job's figures against its targets, written after the manifest
RAY_LOG = "ray.log"  # Ray's own driver-side log lines, in the run directory (local outputs)
PARQUET_DIR, WDS_DIR, STATS_DIR = "parquet", "wds", "stats"
RUN_FILES = (CONFIG, LOG, MANIFEST, REPORT)  # what --overwrite may remove at the top of a run directory
SHARD_DIRS = (PARQUET_DIR, WDS_DIR, STATS_DIR)  # ... and below it, only files named as shard_stem names them
_SHARD_FILE = re.compile(r"shard-\d{6}\.(parquet|tar|json)(\.tmp-[0-9a-f]{8})?")
_TMP = re.compile(r"\.tmp-[0-9a-f]{8}$")  # Store.write_atomic's temp suffix: a file a killed run left half-written


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


def written_by_a_run(rel: str) -> bool:
    """Whether a path below a run directory is one this project writes there (or a temp name of one): the only
    files --overwrite removes, so a folder that also holds a user's files keeps them."""
    top, _, rest = rel.partition("/")
    if not rest:
        return _TMP.sub("", top) in RUN_FILES or top.startswith(".write-probe-")
    return top in SHARD_DIRS and "/" not in rest and bool(_SHARD_FILE.fullmatch(rest))
