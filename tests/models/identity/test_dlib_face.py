import numpy as np
import pytest
import torch

from models.generators.dcgan import load_dcgan
from models.generators.framing import DIGIFACE
from models.identity.dlib_face import DlibFaceEmbedder


def test_dlib_embeddings_tell_faces_apart():
    gen = load_dcgan()
    with torch.no_grad():
        x = gen.synthesis(torch.randn(6, 100, generator=torch.Generator().manual_seed(0)))
    emb = DlibFaceEmbedder(DIGIFACE)
    a, b = emb(x), emb(x)
    assert a.shape == (6, 128) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-6)
    cos = a @ a.T
    assert cos[~np.eye(6, dtype=bool)].mean() < 0.99 * cos.diagonal().mean()
    with pytest.raises(ValueError, match="image batch"):
        emb(torch.zeros(2, 64, 64))
