"""The attribute catalog, and every labeler and embedder on eight faces from the real packaged DCGAN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.attributes import CATALOG, EMOTIONS, LABELERS, Attribute, attribute, clip_to_range, young_from_age
from models.generators.dcgan import load_dcgan
from models.generators.framing import DIGIFACE
from models.identity.sface import SFaceEmbedder
from models.labelers.age_gender import AgeGenderLabeler
from models.labelers.emotion import EmotionLabeler


def test_catalog_lists_the_documented_attributes():
    assert list(CATALOG) == ["age", "young", "male", *EMOTIONS, "smiling"]
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert (CATALOG["age"].low, CATALOG["age"].high, CATALOG["age"].unit) == (0.0, 80.0, "years")
    for name, a in CATALOG.items():
        assert a.name == name and a.labeler in LABELERS and a.doc
        assert (a.low, a.high) == ((0.0, 80.0) if name == "age" else (0.0, 1.0))


def test_labelers_cover_the_catalog_exactly():
    produced = {"age-gender": AgeGenderLabeler.attributes, "emotion": EmotionLabeler.attributes}
    assert sorted(n for names in produced.values() for n in names) == sorted(CATALOG)
    for labeler, names in produced.items():
        assert all(CATALOG[n].labeler == labeler for n in names)


def test_young_is_a_linear_map_of_age():
    np.testing.assert_allclose(young_from_age(np.array([0, 10, 40, 64, 70, 80])), [1, 1, 0.5, 0.1, 0, 0], atol=1e-6)
    # +0.1 young == 6 years younger, inside the linear part
    assert young_from_age(np.array([34.0]))[0] - young_from_age(np.array([40.0]))[0] == pytest.approx(0.1, abs=1e-6)
    assert "6 years younger" in CATALOG["young"].doc


def test_unknown_attribute_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"unknown attribute 'beard' \(known: age, young, male, angry") as e:
        attribute("beard")
    assert "\n" not in str(e.value)
    assert attribute("smiling") is CATALOG["smiling"]


def test_clip_to_range():
    np.testing.assert_array_equal(clip_to_range("age", [-3.0, 20.0, 99.0]), np.array([0, 20, 80], np.float32))
    assert clip_to_range("happy", 1.5).dtype == np.float32 and float(clip_to_range("happy", 1.5)) == 1.0
    with pytest.raises(ValueError, match="unknown attribute"):
        clip_to_range("nope", [1.0])


def test_attribute_validates_its_fields():
    with pytest.raises(ValueError, match="low 1.0 must be below high 0.0"):
        Attribute("x", 1.0, 0.0, "score", "emotion", "d")
    with pytest.raises(ValueError, match="unknown labeler 'clip'"):
        Attribute("x", 0.0, 1.0, "score", "clip", "d")


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    """Eight faces from the real gan-face-generate DCGAN, in [-1, 1]."""
    with torch.no_grad():
        return load_dcgan()(torch.randn(8, 100, generator=torch.Generator().manual_seed(1)))


def test_real_labelers_give_plausible_labels_on_dcgan_faces(faces: torch.Tensor):
    labels = {**AgeGenderLabeler(DIGIFACE)(faces), **EmotionLabeler(DIGIFACE)(faces)}
    assert sorted(labels) == sorted(CATALOG)
    for name, values in labels.items():
        a = CATALOG[name]
        assert values.shape == (8,) and values.dtype == np.float32 and np.isfinite(values).all()
        assert (values >= a.low - 1e-6).all() and (values <= a.high + 1e-6).all(), name
    # DCGAN faces are adults of both sexes: neither a constant nor out of the 10..70 range on average
    assert 15 < labels["age"].mean() < 60 and labels["age"].std() > 1
    assert labels["male"].min() < 0.5 < labels["male"].max()
    np.testing.assert_allclose(sum(labels[e] for e in EMOTIONS), 1.0, atol=1e-5)
    np.testing.assert_array_equal(labels["smiling"], labels["happy"])
    np.testing.assert_allclose(labels["young"], young_from_age(labels["age"]))


def test_identity_of_an_image_with_itself_beats_other_seeds(faces: torch.Tensor):
    emb = SFaceEmbedder(DIGIFACE)
    a, b = emb(faces), emb(faces.clone())
    self_cos = (a * b).sum(1)
    cross = (a @ a.T)[~np.eye(8, dtype=bool)]
    assert self_cos.min() > 0.999
    assert cross.mean() < 0.5 and cross.max() < 0.9
