"""Credentials never land in outputs: user-info in a URI (s3://KEY:SECRET@bucket/...) and secret query
parameters are removed from every config, manifest, export, report, log line and console line a run writes.
Credentials belong in the standard places (AWS_* environment variables, ~/.aws, the Ray job's runtime env);
a URI with its user-info removed still opens there, so a recorded dataset path stays usable."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s\"'?#]+@")
_SECRET_PARAM = re.compile(r"([?&](?:access_key|secret_key|session_token|password|token|secret)=)[^&\s\"'#]*", re.IGNORECASE)


def redact(text: str) -> str:
    """'s3://AKIA:s3cret@bucket/ds?secret_key=x&region=eu' -> 's3://bucket/ds?secret_key=<redacted>&region=eu'."""
    if "://" not in text and "=" not in text:
        return text
    return _SECRET_PARAM.sub(r"\1<redacted>", _USERINFO.sub(r"\1", text))


def redact_doc(doc: Any) -> Any:
    """Every string in a JSON-able document, redacted."""
    if isinstance(doc, str):
        return redact(doc)
    if isinstance(doc, dict):
        return {k: redact_doc(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [redact_doc(v) for v in doc]
    return doc


class RedactingStream(io.TextIOBase):
    """A console stream whose every write is redacted (the CLI wraps stdout and stderr with it)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, s: str) -> int:
        self._stream.write(redact(s))
        return len(s)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    def __getattr__(self, name: str) -> Any:  # encoding, buffer, ... of the wrapped stream
        return getattr(self._stream, name)


@contextlib.contextmanager
def redacted_console() -> Iterator[None]:
    """stdout and stderr redacted for the duration (a command run by the CLI), then restored."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(saved[0]), RedactingStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
