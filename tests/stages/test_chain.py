"""Chain: stage classes (given the device) and functions (given their keyword arguments), applied in order."""

import numpy as np

from stages.chain import Chain


class AddOne:
    def __init__(self, column: str, device: str) -> None:
        self.column, self.device = column, device

    def __call__(self, batch):
        return {**batch, self.column: batch[self.column] + 1}


def double(batch, column):
    return {**batch, column: batch[column] * 2}


def test_parts_run_in_order_and_classes_get_the_device():
    chain = Chain([(AddOne, {"column": "x"}), (double, {"column": "x"})], device="cuda:7")
    out = chain({"x": np.array([1, 2])})
    np.testing.assert_array_equal(out["x"], [4, 6])  # (x + 1) * 2, not x * 2 + 1
    assert chain.parts[0].device == "cuda:7"
