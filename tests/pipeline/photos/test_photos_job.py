"""The photos job on a folder as a user has one: several people, a group photo, a profile, and every kind of bad file:
each photo a row with a named status, the batch completes, the edited photos keep their size and format, the output
verifies and resumes."""

import io
import os
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tests.photos import ASTRONAUT, CAMERA, HOPPER, encoded, group_photo, rgb


def _folder(root) -> str:
    d = root / "photos"
    d.mkdir()
    for src in (ASTRONAUT, CAMERA, HOPPER):
        (d / src.name).write_bytes(src.read_bytes())
    (d / "group.png").write_bytes(encoded(group_photo()))
    (d / "empty.jpg").write_bytes(b"")
    (d / "notes.jpg").write_text("a text file named like a photo")
    jpeg = encoded(rgb(HOPPER), "JPEG")
    (d / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    frames = [Image.fromarray(rgb(ASTRONAUT)), Image.fromarray(rgb(HOPPER)[:512])]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    (d / "moving.gif").write_bytes(buf.getvalue())
    (d / "small.jpg").write_bytes(encoded(np.asarray(Image.open(ASTRONAUT).convert("RGB").resize((96, 96))), "JPEG"))
    (d / "wall.png").write_bytes(encoded(np.full((400, 600, 3), 140, np.uint8)))
    (d / "README.txt").write_text("not a photo: a folder gives only its image files")
    return str(d)


@pytest.mark.slow
def test_a_folder_of_photos(ray_local, tiny_mapper, tmp_path, capsys):
    from models.inversion.config import ProjectConfig
    from pipeline.manifest import verify_manifest
    from pipeline.photos.config import PhotosConfig
    from pipeline.photos.job import run_photos

    out = str(tmp_path / "out")
    cfg = PhotosConfig(photos=(_folder(tmp_path),), out=out, mapper=tiny_mapper, delta=("smiling=+0.3",),
                       project=ProjectConfig(steps=8, pool=32), shard_size=4)
    manifest = run_photos(cfg)
    assert manifest["photos"] == 10 and "README.txt" not in manifest["names"]
    rows = pa.concat_tables([pq.read_table(f"{out}/{s['files']['parquet']['path']}") for s in manifest["shards"]]).to_pandas()
    status = {name: sorted(g["status"]) for name, g in rows.groupby("name")}
    assert status == {"astronaut.png": ["ok"], "grace_hopper.jpg": ["ok"], "group.png": ["ok", "ok", "ok"], "camera.png": ["profile"],
                      "empty.jpg": ["empty"], "notes.jpg": ["unreadable"], "cut.jpg": ["unreadable"], "moving.gif": ["animated"],
                      "small.jpg": ["too-small"], "wall.png": ["no-face"]}
    assert all(m and "\n" not in m for m in rows[rows.status != "ok"]["message"])
    edited = {}
    for s in manifest["shards"]:
        with tarfile.open(f"{out}/{s['files']['wds']['path']}") as tar:
            edited.update({m.name: tar.extractfile(m).read() for m in tar.getmembers() if ".edited." in m.name})
    by_id = dict(zip(rows.photo_id, rows.name))
    for member, data in edited.items():
        name = by_id[int(member.split(".")[0])]
        original = Image.open(os.path.join(tmp_path, "photos", name))
        assert Image.open(io.BytesIO(data)).size == original.size and Image.open(io.BytesIO(data)).format == original.format
    assert sorted(by_id[int(m.split(".")[0])] for m in edited) == ["astronaut.png", "grace_hopper.jpg", "group.png"]
    assert verify_manifest(out) == []

    stats = f"{out}/stats/shard-000001.json"
    os.remove(stats)  # as a run stopped before shard 1 committed and before the manifest
    os.remove(f"{out}/manifest.json")
    before = os.path.getmtime(f"{out}/parquet/shard-000000.parquet")
    again = run_photos(cfg)  # only the missing shard is written again
    assert again["num_rows"] == manifest["num_rows"] and os.path.exists(stats)
    assert os.path.getmtime(f"{out}/parquet/shard-000000.parquet") == before
    capsys.readouterr()
    run_photos(cfg)
    assert "already edited" in capsys.readouterr().out
    (tmp_path / "photos" / "new.png").write_bytes(encoded(rgb(ASTRONAUT)))  # another list: refused, not resumed into
    with pytest.raises(ValueError, match="another list of photos"):
        run_photos(cfg)
