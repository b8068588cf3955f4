"""The skeleton the dataset and edit jobs share: an output that resumes from its shards' commit markers, a Ray
Data chain of actor pools that ends in the shard writer, progress per committed shard, the manifest last.

A layout (pipeline/shards.py ShardPlan, EditLayout) says which shards exist (`indices`), which
shard a row goes to, each row's key, how many rows make a shard whole and the shard's bounds.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import ray
from ray.data import ActorPoolStrategy, TaskPoolStrategy

from pipeline import names
from pipeline.config import StageResources
from pipeline.manifest import FORMATS, read_manifest
from pipeline.overwrite import owned_files
from pipeline.progress import Progress
from pipeline.ray_env import console_errors_held, device_for
from pipeline.shards import ShardTask, ShardWriter
from pipeline.storage import Store


def actor_stage(ds: ray.data.Dataset, cls: type, res: StageResources, **kwargs: Any) -> ray.data.Dataset:
    """`cls(**kwargs, device=...)` as a pool of `res.actors` actors with the stage's CPUs, GPUs and batch size."""
    return ds.map_batches(
        cls, fn_constructor_kwargs={**kwargs, "device": device_for(res.num_gpus)}, batch_size=res.batch_size,
        compute=ActorPoolStrategy(size=res.actors), num_cpus=res.num_cpus, num_gpus=res.num_gpus or None,
    )


def task_stage(ds: ray.data.Dataset, fn: Callable[..., dict], tasks: int, batch_size: int | None = None,
               num_cpus: float = 0.1, **kwargs: Any) -> ray.data.Dataset:
    """`fn(batch, **kwargs)` as plain tasks, at most `tasks` at once (the pool that feeds or follows it sets the
    pace). Left to Ray, every block in flight got a task and every task a new worker process (Python, Ray and the
    module's torch: ~0.4 GB and seconds of CPU each), so start-up time and memory grew with the rows."""
    return ds.map_batches(fn, fn_kwargs=kwargs or None, batch_size=batch_size, num_cpus=num_cpus, compute=task_pool(tasks))


def task_pool(tasks: int) -> TaskPoolStrategy:
    """At most `tasks` plain tasks at once (at least one): task_stage's rule, also for a filter."""
    return TaskPoolStrategy(size=max(1, tasks))


def write_shards(ds: ray.data.Dataset, uri: str, layout: Any, encode: Callable[..., dict[str, bytes]]) -> ray.data.Dataset:
    """The chain's last stage: one writer actor that commits each shard once it is whole; one row out per shard."""
    return ds.map_batches(ShardWriter, fn_constructor_args=(uri, layout, encode), batch_size=None,
                          compute=ActorPoolStrategy(size=1), num_cpus=0.1)


def shard_items(todo: list[int]) -> ray.data.Dataset:
    """One row {"index": i} per shard still to write, one block each, so that every actor of a pool gets shards."""
    return ray.data.from_items([{"index": i} for i in todo], override_num_blocks=max(1, len(todo)))


def shard_tasks(todo: list[int], res: StageResources, uri: str, layout: Any, encode: Callable[..., dict[str, bytes]],
                source: Any, stage: type, **kwargs: Any) -> ray.data.Dataset:
    """The whole chain as one actor call per shard (pipeline/shards.py ShardTask), `res.actors` actors each holding
    `stage(**kwargs)` (no more actors than shards): reading, the stage and writing spread over the pool, nothing
    through a writer actor."""
    args = dict(uri=uri, layout=layout, encode=encode, source=source, stage=stage, stage_kwargs=kwargs,
                batch_size=res.batch_size, device=device_for(res.num_gpus))
    # a second shard queued per actor hides the ~0.15 s between shards (1 M DCGAN latents: 7 gaps per actor), but only
    # where every actor gets two: else the first actor up queues a shard a second actor, up a moment later, could have
    # taken (1 024 rows: both 512-row shards ran one after the other on one actor)
    actors = min(res.actors, max(1, len(todo)))
    pool = ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=2 if len(todo) >= 2 * actors else 1)
    return shard_items(todo).map_batches(ShardTask, fn_constructor_kwargs=args, batch_size=1, compute=pool,
                                         num_cpus=res.num_cpus, num_gpus=res.num_gpus or None)


def earlier_output(store: Store, overwrite: bool, identity_hash: str, different: Callable[[dict], str], kind: str) -> dict[str, Any] | None:
    """What an earlier run left at this output: its manifest if it finished, None if nothing is there or it stopped
    early; a one-line error, `different(its config file)`, if it was made with another config. With `overwrite`,
    None once the folder is known to be an earlier `kind` output (else a one-line error): nothing is removed here,
    the job clears it (pipeline/overwrite.py clear_earlier) once its own inputs checked out."""
    if overwrite:
        owned_files(store, kind)
        return None
    if not store.exists(names.CONFIG):
        return None
    old = store.read_json(names.CONFIG)
    if old.get("config_hash") != identity_hash:
        raise ValueError(different(old))
    return read_manifest(store.uri, (FORMATS[kind],)) if store.exists(names.MANIFEST) else None


def committed(store: Store, layout: Any) -> dict[int, dict]:
    """Shards whose commit marker matches the layout (same bounds, all rows; a grown last shard is rewritten)
    and whose files exist."""
    done = {}
    for i in layout.indices():
        if store.exists(names.stats_path(i)):
            stats = store.read_json(names.stats_path(i))
            if (stats["seeds"] == list(layout.bounds(i)) and stats.get("units", stats["rows"]) == layout.expected(i)
                    and all(store.exists(f["path"]) for f in stats["files"].values())):
                done[i] = stats
    return done


@contextlib.contextmanager
def refused_rows(what: str) -> Iterator[None]:
    """A stage's ValueError (rows it refuses: NaN pixels, say) reaches the driver wrapped in Ray's task errors and
    their tracebacks: re-raised as its own one line. The shards committed before it stay; the failed one is not
    written."""
    ctx = ray.data.DataContext.get_current()
    ctx.raise_original_map_exception = True  # else Ray Data wraps it in a UserCodeException that loses it on the way
    try:
        with console_errors_held():
            yield
    except Exception as e:
        cause = stage_error(e)
        if cause is None:
            raise
        raise ValueError(f"the {what} job stopped: {str(cause).splitlines()[0]}") from None


def stage_error(e: BaseException) -> ValueError | None:
    """The first plain ValueError a stage raised, found through Ray's wrappers (.cause) and Python's chain."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ValueError) and not isinstance(e, ray.exceptions.RayError):
            return e
        e = getattr(e, "cause", None) or e.__cause__ or e.__context__
    return None


def run_to_end(build: Callable[[list[int]], ray.data.Dataset], layout: Any, done: dict[int, dict], what: str) -> int:
    """Build the chain for the shards not in `done` (none left: nothing is built, Ray is not started), pull it
    through with one progress line over rows and add each committed shard's stats to `done`; returns the rows
    written; a one-line error if a shard is still missing at the end."""
    todo, shards, written = [i for i in layout.indices() if i not in done], len(layout.indices()), 0
    if todo:
        with Progress(sum(layout.expected(i) for i in todo), what, "row") as bar, refused_rows(what):
            for batch in build(todo).iter_batches(batch_size=None, batch_format="numpy"):
                for s in batch["stats"]:
                    stats = json.loads(s)
                    done[stats["index"]] = stats
                    written += stats.get("units", stats["rows"])
                    bar.update(stats.get("units", stats["rows"]), shards=f"{len(done)}/{shards}")
    missing = [i for i in layout.indices() if i not in done]
    if missing:
        raise RuntimeError(f"{len(missing)} {what} shards were not written (first: {missing[0]}); re-run the same command to finish them")
    return written
