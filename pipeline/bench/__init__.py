"""Micro-benchmarks of library pieces, called by `python -m pipeline bench`; each returns a JSON-able dict."""
