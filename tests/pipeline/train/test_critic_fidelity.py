import numpy as np
import pytest

from pipeline.train.critic_fidelity import check_floor, r2


def test_r2():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    assert r2(y, y) == 1.0 and r2(np.full(4, 1.5), y) == 0.0 and r2(-y, y) < 0


def _report(r2_young: float, ceiling: float) -> dict:
    return {"rows": 256, "attributes": {"young": {"r2": r2_young, "mirror_r2": ceiling}, "male": {"r2": 0.9, "mirror_r2": 0.6}}}


def test_floor_refuses_a_blind_critic_in_one_line():
    # the numbers the distilled H had for young on the default dataset, against its mirror ceiling
    with pytest.raises(ValueError, match="critic is blind to young") as e:
        check_floor(_report(0.05, 0.47), ("young", "male"), 0.5, allow=False)
    assert "\n" not in str(e.value) and "--allow-weak-critic" in str(e.value)
    assert check_floor(_report(0.05, 0.47), ("young",), 0.5, allow=True) == ["young (R2 0.05 vs mirror ceiling 0.47)"]


def test_floor_passes_a_critic_that_reads_the_attribute():
    assert check_floor(_report(0.80, 0.47), ("young", "male"), 0.5, allow=False) == []
    assert check_floor(_report(-0.1, -0.3), ("young",), 0.5, allow=True)  # R2 <= 0 is blind whatever the ceiling
