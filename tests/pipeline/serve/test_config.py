"""`python -m pipeline serve` refuses bad settings in one line before loading any model."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from pipeline.serve.config import ServeConfig
from tests.pipeline.serve.conftest import REPO


def serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", "serve", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("kwargs", [{"port": 0}, {"max_upload_bytes": 10}, {"sweep_steps": 1}, {"sweep_strength": 2.0}])
def test_bad_settings(kwargs):
    with pytest.raises(ValueError):
        ServeConfig(**kwargs)


def test_missing_mapper_empty_runs_and_taken_port(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = str(taken.getsockname()[1])
        cases = {"is not a readable mapper export": serve("--mapper", str(tmp_path / "nope"), "--port", str(int(port) + 1)),
                 "no mapper export under": serve("--runs", str(tmp_path), "--port", str(int(port) + 1)),
                 "cannot listen on 127.0.0.1": serve("--runs", str(tmp_path), "--port", port)}
    for message, p in cases.items():
        assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
