"""`python -m pipeline serve` refuses bad settings in one line before loading any model."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from pipeline.serve.config import PhotoEditorConfig, ServeConfig
from tests.cli import run_main
from tests.pipeline.serve.conftest import REPO, free_port


def serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", "serve", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("kwargs", [{"port": 0}, {"max_upload_bytes": 10}, {"sweep_steps": 1}, {"sweep_strength": 2.0}])
def test_bad_settings(kwargs):
    with pytest.raises(ValueError):
        ServeConfig(**kwargs)


@pytest.mark.parametrize("kwargs", [{"invert": "guess"}, {"quality": 0}, {"kept": 0}, {"preview": 10}])
def test_bad_photo_settings(kwargs):
    with pytest.raises(ValueError, match="--photo."):
        PhotoEditorConfig(**kwargs)


def test_photo_flags_reach_the_cli(capsys):
    rc, err = run_main(capsys, "serve", "--photo.project.steps", "0", "--photo.limits.max-bytes", "0", "--port", str(free_port()))
    assert rc == 2 and "photo limits must allow at least one byte" in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("args, message", [
    (["--mapper", "NOPE"], "is not a readable mapper export"),
    (["--runs", "EMPTY"], "no mapper export under"),
])
def test_missing_mapper_and_empty_runs(args, message, tmp_path, capsys):
    args = [str(tmp_path / "nope") if a == "NOPE" else str(tmp_path) if a == "EMPTY" else a for a in args]
    rc, err = run_main(capsys, "serve", *args, "--port", str(free_port()))
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_taken_port_is_one_line_from_a_real_process(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        p = serve("--runs", str(tmp_path), "--port", str(taken.getsockname()[1]))
    assert p.returncode == 2 and "cannot listen on 127.0.0.1" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
