"""Real editor servers (`python -m pipeline serve`, a subprocess on 127.0.0.1): over the tiny smiling mapper trained
for the training tests, and over hand-made exports (no training: seconds to start) for the photo routes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
UPLOAD_LIMIT = 65536
PHOTO_LIMIT = 2_000_000  # the astronaut is 792 KB
# the path, not the quality (tests/models/inversion measure that): a few steps of each, the tuning's too
QUICK_PHOTOS = ["--photo.project.steps", "6", "--photo.project.pool", "32", "--photo.tune.steps", "3", "--photo.limits.max-bytes",
                str(PHOTO_LIMIT), "--refine.steps", "6"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, data: bytes | None = None, timeout: float = 60) -> tuple[int, dict | bytes]:
    """(status, parsed JSON or raw bytes) of a GET (or POST with `data`)."""
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, body, kind = r.status, r.read(), r.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        status, body, kind = e.code, e.read(), e.headers.get("content-type", "")
    return status, json.loads(body) if kind.startswith("application/json") else body


@contextlib.contextmanager
def serving(args: list[str], log: Path):
    """A `python -m pipeline serve` subprocess with `args` until the block ends: {"url", "pid", "mapper", "attrs", "log"}."""
    port = free_port()
    with open(log, "w") as f:
        p = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", *args, "--port", str(port)], cwd=REPO, stdout=f,
                             stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if p.poll() is not None:
                raise RuntimeError(f"the editor exited with {p.returncode}: {log.read_text()[-2000:]}")
            try:
                if call(url + "/api/mappers", timeout=2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        mapper = call(url + "/api/mappers")[1][0]
        yield {"url": url, "pid": p.pid, "mapper": mapper["id"], "attrs": mapper["attributes"], "log": log}
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.fixture(scope="session")
def server(smiling_mapper, tmp_path_factory):
    args = ["--runs", smiling_mapper["runs"], "--max-upload-bytes", str(UPLOAD_LIMIT), *QUICK_PHOTOS]
    with serving(args, tmp_path_factory.mktemp("serve") / "serve.log") as s:
        yield {**s, **smiling_mapper}


def hand_export(export: Path, critic: bool) -> Path:
    """A young+smiling mapper export of the embedded DCGAN made by hand, no training: an untrained mapper's last layer
    is zero (the identity), so it is drawn at random here and an edit moves the face. With `critic`, the export records
    the ported critic, so the refine control can take critic steps on it."""
    import torch

    from models.editors.mapper import Mapper, MapperConfig, save_mapper

    torch.manual_seed(0)
    mapper = Mapper(MapperConfig(latent_shape=(100,), attributes=("young", "smiling"), hidden=8))
    torch.nn.init.normal_(mapper.net[-1].weight, std=0.05)  # 0.05: smiling +0.3 moves the astronaut's render 0.09 -> 0.37
    doc = {"generator": None, "generator_id": "dcgan", "labelers": ["age-gender", "emotion"]}
    if critic:
        doc["critic"] = {"kind": "ported", "views": ["id", "flip"], "attributes": ["young", "smiling"]}
    return save_mapper(mapper, export, doc)


@pytest.fixture(scope="session")
def quick_server(tmp_path_factory):
    """Over two hand-made exports: `hand` (with the ported critic) and `plain` (without: no critic steps)."""
    root = tmp_path_factory.mktemp("serve-quick")
    hand_export(root / "runs/plain/export", critic=False)
    hand_export(root / "runs/hand/export", critic=True)
    with serving(["--runs", str(root / "runs"), "--mapper", str(root / "runs/hand/export"), *QUICK_PHOTOS], root / "serve.log") as s:
        yield {**s, "plain": "plain"}
