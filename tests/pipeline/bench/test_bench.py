"""The benchmark runner: suites by name, a report that keeps earlier suites, and a GPU suite that says when it
cannot measure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pipeline.bench.config import BenchConfig
from pipeline.bench.run import run_bench

REPO = Path(__file__).resolve().parents[3]


def test_the_gpu_suite_says_so_without_a_gpu_and_the_report_keeps_other_suites(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the suite measures instead (make bench ARGS='--only gpu')")
    out = tmp_path / "report.json"
    out.write_text(json.dumps({"dataset": {"ratio_pipeline_vs_bare_n": 0.8}}))
    report = run_bench(BenchConfig(only=("gpu",), out=str(out)))
    assert report["gpu"]["available"] is False and "CPU ratios stand" in report["gpu"]["reason"]
    saved = json.loads(out.read_text())
    assert saved["dataset"] == {"ratio_pipeline_vs_bare_n": 0.8} and saved["gpu"]["available"] is False
    assert saved["git_revision"] and saved["packages"]


def test_unknown_suites_are_refused():
    with pytest.raises(ValueError, match="unknown bench suite 'gpus'"):
        BenchConfig(only=("gpus",))


def test_repeated_runs_give_each_figure_its_median_and_range():
    from pipeline.bench.run import summarise_runs

    runs = [{"ratio": r, "n": 1024, "note": "same", "flag": True, "inner": {"rows_per_s": s}}
            for r, s in ((0.8, 30.0), (0.5, 10.0), (0.6, 20.0))]
    out = summarise_runs(runs)
    assert out["ratio"] == 0.6 and out["range"]["ratio"] == [0.5, 0.8] and out["n"] == 1024 and out["note"] == "same"
    assert out["flag"] is True and "flag" not in out["range"] and out["inner"] == {"rows_per_s": 20.0}
    assert out["range"]["inner"] == {"rows_per_s": [10.0, 30.0]} and out["repeats"] == 3 and out["runs"] == runs
    with pytest.raises(ValueError, match="--repeats must be >= 1"):
        BenchConfig(repeats=0)
    with pytest.raises(ValueError, match="--wplus-latents must be >= 4"):
        BenchConfig(wplus_latents=3)


def test_peak_memory_sees_a_child_process_and_splits_shared_pages():
    """In a fresh interpreter: the processes of a Ray this test session started would move this tree's sum."""
    import subprocess
    import sys
    import textwrap

    # a grandchild touching 200 MiB of its own, then forking: both share those pages copy-on-write
    child = ("import os, time; x = bytearray(200 * 2**20); x[::4096] = b'1' * len(x[::4096]);"
             "pid = os.fork(); time.sleep(2.5); pid and os.waitpid(pid, 0)")
    code = textwrap.dedent(f"""
        import os, subprocess, sys
        from pipeline.bench.memory import PeakMemory, _tree_rss
        own_rss, own_pss = _tree_rss(os.getpid())
        with PeakMemory(interval=0.2) as mem:
            subprocess.run([sys.executable, "-c", {child!r}], check=True)
        print((mem.peak_bytes - own_rss) / 2**20, (mem.peak_pss_bytes - own_pss) / 2**20)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    rss_mib, pss_mib = map(float, out.split())
    assert rss_mib > 380  # RSS counts the shared pages in both processes
    assert 190 < pss_mib < 300  # PSS counts them once


@pytest.mark.slow
def test_the_edit_bench_runs_both_mapper_shapes_without_a_trained_export(ray_local, tmp_path):
    """Mapper-only edit jobs for the DCGAN's 100-d latents and for W+ (18x512, stored flat in Parquet) on random
    exports: every row written, a ratio against the bare loop for each, and the inputs removed afterwards. On the
    session's Ray, which the bench uses and leaves up (Ray Data in one process does not survive a shutdown)."""
    from pipeline.bench import edit_bench

    report = edit_bench.bench_edit(None, "no-dataset", {"dcgan_z100": 6000, "stylegan2_wplus_18x512": 600}, out=str(tmp_path))
    for name, n in (("dcgan_z100", 6000), ("stylegan2_wplus_18x512", 600)):
        assert report[name]["latents"] == n and 0 < report[name]["ratio_job_vs_bare"] < 10, report
        assert not (tmp_path / name).exists()  # the W+ input and edits are GBs at full size
    assert "ray_start_s" in report and report["ray_data_start_s"] > 0 and "job_with_rendering_latents_per_s" not in report


@pytest.mark.slow
def test_the_train_bench_runs_on_the_default_critic(tiny_data, tmp_path):
    """The bench trains on the defaults: when the critic fidelity floor landed, it refused the latent objective's
    default attribute and `make bench --only train` stopped with an error, which no test saw."""
    from pipeline.bench.train_bench import bench_train

    report = bench_train(tiny_data["dataset"], steps=4, out=str(tmp_path), objectives=("latent",),
                         batch_size=4, identity_rows=2, val_rows=4, fidelity_rows=16)
    assert set(report) == {"latent"} and report["latent"]["ratio_2_vs_1"] > 0, report


def test_the_photos_suite_copies_the_test_photos_in_turn_and_splits_fixed_cost_from_rate(tmp_path):
    from pipeline.bench.photos_bench import TEST_PHOTOS, fixed_and_rate, photo_folder

    folder = photo_folder(6, tmp_path / "in")
    got = sorted(p.name for p in folder.iterdir())
    assert got == ["000-astronaut.png", "001-camera.png", "002-grace_hopper.jpg", "003-group.jpg", "004-astronaut.png", "005-camera.png"]
    assert (folder / "004-astronaut.png").read_bytes() == (TEST_PHOTOS / "astronaut.png").read_bytes()
    # 10 s fixed, 0.5 photos/s: 8 photos in 26 s, 4 in 18 s; the bare loop at 1 photo/s
    split = fixed_and_rate({"wall_s": 26.0}, {"wall_s": 18.0}, 8, {"photos_per_s": 1.0})
    assert split == pytest.approx({"job_fixed_s": 10.0, "job_rate_photos_per_s": 0.5, "ratio_job_rate_vs_bare": 0.5})
    with pytest.raises(ValueError, match="--photos must be >= 2"):
        BenchConfig(photos=1)


@pytest.mark.slow
def test_the_photos_suite_runs_the_job_and_the_bare_loop_on_the_same_photos(tmp_path):
    """`bench --only photos` end to end, tiny projection, in a fresh interpreter (the suite starts and stops its own Ray)
    whose working directory has no runs/: no mapper, faces only inverted and pasted back."""
    import os
    import subprocess
    import sys

    out = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pipeline", "bench", "--only", "photos", "--repeats", "1", "--photos", "2",
           "--photos-project.steps", "1", "--photos-project.pool", "2", "--out", str(out)]
    subprocess.run(cmd, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True, capture_output=True)
    report = json.loads(out.read_text())["photos"]
    assert report["mapper"] is None and "no mapper" in report["note"] and report["changes"] == {}
    assert report["job"]["faces"] == report["bare_loop"]["faces"] == 2 and report["job_half"]["faces"] == 1
    assert report["ratio_job_vs_bare"] > 0 and report["job"]["peak_rss_gib"] > 0 and not (tmp_path / "runs/bench/photos/in").exists()
