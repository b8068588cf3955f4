"""URI user-info and secret query parameters are removed from what is recorded and printed. That no file, object
or console line of a real dataset -> train -> edit -> eval chain holds them: tests/pipeline/test_stylegan2_e2e.py."""

from __future__ import annotations

import pytest

from pipeline.redact import redact, redact_doc


@pytest.mark.parametrize("text, want", [
    ("s3://AK:SE@bucket/ds?endpoint_override=h:9&scheme=http", "s3://bucket/ds?endpoint_override=h:9&scheme=http"),
    ("out s3://AK:SE@bucket/a and gs://tok@b/c", "out s3://bucket/a and gs://b/c"),
    ("s3://bucket/ds?region=eu&secret_key=SE&access_key=AK", "s3://bucket/ds?region=eu&secret_key=<redacted>&access_key=<redacted>"),
    ("data/default", "data/default"), ("young=+0.3", "young=+0.3"), ("https://example.org/x", "https://example.org/x"),
])
def test_redact(text, want):
    assert redact(text) == want
    assert redact_doc({"a": [text, 1, {"b": text}]}) == {"a": [want, 1, {"b": want}]}
