import pytest
import torch

from models.labelers.views import Views, parse_view, shift


def test_parse_and_apply():
    assert parse_view("id") == (False, 0, 0) and parse_view("flipdxy-2") == (True, -2, -2) and parse_view("dx+1") == (False, 0, 1)
    x = torch.randn(2, 3, 64, 64)
    v = Views(("id", "flip", "dx+1"))
    out = v.apply(x)
    assert out.shape == (6, 3, 64, 64)
    assert torch.equal(out[:2], x) and torch.equal(out[2:4], x.flip(3))
    assert torch.equal(out[4:, :, :, 1:], x[:, :, :, :-1]) and torch.equal(out[4:, :, :, 0], x[:, :, :, 0])  # border replicated
    assert torch.allclose(v.mean(torch.cat([torch.ones(2), 2 * torch.ones(2), 3 * torch.ones(2)])), torch.full((2,), 2.0))


def test_shifts_scale_with_resolution_and_keep_gradients():
    x = torch.randn(1, 3, 128, 128, requires_grad=True)
    out = Views(("dy+1",)).apply(x)
    assert torch.equal(out[0, :, 2:], x[0, :, :-2].detach())  # 1 px of a 64-px image is 2 px at 128
    out.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert torch.equal(shift(x, 0, 0), x)


@pytest.mark.parametrize("bad", ["", "mirror", "dz+1", "flip+1"])
def test_unknown_view_is_one_line(bad):
    with pytest.raises(ValueError, match="unknown view"):
        Views(("id", bad))
