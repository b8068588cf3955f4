"""Apply a trained mapper: one input row -> one output row per requested change (a variant)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from models.editors.mapper import load_mapper
from stages.finite import nonfinite_rows, refuse_nonfinite


class ApplyMapper:
    """Adds `variant`, `delta_<attr>` columns and replaces `w` by the edited latent.

    `variants` is a list of {attribute: change in attribute units}; an all-zero variant returns the
    input latent unchanged (no edit requested = no edit). Source attributes come in `src_<attr>` columns.
    """

    def __init__(self, mapper_dir: str, variants: list[dict[str, float]], device: str = "cpu", keep_source: bool = False) -> None:
        self.keep_source = keep_source  # also write the input latent as `w_src` (the refine stage starts from both)
        self.mapper, _ = load_mapper(mapper_dir)
        self.mapper.to(device)
        names = self.mapper.cfg.attributes
        self.deltas = torch.tensor([[v.get(a, 0.0) for a in names] for v in variants], dtype=torch.float32)
        self.any_still = bool((self.deltas == 0).all(dim=1).any())  # a variant asking for no change returns w bit-exact
        self.names, self.device = names, device

    @torch.inference_mode()
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        w = torch.from_numpy(np.require(batch["w"], np.float32, ["C", "W"])).to(self.device)  # store views are read-only
        bad = nonfinite_rows(w)
        if len(bad):
            raise ValueError(f"{len(bad)} latents contain NaN or Inf (ids {batch['id'][bad][:10].tolist()})")
        a = torch.from_numpy(np.stack([batch[f"src_{n}"] for n in self.names], axis=1).astype(np.float32)).to(self.device)
        v = len(self.deltas)
        out = {k: np.repeat(val, v, axis=0) for k, val in batch.items() if k != "w"}
        delta = self.deltas.to(self.device).repeat(len(w), 1)
        w_rep, a_rep = (w, a) if v == 1 else (w.repeat_interleave(v, dim=0), a.repeat_interleave(v, dim=0))
        edited = self.mapper(w_rep, a_rep, delta)
        if self.any_still:
            edited = torch.where((delta == 0).all(dim=1).view(-1, *([1] * (w.ndim - 1))), w_rep, edited)
        refuse_nonfinite("the mapper gave edited latents with", edited, out["id"])
        out["w"] = edited.cpu().numpy()
        if self.keep_source:
            out["w_src"] = w_rep.cpu().numpy()
        out["variant"] = np.tile(np.arange(v, dtype=np.int32), len(w))
        out.update({f"delta_{n}": delta[:, j].cpu().numpy() for j, n in enumerate(self.names)})
        return out


class RefineEdits:
    """Moves each edited latent `w` further toward its request with a refiner, (originals, edits, requests) ->
    latents, that `open_refiner(device)` opens once (pipeline/edit/refine.py Refiner: a few steps on the mapper's
    training critic). Rows that asked for no change keep their input exactly; `w_src` is dropped."""

    def __init__(self, open_refiner: Callable[[str], Any], device: str = "cpu") -> None:
        self.refiner = open_refiner(device)
        self.names, self.device = self.refiner.names, device

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:  # not inference_mode: steps need gradients
        t = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)  # noqa: E731
        w0, w1 = t(batch["w_src"]), t(batch["w"])
        delta = t(np.stack([batch[f"delta_{n}"] for n in self.names], axis=1))
        asked = (delta != 0).any(dim=1)
        out = {k: v for k, v in batch.items() if k != "w_src"}
        if bool(asked.any()):
            w1[asked] = self.refiner(w0[asked], w1[asked], delta[asked])
        refuse_nonfinite("the critic steps gave edited latents with", w1, batch["id"])
        out["w"] = w1.cpu().numpy()
        return out


def rename_labels(batch: dict[str, np.ndarray], attributes: tuple[str, ...]) -> dict[str, np.ndarray]:
    """After labeling originals: attribute columns become `src_<attr>`, identity `identity_src`; drop pixels."""
    out = {k: v for k, v in batch.items() if k not in ("image", "identity", *attributes)}
    out.update({f"src_{a}": batch[a] for a in attributes})
    if "identity" in batch:
        out["identity_src"] = batch["identity"]
    return out


def identity_cosine(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Cosine between the edit's identity embedding and the original's (both unit vectors)."""
    cos = np.sum(np.asarray(batch["identity"]) * np.asarray(batch["identity_src"]), axis=1).astype(np.float32)
    return {**batch, "identity_cos": cos}
