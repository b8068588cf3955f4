"""models/labelers/ported.py: the labelers' torch ports averaged over views, or over the views one call asks for."""

import torch

from models.labelers.ported import PortedConfig, PortedLabelers
from models.labelers.views import Views


def test_a_call_can_ask_for_other_views_than_the_configured_ones():
    h = PortedLabelers(PortedConfig(("age", "male", "smiling"), (0.0,) * 3, (1.0,) * 3, (0.0, 0.0, 1.0, 1.0), ("id", "flip"))).eval()
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        both, plain = h(images), h(images, views=Views(("id",)))
        mirrored = h(images, views=Views(("flip",)))
        assert torch.allclose(mirrored, h(images.flip(3), views=Views(("id",))), atol=1e-5)
        assert torch.allclose(both, (plain + mirrored) / 2, atol=1e-5) and not torch.allclose(plain, mirrored, atol=1e-4)
