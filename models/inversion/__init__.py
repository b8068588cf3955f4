"""A face image back into a generator: the reconstruction loss, latent optimisation (projection) and per-face
generator tuning (PTI-style)."""
