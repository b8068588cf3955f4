"""The web editor: slider-to-image latency (HTTP edit = mapper + render + PNG) against the bare mapper + render
call, the readings' latency, 50 concurrent edits, and the server's memory across 1,000 sequential edits."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from models.editors.mapper import load_mapper, request
from pipeline.eval.judge import Judge
from pipeline.made_with import export_trained


def bare_edit_ms(mapper_dir: str, n: int = 200) -> float:
    """Median ms of the work a slider move needs, called directly: one mapper pass and one render."""
    mapper, doc = load_mapper(mapper_dir)
    judge = Judge(export_trained(doc, f"mapper export {mapper_dir}").made, dlib=False)
    w = judge.gen.mapping(torch.randn(1, judge.gen.z_dim), 1.0)
    a = torch.full((1, len(mapper.cfg.attributes)), 0.5)
    times = []
    with torch.inference_mode():
        for i in range(n):
            t0 = time.perf_counter()
            judge.gen.synthesis(mapper(w, a, request(mapper, 1, {mapper.cfg.attributes[0]: (i % 20 - 10) / 100})))
            times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def _rss_mb(pid: int) -> float:
    """The server process's resident memory, MiB (psutil, as pipeline/bench/memory.py)."""
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=120) as r:
        return json.loads(r.read())


class Server:
    """`python -m pipeline serve` as a user starts it, on a free loopback port."""

    def __init__(self, mapper_dir: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--mapper", mapper_dir, "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(600):
            try:
                self.mapper = _get(self.url + "/api/mappers")[0]
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the editor exited with {self.proc.returncode}") from None
                time.sleep(0.2)
        raise RuntimeError("the editor did not start within 120 s")

    def edit_url(self, seed: int, value: float, kind: str = "edit") -> str:
        name = self.mapper["attributes"][0]["name"]
        return f"{self.url}/api/{kind}?" + urllib.parse.urlencode(
            {"mapper": self.mapper["id"], "source": f"seed:{seed}", "change": f"{name}={value:+.4f}"})

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(30)


def _timed(url: str) -> float:
    t0 = time.perf_counter()
    _get(url)
    return 1000 * (time.perf_counter() - t0)


def bench_serve(mapper_dir: str, edits: int = 1000, faces: int = 300) -> dict[str, Any]:
    bare = bare_edit_ms(mapper_dir)
    srv = Server(mapper_dir)
    try:
        _get(srv.edit_url(0, 0.0))  # the face is read once (labelers over views); slider moves reuse it
        slider = [_timed(srv.edit_url(0, (i % 40 - 20) / 100)) for i in range(200)]
        server_ms = [_get(srv.edit_url(0, (i % 40 - 20) / 100))["ms"] for i in range(50)]
        reading = [_timed(srv.edit_url(0, (i % 40 - 20) / 100, "read")) for i in range(20)]
        rss = {}
        for i in range(edits):  # new faces (cache eviction included) and slider moves, one after another
            _get(srv.edit_url(i % faces, (i % 40 - 20) / 100))
            if i + 1 in (100, 500, edits):
                rss[i + 1] = _rss_mb(srv.proc.pid)
        with ThreadPoolExecutor(50) as pool:
            t0 = time.perf_counter()
            answered = sum(1 for r in pool.map(lambda i: _get(srv.edit_url(i % 5, i / 100 - 0.25)), range(50)) if "image" in r)
            burst = time.perf_counter() - t0
    finally:
        srv.stop()
    med = float(np.median(slider))
    return {"bare_mapper_render_ms": round(bare, 3), "slider_to_image_http_ms_median": round(med, 2),
            "slider_to_image_http_ms_p90": round(float(np.percentile(slider, 90)), 2),
            "in_server_edit_ms_median": round(float(np.median(server_ms)), 2),
            "http_vs_bare_ratio": round(med / bare, 2), "readings_ms_median": round(float(np.median(reading)), 1),
            "concurrent_50_answered": answered, "concurrent_50_seconds": round(burst, 2),
            "rss_mb_after_edits": {str(k): round(v, 1) for k, v in rss.items()},
            "rss_ratio_last_vs_100": round(rss[edits] / rss[100], 3),
            "rss_ratio_last_vs_500": round(rss[edits] / rss[500], 3),  # the face cache (256) is full by then
            "faces_cycled": faces}
