"""The space a face is projected into follows the mapper: auto picks it, a --project.space that cannot feed it is refused."""

import pytest

from models.open import open_generator
from stages.invert import edit_space


def test_the_space_follows_the_mapper(tmp_path):
    from tests.checkpoints import write_tiny_rosinality

    dcgan = open_generator(None)
    assert edit_space(dcgan, (100,)) == "z" and edit_space(dcgan, None, "w") == "w"
    with pytest.raises(ValueError, match="--project.space wplus does not fit this mapper"):
        edit_space(dcgan, (100,), "wplus")
    sg2 = open_generator(str(write_tiny_rosinality(tmp_path / "g.pt", resolution=8)))
    assert edit_space(sg2, (sg2.num_ws, sg2.w_dim)) == "wplus" and edit_space(sg2, (sg2.w_dim,)) == "w"
    with pytest.raises(ValueError, match="it takes wplus"):
        edit_space(sg2, (sg2.num_ws, sg2.w_dim), "w")
