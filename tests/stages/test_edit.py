import numpy as np
import torch

from stages.edit import RefineEdits


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
