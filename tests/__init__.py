"""Tests mirror the source tree; shared builders live beside them (tests/checkpoints.py)."""
