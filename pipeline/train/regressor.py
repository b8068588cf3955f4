"""`python -m pipeline train-regressor`: distill black-box labels into the differentiable H (Ray Data + Ray Train).

Ray Data reads the WebDataset shards and computes the frozen trunk's features in an actor pool; Ray Train
(DDP) fits H's head on them; the held-out seeds give the per-attribute error that is reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import ray
import ray.train
import torch
import torch.nn.functional as F
from ray.train.torch import TorchTrainer

from models.labelers.regressor import AttributeRegressor, RegressorConfig, load_regressor, save_regressor
from pipeline.config import StageResources
from pipeline.manifest import read_manifest
from pipeline.ray_env import init_ray
from pipeline.storage import Store
from pipeline.train.config import RegressorTrainConfig
from stages.training import TrunkFeatures, holdout_split, wds_rows


def default_regressor_dir(dataset: str, manifest: dict[str, Any], runs: str = "runs") -> Path:
    return Path(runs) / f"regressor-{manifest['config_hash']}"


def regressor_loop(config: dict[str, Any]) -> None:
    cfg: RegressorTrainConfig = config["cfg"]
    torch.manual_seed(cfg.seed)
    device = ray.train.torch.get_device()
    model = AttributeRegressor(config["arch"]).to(device)
    head = ray.train.torch.prepare_model(model.head)  # only the head trains; DDP syncs its gradients
    opt = torch.optim.Adam(model.head.parameters(), lr=cfg.lr, weight_decay=1e-4)
    for epoch in range(cfg.epochs):
        total, n = 0.0, 0
        for batch in ray.train.get_dataset_shard("train").iter_torch_batches(batch_size=cfg.batch_size, drop_last=True, device=device):
            loss = F.mse_loss(head(batch["features"]), (batch["attrs"] - model.mean) / model.std)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, n = total + float(loss) * len(batch["attrs"]), n + len(batch["attrs"])
        metrics = {"epoch": epoch + 1, "train_mse_std": total / max(n, 1)}
        if ray.train.get_context().get_world_rank() == 0 and epoch == cfg.epochs - 1:
            metrics["held_out_mae"] = held_out_mae(model, ray.train.get_dataset_shard("val"), device)
            save_regressor(model.cpu(), config["out"], {"trained": metrics, **config["metadata"]})
        ray.train.report(metrics)


@torch.no_grad()
def held_out_mae(model: AttributeRegressor, val: Any, device: torch.device) -> dict[str, float]:
    model.eval()
    err, base, n = 0.0, 0.0, 0
    for batch in val.iter_torch_batches(batch_size=256, device=device):
        pred = model.from_features(batch["features"])
        err = err + (pred - batch["attrs"]).abs().sum(0)
        base = base + (model.mean - batch["attrs"]).abs().sum(0)
        n += len(pred)
    if n == 0:
        raise ValueError("no held-out rows to score the regressor on")
    names = model.cfg.attributes
    out = {a: float(err[i] / n) for i, a in enumerate(names)}
    out.update({f"{a}__predict_mean_baseline": float(base[i] / n) for i, a in enumerate(names)})
    return out


def run_train_regressor(cfg: RegressorTrainConfig) -> Path:
    manifest = read_manifest(cfg.dataset)
    if manifest["image_format"] == "none":
        raise ValueError(f"dataset {cfg.dataset} has no images (written with --image-format none): H trains on images")
    attrs = tuple(cfg.attributes or manifest["attributes"])
    missing = [a for a in attrs if a not in manifest["attributes"]]
    if missing:
        raise ValueError(f"attributes {missing} are not in dataset {cfg.dataset}")
    out = Path(cfg.out) if cfg.out else default_regressor_dir(cfg.dataset, manifest)
    init_ray(None, out)
    tars, fs = Store(cfg.dataset).readable([s["files"]["wds"]["path"] for s in manifest["shards"]])
    box = tuple(manifest["framing"]["box"])
    res = StageResources(batch_size=64)
    rows = (ray.data.read_webdataset(tars, filesystem=fs)
            .map_batches(wds_rows, fn_kwargs={"attributes": attrs, "image_ext": manifest["image_format"]}, batch_size=256, num_cpus=0.25)
            .map_batches(TrunkFeatures, fn_constructor_kwargs={"framing": box, "trunk_layers": 48}, batch_size=res.batch_size,
                         compute=ray.data.ActorPoolStrategy(size=cfg.feature_actors), num_cpus=res.num_cpus)
            .materialize())  # features are small: compute once, reuse for every epoch
    train = rows.map_batches(holdout_split, fn_kwargs={"every": cfg.holdout_every, "held_out": False}, batch_size=None, num_cpus=0.25)
    val = rows.map_batches(holdout_split, fn_kwargs={"every": cfg.holdout_every, "held_out": True}, batch_size=None, num_cpus=0.25)
    matrix = np.stack(list(train.select_columns(["attrs"]).to_pandas()["attrs"]))
    arch = RegressorConfig(attributes=attrs, mean=tuple(matrix.mean(0).tolist()), std=tuple(np.maximum(matrix.std(0), 1e-3).tolist()),
                           framing=box)
    meta = {"dataset": cfg.dataset, "dataset_config_hash": manifest["config_hash"], "generator_id": manifest["generator_id"],
            "labeler_ids": manifest["labeler_ids"], "config": cfg.__dict__ | {"attributes": list(attrs)}}
    TorchTrainer(
        regressor_loop, train_loop_config={"cfg": cfg, "arch": arch, "out": str(out.resolve()), "metadata": meta},
        datasets={"train": train, "val": val}, dataset_config=ray.train.DataConfig(datasets_to_split=["train"]),
        scaling_config=ray.train.ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                                               resources_per_worker={"CPU": cfg.cpus_per_worker}),
        run_config=ray.train.RunConfig(name="regressor", storage_path=str(out.resolve() / "ray")),
    ).fit()
    _, doc = load_regressor(out)
    mae = doc["trained"]["held_out_mae"]
    print("attribute regressor H, held-out MAE (predicting the mean instead): " +
          ", ".join(f"{a} {mae[a]:.3f} ({mae[a + '__predict_mean_baseline']:.3f})" for a in attrs))
    print(f"regressor exported to {out}")
    return out
