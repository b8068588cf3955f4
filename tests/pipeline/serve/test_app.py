"""The editor's HTTP surface against a real server: an edit that moves the attribute, readings, downloads that
reproduce in the batch job, bad uploads answered on the page while the server keeps serving, 50 concurrent edits."""

from __future__ import annotations

import base64
import io
import shlex
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.cli import run_main
from tests.pipeline.serve.conftest import UPLOAD_LIMIT, call

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
SEED = 7


def q(server, source: str = f"seed:{SEED}", **changes: float) -> str:
    return urllib.parse.urlencode({"mapper": server["mapper"], "source": source,
                                   "change": [f"{k}={v:+.4f}" for k, v in changes.items()]}, doseq=True)


def pixels(data_url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def test_lists_the_export_with_units_and_binds_loopback(server):
    status, mappers = call(server["url"] + "/api/mappers")
    assert status == 200 and [a["name"] for a in mappers[0]["attributes"]] == ["smiling"]
    assert mappers[0]["attributes"][0]["unit"] == "probability"
    status, page = call(server["url"] + "/")
    assert status == 200 and b"slider" in page
    assert "127.0.0.1" in server["url"]


def test_an_edit_moves_smiling_and_keeps_the_face(server):
    url = server["url"]
    status, face = call(f"{url}/api/face?{q(server)}")
    assert status == 200 and 0 <= face["readings"]["smiling"] <= 1
    same = call(f"{url}/api/edit?{q(server)}")[1]
    assert np.array_equal(pixels(same["image"]), pixels(face["image"])) and same["latent_dist"] == 0  # no change = the face
    ups, downs = [], []
    for seed in range(8):  # most faces move the requested way; the mean over faces clearly does
        src = f"seed:{seed}"
        up = call(f"{url}/api/read?{q(server, src, smiling=+0.5)}")[1]
        down = call(f"{url}/api/read?{q(server, src, smiling=-0.5)}")[1]
        ups.append(up["after"]["smiling"] - up["before"]["smiling"])
        downs.append(down["after"]["smiling"] - down["before"]["smiling"])
        assert 0.5 < up["identity_cos"] < 1 and up["latent_dist"] > 0
    assert np.mean(ups) > 0.05 and np.mean(downs) < -0.02, (ups, downs)
    edited = call(f"{url}/api/edit?{q(server, smiling=+0.5)}")[1]
    assert not np.array_equal(pixels(edited["image"]), pixels(face["image"])) and "pipeline edit" in edited["command"]


@pytest.mark.parametrize("refine", [0, 2])
def test_downloads_reproduce_in_the_batch_job(server, refine, tmp_path, monkeypatch, capsys):
    """The page's command, run as printed (through the CLI's entry point, in the directory of the downloaded
    Parquet), gives the downloaded edited latent: the mapper's one pass, and with the refine control its critic steps."""
    url, query = server["url"], q(server, smiling=+0.3) + (f"&refine={refine}" if refine else "")
    edited = call(f"{url}/api/edit?{query}")[1]
    assert ("--refine.steps 2" in edited["command"]) == bool(refine)
    npy = np.load(io.BytesIO(call(f"{url}/api/download/edit.npy?{query}")[1]), allow_pickle=False)
    png = Image.open(io.BytesIO(call(f"{url}/api/download/edit.png?{query}")[1]))
    assert np.array_equal(np.asarray(png), pixels(edited["image"]))
    (tmp_path / f"face-seed-{SEED}.parquet").write_bytes(call(f"{url}/api/download/original.parquet?{q(server)}")[1])
    cmd = shlex.split(edited["command"])
    assert cmd[:4] == ["python", "-m", "pipeline", "edit"]
    monkeypatch.chdir(tmp_path)
    rc, err = run_main(capsys, *cmd[3:])
    assert rc == 0, err[-2000:]
    out = pd.read_parquet(tmp_path / f"data/edits/face-seed-{SEED}" / "parquet")
    assert np.allclose(np.asarray(out.w[0], np.float32).reshape(npy.shape), npy, atol=1e-6)
    if refine:  # the steps moved the latent: the batch job did take them
        unrefined = np.load(io.BytesIO(call(f"{url}/api/download/edit.npy?{q(server, smiling=+0.3)}")[1]), allow_pickle=False)
        assert not np.allclose(unrefined, npy, atol=1e-3)


def bad_npy() -> dict[str, bytes]:
    def save(arr, pickle=False):
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=pickle)
        return buf.getvalue()

    return {"has shape (3, 7)": save(np.zeros((3, 7))), "NaN": save(np.full(100, np.nan)), "pickle": save(np.array([object()]), True),
            "empty": b"", "limit": save(np.zeros(UPLOAD_LIMIT)), "not a readable .npy": b"\x93NUMPY garbage",
            "not a .npy file: it is a text file": b"0.5 " * 100, "refused beyond +-43": save(np.full(100, 1e30))}


def test_bad_uploads_get_a_message_and_the_server_keeps_serving(server):
    url = server["url"] + "/api/upload?" + urllib.parse.urlencode({"mapper": server["mapper"]})
    for message, data in bad_npy().items():
        status, body = call(url, data)
        assert status in (400, 413) and message in body["error"] and "\n" not in body["error"], (message, body)
    good = np.random.default_rng(1).standard_normal(100).astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, good)
    status, face = call(url, buf.getvalue())
    assert status == 200 and face["source"].startswith("upload:")
    assert call(f"{server['url']}/api/edit?{q(server, face['source'], smiling=0.2)}")[0] == 200


def test_names_from_the_browser_never_reach_the_filesystem(server):
    url = server["url"]
    for path in ("/api/runs/train-smiling/files/..%2F..%2F..%2Fetc%2Fpasswd", "/api/runs/train-smiling/files/config.json%2F..",
                 "/api/runs/..%2F..%2Fetc/files/passwd"):
        assert call(url + path)[0] == 404, path
    assert call(f"{url}/api/face?" + urllib.parse.urlencode({"mapper": "../../etc", "source": "seed:1"}))[0] == 404
    assert call(f"{url}/api/face?" + urllib.parse.urlencode({"mapper": server["mapper"], "source": "file:/etc/passwd"}))[0] == 400
    runs = call(url + "/api/runs")[1]
    listed = runs[0]["files"]
    assert "config.json" in listed and call(f"{url}/api/runs/{runs[0]['id']}/files/config.json")[0] == 200


def test_fifty_concurrent_edits_are_all_answered(server):
    urls = [f"{server['url']}/api/edit?{q(server, f'seed:{i % 5}', smiling=(i - 25) / 100)}" for i in range(50)]
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda u: call(u, timeout=120), urls))
    assert [s for s, _ in answers] == [200] * 50
    assert all(pixels(b["image"]).shape == (64, 64, 3) for _, b in answers)
