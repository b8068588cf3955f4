"""`python -m pipeline edit` / `edit-one`: a trained mapper applied to many latents, or to one."""
