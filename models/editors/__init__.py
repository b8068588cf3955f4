"""The Latent-To-Latent mapper, the critics an edit is trained against, and the latent-space surrogates."""
