"""Credentials never land in outputs: every file a dataset, train, edit and eval run writes, and their console,
are free of the key and secret given in the URIs (the README's s3://KEY:SECRET@bucket form)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from pipeline.redact import redact, redact_doc

KEY, SECRET = "AKIAEXAMPLE7", "sup3rsecretXYZ"
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text, want", [
    ("s3://AK:SE@bucket/ds?endpoint_override=h:9&scheme=http", "s3://bucket/ds?endpoint_override=h:9&scheme=http"),
    ("out s3://AK:SE@bucket/a and gs://tok@b/c", "out s3://bucket/a and gs://b/c"),
    ("s3://bucket/ds?region=eu&secret_key=SE&access_key=AK", "s3://bucket/ds?region=eu&secret_key=<redacted>&access_key=<redacted>"),
    ("data/default", "data/default"), ("young=+0.3", "young=+0.3"), ("https://example.org/x", "https://example.org/x"),
])
def test_redact(text, want):
    assert redact(text) == want
    assert redact_doc({"a": [text, 1, {"b": text}]}) == {"a": [want, 1, {"b": want}]}


def _cli(*args: str, env: dict[str, str]) -> str:
    p = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=REPO, capture_output=True, text=True, timeout=900, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout + p.stderr


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_no_credentials_in_any_output(s3_server, tmp_path):
    """dataset -> s3 (credentials in the URI), train from it, edit it to s3, eval: the recorded dataset URI has its
    user-info removed and still opens with credentials from the environment, as the README says to give them."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "AWS_ACCESS_KEY_ID": "envkey", "AWS_SECRET_ACCESS_KEY": "envsecret"}
    ds, edits = (f"s3://{KEY}:{SECRET}@bucket/{p}?{s3_server}" for p in ("ds", "edits"))
    s3, _ = pafs.FileSystem.from_uri(ds)
    s3.create_dir("bucket")
    console = _cli("dataset", "--preset", "tiny", "--num-samples", "32", "--out", ds, env=env)
    run = tmp_path / "runs" / "train"
    console += _cli("train", "--preset", "tiny", "--attrs", "smiling", "--dataset", ds, "--num-workers", "1",
                    "--allow-weak-critic", "--out", str(run), env=env)
    console += _cli("edit", "--mapper", str(run / "export"), "--dataset", ds, "--delta", "smiling=0.2", "--max-rows", "8",
                    "--out", edits, env=env)
    console += _cli("eval", "--mapper", str(run / "export"), "--rows", "4", "--strengths", "0.3", "--passes", "1",
                    "--pairs", "none", "--dlib-rows", "2", "--out", str(tmp_path / "eval"), env=env)  # the export's dataset
    written = {f"local:{p}": p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for info in s3.get_file_info(pafs.FileSelector("bucket", recursive=True)):
        if info.type == pafs.FileType.File:
            with s3.open_input_stream(info.path) as f:
                written[f"s3:{info.path}"] = f.read()
    assert len([k for k in written if k.startswith("s3:bucket/ds/")]) >= 5 and any("manifest.json" in k for k in written)
    leaks = [name for name, data in {**written, "console": console.encode()}.items() if KEY.encode() in data or SECRET.encode() in data]
    assert not leaks, leaks
    assert b"s3://bucket/ds?" in written[f"local:{run / 'export' / 'mapper.json'}"]  # recorded, minus the user-info
