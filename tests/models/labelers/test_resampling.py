"""The two resampling distributions: the judge's (Pillow, JPEG) and the critic steps' EOT draws (torch)."""

import numpy as np
import pytest
import torch

from models.labelers.eot import Transform, eot_schedule, transform
from models.labelers.resampling import EotConfig, ResampleConfig, resample


def smooth(n: int = 3) -> np.ndarray:
    """Gradients a JPEG keeps within a few levels (random noise it would not)."""
    yy, xx = np.mgrid[0:64, 0:64]
    base = np.stack([xx * 3, yy * 3, xx + yy], -1)
    return np.stack([(base + 10 * i) % 256 for i in range(n)]).astype(np.uint8)


def test_a_face_gets_the_same_draws_whatever_else_is_in_the_batch():
    x = smooth(3)
    cfg = ResampleConfig(draws=2)
    whole, alone = resample(x, cfg), resample(x[:1], cfg)
    assert whole.shape == (6, 64, 64, 3) and whole.dtype == np.uint8
    assert np.array_equal(whole[0], alone[0]) and np.array_equal(whole[3], alone[1])  # draw-major: (draw k, face i) at k*N+i
    assert not np.array_equal(whole[0], resample(x[:1], ResampleConfig(draws=2, seed=1))[0])  # another seed, other draws


def test_zero_ranges_and_quality_100_leave_the_image_and_a_shift_moves_it_right():
    still = dict(scale=0.0, rotation=0.0, brightness=0.0, contrast=0.0, blur=0.0, jpeg=(100, 100), draws=1)
    x = smooth(1)
    assert np.abs(resample(x, ResampleConfig(**still, shift=0.0)).astype(int) - x).mean() < 1.0
    shifted = resample(x, ResampleConfig(**still, shift=4.0))[0].astype(int)
    errs = {dx: np.abs(shifted[8:56, 8:56] - x[0, 8:56, 8 - dx : 56 - dx]).mean() for dx in range(-4, 5)}
    assert min(errs.values()) < 4 and errs[0] > min(errs.values()) + 2  # it moved by its draw, not by nothing


@pytest.mark.parametrize("bad", [dict(draws=0), dict(scale=1.0), dict(rotation=-1.0), dict(jpeg=(90, 80))])
def test_bad_resampling_settings_are_refused(bad):
    with pytest.raises(ValueError):
        ResampleConfig(**bad)


def test_eot_draws_are_fixed_by_the_seed_new_each_step_and_off_at_zero():
    a, b = eot_schedule(EotConfig(per_step=4), 3), eot_schedule(EotConfig(per_step=4), 3)
    assert [d.transforms for d in a] == [d.transforms for d in b] and len(a[0].names) == 4
    assert len({d.transforms for d in a}) == 3 and eot_schedule(EotConfig(per_step=0), 3) is None
    assert a[0].transforms != eot_schedule(EotConfig(per_step=4, seed=7), 1)[0].transforms


def test_an_eot_draw_is_differentiable_and_the_identity_draw_leaves_the_image():
    img = torch.from_numpy(smooth(2)).permute(0, 3, 1, 2).float() / 127.5 - 1
    still = Transform(False, 1.0, 0.0, 0.0, 0.0, (1.0, 1.0, 1.0), 1.0, 0.0, 1.0, 0.0, 0)
    assert torch.allclose(transform(img, still), img, atol=1e-5)
    x = img.clone().requires_grad_(True)
    draw = eot_schedule(EotConfig(per_step=3), 1)[0]
    out = draw.apply(x)
    assert out.shape == (6, 3, 64, 64) and draw.mean(out.mean(dim=(1, 2, 3))).shape == (2,)
    out.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
