import numpy as np
import pytest
import torch

from models.editors.mapper import Mapper, MapperConfig, save_mapper
from stages.edit import ApplyMapper, RefineEdits


class ShiftBy:
    """A refiner with a known answer: each edit moves by its request's sum (the real one is pipeline/edit/refine.py)."""

    names = ("young", "smiling")

    def __init__(self, device: str) -> None:
        self.calls: list[tuple[torch.Tensor, ...]] = []

    def __call__(self, w0: torch.Tensor, w1: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        self.calls.append((w0, w1, delta))
        return w1 + delta.sum(1, keepdim=True)


def test_refine_sends_only_the_rows_that_asked_for_a_change_and_drops_the_originals():
    w_src = np.arange(8, dtype=np.float32).reshape(4, 2)
    batch = {"id": np.arange(4), "w_src": w_src, "w": w_src + 0.5,
             "delta_young": np.array([0.0, 0.1, 0.0, -0.2], np.float32), "delta_smiling": np.array([0.0, 0.0, 0.0, 0.3], np.float32)}
    stage = RefineEdits(ShiftBy)
    out = stage(dict(batch))
    assert "w_src" not in out and out["id"].tolist() == [0, 1, 2, 3]
    (w0, w1, delta), = stage.refiner.calls
    assert torch.equal(w0, torch.from_numpy(w_src[[1, 3]])) and torch.allclose(delta, torch.tensor([[0.1, 0.0], [-0.2, 0.3]]))
    np.testing.assert_allclose(out["w"], [[0.5, 1.5], [2.6, 3.6], [4.5, 5.5], [6.6, 7.6]], rtol=1e-6)


def test_apply_mapper_refuses_nonfinite_latents_by_id_and_passes_huge_finite_ones(tmp_path):
    """The check is one sum per batch, exact only where the sum is not finite: huge finite latents whose sum overflows
    pass, a NaN or an Inf is named by its row's id."""
    torch.manual_seed(0)
    export = save_mapper(Mapper(MapperConfig(latent_shape=(64,), attributes=("young",))), tmp_path / "m", {"generator_id": "g"})
    stage = ApplyMapper(str(export), variants=[{"young": 0.1}])
    w = np.full((5, 64), 1e37, np.float32)  # finite, but the batch's sum is inf (and so is its edits')
    batch = {"id": np.arange(10, 15), "w": w, "src_young": np.zeros(5, np.float32)}
    assert stage(dict(batch))["id"].tolist() == list(range(10, 15))
    with pytest.raises(ValueError, match=r"the mapper gave edited latents with NaN or Inf for 5 rows \(ids \[10, 11, 12, 13, 14\]\)"):
        stage({**batch, "w": np.full((5, 64), 3e38, np.float32)})  # finite latents whose edits overflow: not written
    w = w.copy()
    w[1, 2], w[3, 0] = np.nan, -np.inf
    with pytest.raises(ValueError, match=r"2 latents contain NaN or Inf \(ids \[11, 13\]\)"):
        stage({**batch, "w": w})
