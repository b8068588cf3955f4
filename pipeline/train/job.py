"""`python -m pipeline train`: the Latent-To-Latent mapper on Ray Train (TorchTrainer, DDP), then its export."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import ray
import ray.train
import torch
from ray.train.torch import TorchTrainer

from models.attributes import attribute
from models.editors.mapper import Mapper, MapperConfig, save_mapper
from models.generators.interface import Generator
from models.labelers.regressor import load_regressor
from pipeline import names
from pipeline.config import to_jsonable
from pipeline.made_with import KEY
from pipeline.ray_env import init_ray
from pipeline.redact import redact_doc
from pipeline.runinfo import run_header
from pipeline.storage import Store
from pipeline.train.config import TrainConfig
from pipeline.train.losses import AttrSpace, l2l_losses, sample_delta
from pipeline.train.plan import TrainPlan, plan_training
from pipeline.train.report import RunLog, TrainProgress, Validation, put_progress
from stages.seeds import held_out
from stages.training import PriorLatents, dense_rows, holdout_split

STATE = "state.pt"  # inside a Ray Train checkpoint: mapper, optimizer, step


def mapper_config(plan: TrainPlan) -> MapperConfig:
    scale = tuple(attribute(a).high - attribute(a).low for a in plan.cfg.attributes)
    return MapperConfig(latent_shape=plan.latent_shape, attributes=plan.cfg.attributes, attr_scale=scale,
                        hidden=plan.cfg.hidden, depth=plan.cfg.depth)


def _restore(mapper: Mapper, opt: torch.optim.Optimizer) -> int:
    ckpt = ray.train.get_checkpoint()
    if ckpt is None:
        return 0
    with ckpt.as_directory() as d:
        state = torch.load(Path(d) / STATE, map_location="cpu", weights_only=True)
    mapper.load_state_dict(state["mapper"])
    opt.load_state_dict(state["optimizer"])
    return int(state["step"])


def _report(metrics: dict[str, float], mapper: Mapper, opt: torch.optim.Optimizer, step: int) -> None:
    """Every rank calls this at the same steps (it is a barrier); rank 0 attaches the checkpoint."""
    if ray.train.get_context().get_world_rank() != 0:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as d:
        torch.save({"mapper": mapper.state_dict(), "optimizer": opt.state_dict(), "step": step}, Path(d) / STATE)
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d), checkpoint_dir_name=f"step-{step:06d}")


def build_critic(config: dict[str, Any], plan: TrainPlan, device: torch.device | str, gen: Generator | None = None) -> Any:
    """The training critic on `device`; the image one on `gen` where the caller has the generator open already."""
    from models.editors.critics import ImageCritic, LatentCritic
    from models.open import open_generator

    h = build_h(config["h"])
    if plan.cfg.objective == "image":
        gen = gen if gen is not None else open_generator(plan.generator, str(device), noise_mode=plan.made.noise_mode)
        return ImageCritic(gen, h, device, embedder=plan.made.embedder)
    return LatentCritic(config["surrogate"], h.cfg.attributes, torch.tensor(h.cfg.mean), torch.tensor(h.cfg.std), device)


def latent_batches(plan: TrainPlan, gen: torch.Generator, device: torch.device) -> Iterator[torch.Tensor]:
    """Training latents, forever: fresh draws from the generator's prior, or passes over the dataset's rows."""
    cfg = plan.cfg
    if cfg.latents == "prior":
        prior = PriorLatents(plan.generator, plan.psi, plan.latent_shape)
        while True:
            yield prior(cfg.batch_size, gen).to(device)
    while True:
        for batch in ray.train.get_dataset_shard("train").iter_torch_batches(batch_size=cfg.batch_size, drop_last=True, device=device):
            yield batch["w"]


def train_loop(config: dict[str, Any]) -> None:
    """Runs on each Ray Train worker."""
    plan: TrainPlan = config["plan"]
    cfg, rank = plan.cfg, ray.train.get_context().get_world_rank()
    device = ray.train.torch.get_device()
    critic = build_critic(config, plan, device)
    space = AttrSpace.build(cfg.attributes, critic.attributes).to(device)
    torch.manual_seed(cfg.seed)  # the mapper's initial weights: a run is reproducible from its config
    mapper = Mapper(mapper_config(plan)).to(device)
    ddp = ray.train.torch.prepare_model(mapper)
    opt = torch.optim.Adam(mapper.parameters(), lr=cfg.lr)
    step = _restore(mapper, opt)
    gen = torch.Generator().manual_seed(cfg.seed * 7919 + rank * 104729 + step)  # resumed runs draw new samples
    log = RunLog(plan.run_dir, enabled=rank == 0, resumed_from=step)
    val = Validation(plan, config["val_w"], log) if rank == 0 else None
    sums: dict[str, float] = {}
    t0, seen = time.time(), 0
    for w in latent_batches(plan, gen, device):
        delta = sample_delta(len(w), space, cfg.delta, gen).to(device)
        parts = l2l_losses(ddp, critic, w, delta, space, cfg.losses, cfg.identity_rows)
        opt.zero_grad(set_to_none=True)
        parts["total"].backward()
        opt.step()
        step, seen = step + 1, seen + len(w)
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        rate, metrics = seen * cfg.num_workers / (time.time() - t0), None
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            metrics = {f"loss/{k}": v / cfg.checkpoint_every for k, v in sums.items()}
            metrics.update(step=step, samples_per_s=rate)
            if val is not None:
                metrics.update(val(mapper, step))
            log.metrics(metrics, step)
            _report(metrics, mapper, opt, step)
            sums, t0, seen = {}, time.time(), 0
        if rank == 0:
            put_progress(config.get("progress"), step, parts, rate, metrics)
        if step >= cfg.steps:
            break
    log.close()


def build_trainer(plan: TrainPlan, loop_config: dict[str, Any]) -> TorchTrainer:
    cfg = plan.cfg
    return TorchTrainer(
        train_loop, train_loop_config=loop_config, datasets={"train": training_rows(plan)} if cfg.latents == "dataset" else None,
        scaling_config=ray.train.ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                                               resources_per_worker={"CPU": cfg.cpus_per_worker, **({"GPU": 1} if cfg.use_gpu else {})}),
        run_config=ray.train.RunConfig(name="ray-train", storage_path=str(plan.run_dir),
                                       failure_config=ray.train.FailureConfig(max_failures=cfg.max_failures),
                                       checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2)),
    )


def training_rows(plan: TrainPlan) -> ray.data.Dataset:
    """--latents dataset: the training split's latents, streamed to the workers by Ray Data."""
    paths, fs = plan.readable()
    rows = ray.data.read_parquet(paths, filesystem=fs)
    train = rows.map_batches(holdout_split, fn_kwargs={"every": plan.cfg.holdout_every, "held_out": False}, batch_size=None, num_cpus=0.25)
    return train.map_batches(dense_rows, fn_kwargs={"attributes": plan.cfg.attributes, "latent_shape": plan.latent_shape},
                             batch_size=256, num_cpus=0.25)


def split_rows(plan: TrainPlan, attrs: tuple[str, ...], count: int | None, held_out: bool | None = True) -> dict[str, torch.Tensor]:
    """The first `count` (None: all) held-out rows by seed, as tensors: the same faces at every validation;
    `held_out=False`: the training rows instead; None: every row."""
    from pipeline.manifest import read_rows

    batch = read_rows(plan.cfg.dataset, ["w", "identity", *attrs], plan.cfg.holdout_every, held_out, count)
    return {k: torch.from_numpy(v) for k, v in dense_rows(batch, attrs, plan.latent_shape).items()}


def build_h(spec: tuple[str, Any]) -> torch.nn.Module:
    """H from its spec: ("ported", PortedConfig) or ("distilled", export dir)."""
    kind, value = spec
    if kind == "ported":
        from models.labelers.ported import PortedLabelers

        return PortedLabelers(value).eval().requires_grad_(False)
    return load_regressor(value)[0]


def h_spec(plan: TrainPlan) -> tuple[tuple[str, Any], dict[str, Any]]:
    """Which critic H to train through, and what the export records about it."""
    from models.labelers.ported import PortedConfig
    from pipeline.train.config import RegressorTrainConfig
    from pipeline.train.regressor import default_regressor_dir, run_train_regressor

    cfg = plan.cfg
    if cfg.critic == "ported":
        attrs = tuple(plan.manifest["attributes"])
        stats = label_stats(plan, attrs)
        pc = PortedConfig(attrs, tuple(stats.mean(0).tolist()), tuple(np.maximum(stats.std(0), 1e-3).tolist()),
                          tuple(plan.manifest["framing"]["box"]), cfg.critic_views)
        return ("ported", pc), {"kind": "ported", "labeler_ids": plan.manifest["labeler_ids"], "attributes": list(attrs),
                                "views": list(cfg.critic_views)}
    path = Path(cfg.critic) if cfg.critic != "distilled" else default_regressor_dir(cfg.dataset, plan.manifest)
    if cfg.critic == "distilled" and not (path / "regressor.json").exists():
        print(f"no attribute regressor for this dataset yet: training one into {path}")
        run_train_regressor(RegressorTrainConfig(dataset=cfg.dataset, out=str(path), holdout_every=cfg.holdout_every))
    _, doc = load_regressor(path)
    check_regressor_split(doc, cfg.holdout_every, path)
    return ("distilled", str(path.resolve())), {"kind": "distilled", "path": str(path), "attributes": doc["architecture"]["attributes"],
                                                "held_out_mae": doc.get("trained", {}).get("held_out_mae")}


def check_regressor_split(doc: dict[str, Any], every: int, path: Path) -> None:
    """A distilled H fitted on rows this run holds out would have seen the faces validation and eval judge on."""
    theirs = (doc.get("config") or {}).get("holdout_every")
    if theirs != every:
        raise ValueError(f"critic {path} was fitted with --holdout-every {theirs}, this run holds out seeds % {every} == 0: fit one with "
                         f"`python -m pipeline train-regressor --holdout-every {every} --out DIR` and pass --critic DIR")


def label_stats(plan: TrainPlan, attrs: tuple[str, ...]) -> np.ndarray:
    """(N, K) labels of the training rows, read straight from the Parquet shards (small columns)."""
    import pyarrow.parquet as pq

    paths, fs = plan.readable()
    tables = [pq.read_table(p, filesystem=fs, columns=["seed", *attrs]).to_pandas() for p in paths]
    rows = [t[~held_out(t.seed.to_numpy(), plan.cfg.holdout_every)] for t in tables]
    return np.concatenate([r[list(attrs)].to_numpy(np.float64) for r in rows])


def _check_same_run(plan: TrainPlan) -> None:
    """Resuming a run directory made with another config would continue someone else's model under this config's name:
    refused in one line, naming the fields that differ."""
    path = plan.run_dir / names.CONFIG
    if not path.exists():
        return
    recorded = json.loads(path.read_text()).get("config", {})
    differ = plan.cfg.differs_from(recorded)
    if differ:
        shown = ", ".join(f"{k} {recorded[k]!r} (now {to_jsonable(plan.cfg.identity())[k]!r})" for k in differ[:3])
        raise ValueError(f"--out {plan.run_dir} holds a training run of another config ({shown}{', ...' if len(differ) > 3 else ''}): "
                         "give another --out, or remove that run to start again")


def run_train(cfg: TrainConfig) -> Path:
    """Check the critic, train (or resume) and export; returns the export directory."""
    from pipeline.eval.judge import Judge

    plan = plan_training(cfg)
    Store(str(plan.run_dir)).check_writable()
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    _check_same_run(plan)
    if not (plan.run_dir / names.CONFIG).exists():
        (plan.run_dir / names.CONFIG).write_text(json.dumps(run_header("train", plan.cfg, dataset_manifest_sha256=plan.manifest_sha256), indent=2))
    spec, h_doc = h_spec(plan)
    h = build_h(spec)
    missing = [a for a in plan.cfg.attributes if a not in h.cfg.attributes]
    if missing:
        raise ValueError(f"critic {plan.cfg.critic} does not predict {missing}")
    loop_config: dict[str, Any] = {"plan": plan, "h": spec}
    if plan.cfg.objective == "latent":
        loop_config["surrogate"] = _surrogate(plan, h)
    judge = Judge(plan.made, dlib=False)
    h_doc["fidelity"] = check_critic(plan, build_critic(loop_config, plan, "cpu", judge.gen), judge)
    init_ray(None, plan.run_dir)  # only once the critic checked out
    loop_config["val_w"] = split_rows(plan, plan.cfg.attributes, plan.cfg.val_rows)["w"]
    print(f"training {plan.run_dir.name}: {plan.cfg.num_workers} workers, {plan.cfg.steps} steps x {plan.cfg.batch_size}, "
          f"objective {plan.cfg.objective}, critic {plan.cfg.critic}, latents from the {plan.cfg.latents}")
    with TrainProgress(plan.cfg.steps) as progress:
        loop_config["progress"] = progress.queue
        result = build_trainer(plan, loop_config).fit()
    with result.checkpoint.as_directory() as d:
        state = torch.load(Path(d) / STATE, map_location="cpu", weights_only=True)
    mapper = Mapper(mapper_config(plan))
    mapper.load_state_dict(state["mapper"])
    export = save_mapper(mapper, plan.run_dir / "export", export_metadata(plan, h_doc, int(state["step"])))
    print(f"mapper exported to {export} (step {state['step']})")
    check = edit_check(plan, mapper, loop_config["val_w"], judge)
    (plan.run_dir / "edit_check.json").write_text(json.dumps(check, indent=2))
    return export


def check_critic(plan: TrainPlan, critic: Any, judge: Any) -> dict[str, Any]:
    """The critic's held-out R2 per output next to the mirror ceiling, written to the run directory; a requested
    attribute below the floor stops here (one line) unless --allow-weak-critic."""
    from pipeline.train.critic_fidelity import (
        FILE,
        blind_critic,
        check_floor,
        critic_fidelity,
        fidelity_table,
    )

    rows = split_rows(plan, critic.attributes, plan.cfg.fidelity_rows)
    report = critic_fidelity(critic, judge, rows["w"], rows["attrs"], critic.attributes)
    report.update(critic=plan.cfg.critic, objective=plan.cfg.objective, floor=plan.cfg.critic_floor)
    report["weak"] = check_floor(report, plan.cfg.attributes, plan.cfg.critic_floor, allow=True)
    (plan.run_dir / FILE).write_text(json.dumps(report, indent=2))
    print(fidelity_table(report), end="")
    if report["weak"] and not plan.cfg.allow_weak_critic:  # refused after the report is on disk
        raise blind_critic(report, report["weak"], plan.cfg.critic_floor)
    return report


def edit_check(plan: TrainPlan, mapper: Mapper, w: torch.Tensor, judge: Any, strength: float = 0.3) -> list[dict]:
    """Held-out faces edited +-strength of each attribute's range, judged by the real labelers: printed and saved."""
    from pipeline.eval.judge import judge_strengths, summary_line

    results = []
    for name, _, r in judge_strengths(judge, judge.read(w), mapper, strength):
        r.pop("after")
        print(f"edit check ({r['rows']} held-out faces, real labelers over {len(judge.views.names)} views): {summary_line(name, r)}")
        results.append(r)
    return results


def _surrogate(plan: TrainPlan, h) -> Any:
    from pipeline.train.surrogate_fit import fit_surrogate

    attrs = h.cfg.attributes
    rows = split_rows(plan, attrs, None, held_out=None)  # the dataset read once, then split by the one rule
    train, held = (holdout_split(rows, plan.cfg.holdout_every, held_out) for held_out in (False, True))
    model, stats = fit_surrogate(train, held, h, seed=plan.cfg.seed)
    print(f"latent surrogates: held-out attribute MSE {stats['held_out_attr_mse_std']:.3f} (standardised), identity cos {stats['held_out_identity_cos']:.3f}")
    return model


def export_metadata(plan: TrainPlan, h_doc: dict[str, Any], step: int) -> dict[str, Any]:
    spec = {a: {"low": attribute(a).low, "high": attribute(a).high, "unit": attribute(a).unit} for a in plan.cfg.attributes}
    return redact_doc({"attributes": spec, "latent_space": plan.manifest["latent_space"], "latent_shape": list(plan.latent_shape),
            "generator_id": plan.manifest["generator_id"], "generator": plan.generator,
            KEY: plan.made.as_json(), "holdout_every": plan.cfg.holdout_every,  # what edit, eval and serve read (pipeline/made_with.py)
            "dataset_psi": plan.psi, "labelers": list(plan.made.labelers),
            "dataset": plan.cfg.dataset, "dataset_manifest_sha256": plan.manifest_sha256,
            "dataset_config_hash": plan.manifest["config_hash"], "objective": plan.cfg.objective,
            "losses": to_jsonable(plan.cfg.losses), "delta_sampling": to_jsonable(plan.cfg.delta),
            "critic": h_doc, "latents": plan.cfg.latents,
            "train_config": to_jsonable(plan.cfg), "steps": step, "created": time.strftime("%FT%TZ", time.gmtime())})
