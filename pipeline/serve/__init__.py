"""`python -m pipeline serve`: a local web editor on the same mapper exports and the same judge as the batch jobs.

config.py (ServeConfig) -> catalog.py (which exports, runs and dataset rows exist, decided server-side) ->
faces.py (a face from a seed, a dataset row or an uploaded latent) -> editor.py (models loaded once, the edit,
its readings) -> app.py (FastAPI routes, page.html).
"""
