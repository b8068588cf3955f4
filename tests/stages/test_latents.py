import numpy as np

from stages.latents import SampleLatents, seed_z


def test_seed_z_depends_only_on_the_seed():
    a = seed_z(np.array([5, 6, 7]), 100)
    b = seed_z(np.array([7, 5]), 100)
    np.testing.assert_array_equal(a[0], b[1])
    np.testing.assert_array_equal(a[2], b[0])
    assert not np.allclose(a[0], a[1])


def test_sample_latents_is_batch_size_independent():
    stage = SampleLatents(None, psi=0.7, latent_space="w")
    seeds = np.arange(20, 30)
    whole = stage({"seed": seeds})
    parts = [stage({"seed": seeds[i : i + 3]}) for i in range(0, 10, 3)]
    np.testing.assert_array_equal(whole["w"], np.concatenate([p["w"] for p in parts]))
    np.testing.assert_allclose(whole["w"], whole["z"] * 0.7, rtol=1e-6)  # DCGAN: w = psi * z


def test_wplus_broadcasts_to_num_ws():
    out = SampleLatents(None, psi=1.0, latent_space="wplus")({"seed": np.arange(2)})
    assert out["w"].shape == (2, 1, 100)
