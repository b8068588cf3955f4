"""The whole chain as a user runs it, once: the CLIs dataset -> train -> edit -> eval on a StyleGAN2 checkpoint
(NVlabs layout) in W+, with the dataset and the edits on S3 (moto) under a URI that carries credentials
(the s3://KEY:SECRET@bucket form): every file and object written, and the console, are free of them."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from tests.checkpoints import write_tiny_nvlabs

KEY, SECRET = "AKIAEXAMPLE7", "sup3rsecretXYZ"
REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def _cli(*args: str, env: dict[str, str]) -> str:
    p = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=REPO, capture_output=True, text=True, timeout=900, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout + p.stderr


def _objects(s3: pafs.FileSystem, bucket: str) -> dict[str, bytes]:
    out = {}
    for info in s3.get_file_info(pafs.FileSelector(bucket, recursive=True)):
        if info.type == pafs.FileType.File:
            with s3.open_input_stream(info.path) as f:
                out[f"s3:{info.path}"] = f.read()
    return out


def test_stylegan2_wplus_chain_through_the_clis_on_s3_leaks_no_credentials(s3_server, tmp_path):
    """The recorded dataset URI has its user-info removed and still opens with credentials from the environment,
    as the README says to give them; the W+ latents keep their layer shape from the dataset to the edits."""
    from models.editors.mapper import load_mapper
    from pipeline.manifest import read_manifest, verify_manifest

    env = {**os.environ, "PYTHONPATH": str(REPO), "AWS_ACCESS_KEY_ID": "envkey", "AWS_SECRET_ACCESS_KEY": "envsecret"}
    ds, edits = (f"s3://{KEY}:{SECRET}@bucket/{p}?{s3_server}" for p in ("ds", "edits"))
    s3, _ = pafs.FileSystem.from_uri(ds)
    s3.create_dir("bucket")
    ckpt = write_tiny_nvlabs(tmp_path / "tiny-ffhq.pkl")
    run = tmp_path / "runs" / "train"
    console = _cli("dataset", "--preset", "tiny", "--num-samples", "32", "--generator", str(ckpt), "--latent-space", "wplus",
                   "--psi", "0.7", "--out", ds, env=env)
    console += _cli("train", "--preset", "tiny", "--attributes", "young,male", "--dataset", ds, "--num-workers", "1",
                    "--allow-weak-critic", "--out", str(run), env=env)
    console += _cli("edit", "--mapper", str(run / "export"), "--dataset", ds, "--delta", "young=0.2", "--max-rows", "8",
                    "--out", edits, env=env)
    console += _cli("eval", "--mapper", str(run / "export"), "--rows", "2", "--strengths", "0.3", "--passes", "1",
                    "--pairs", "none", "--dlib-rows", "2", "--out", str(tmp_path / "eval"), env=env)  # the export's dataset

    m = read_manifest(ds)
    assert m["latent_shape"] == [8, 64] and m["generator_id"].startswith("stylegan2-") and verify_manifest(ds) == []
    written = {f"local:{p}": p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} | _objects(s3, "bucket")
    w = np.concatenate([np.stack(pq.read_table(io.BytesIO(b), columns=["w"])["w"].to_numpy(zero_copy_only=False))
                        for k, b in written.items() if k.startswith("s3:bucket/ds/") and k.endswith(".parquet")]).reshape(-1, 8, 64)
    assert len(w) == 32
    np.testing.assert_array_equal(w[:, 0], w[:, 7])  # W+ from a single w: every layer the same
    mapper, doc = load_mapper(str(run / "export"))
    assert mapper.cfg.latent_shape == (8, 64) and doc["latent_space"] == "wplus" and doc["dataset_psi"] == 0.7
    e = read_manifest(edits, ("latent2latent-edits/1",))
    assert e["num_rows"] == 8 and e["latent_shape"] == [8, 64]

    leaks = [name for name, data in {**written, "console": console.encode()}.items() if KEY.encode() in data or SECRET.encode() in data]
    assert not leaks, leaks
    assert b"s3://bucket/ds?" in written[f"local:{run / 'export' / 'mapper.json'}"]  # recorded, minus the user-info
