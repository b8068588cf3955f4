"""One real editor server (`python -m pipeline serve`, a subprocess on 127.0.0.1) over the tiny smiling mapper."""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def server(smiling_mapper, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "w") as f:
        p = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--runs", smiling_mapper["runs"], "--port", str(port),
                              "--max-upload-bytes", str(UPLOAD_LIMIT)], cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
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
        yield {"url": url, "pid": p.pid, "mapper": mapper["id"], "attrs": mapper["attributes"], "log": log, **smiling_mapper}
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
