"""The cluster specs are the commands: every command line in jobs/ (the README's submit examples, submit.sh's
usage lines, the KubeRay entrypoints) parses with the CLI's own --dry-run, so a renamed flag breaks the build,
not a user's cluster job; the KubeRay resources match the stage flags."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
import yaml

from pipeline.cli import main

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def readme_commands() -> list[str]:
    text = re.sub(r"\\\n\s*", " ", (JOBS / "README.md").read_text())  # join continuation lines
    return [line.strip().removeprefix("jobs/submit.sh ") for line in text.splitlines() if line.strip().startswith("jobs/submit.sh ")]


def submit_usage_commands() -> list[str]:
    lines = [ln for ln in (JOBS / "submit.sh").read_text().splitlines() if "jobs/submit.sh " in ln and ln.startswith("#   ")]
    return [ln.split("jobs/submit.sh ", 1)[1].replace(" ...", "") for ln in lines]


def kuberay_commands() -> dict[str, str]:
    return {p.name: yaml.safe_load(p.read_text())["spec"]["entrypoint"].removeprefix("python -m pipeline ")
            for p in sorted((JOBS / "kuberay").glob("*.yaml"))}


def dry_run(command: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([*shlex.split(command), "--dry-run"])
        except SystemExit as e:  # argparse: unknown flag or bad value
            rc = e.code
    assert rc == 0, f"{command!r} does not parse: {err.getvalue().strip()[-500:]}"
    return out.getvalue()


def test_every_command_in_jobs_is_found():
    assert len(readme_commands()) >= 3 and len(submit_usage_commands()) >= 3 and len(kuberay_commands()) == 3


@pytest.mark.parametrize("command", readme_commands() + submit_usage_commands() + list(kuberay_commands().values()))
def test_job_command_parses_with_dry_run(command):
    assert dry_run(command).strip().startswith("{")


def test_kuberay_worker_resources_match_the_stage_flags():
    """Each GPU-requesting flag has a GPU in the worker group's limits; the CPUs asked per actor fit a worker."""
    for name, cmd in kuberay_commands().items():
        doc = yaml.safe_load((JOBS / "kuberay" / name).read_text())
        limits = doc["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]["limits"]
        flags = dict(re.findall(r"--([a-z-]+(?:gpus|cpus|cpus-per-worker))\s+([\d.]+)", cmd))
        gpu_flags = {k: float(v) for k, v in flags.items() if k.endswith("gpus")} | ({"use-gpu": 1.0} if "--use-gpu" in cmd else {})
        if gpu_flags:
            assert int(limits.get("nvidia.com/gpu", 0)) >= max(min(v, 1.0) for v in gpu_flags.values()), (name, gpu_flags, limits)
        cpu_flags = [float(v) for k, v in flags.items() if "cpus" in k]
        assert all(v <= float(limits["cpu"]) for v in cpu_flags), (name, cpu_flags, limits)


def test_the_image_runtime_env_is_the_runtime_env_without_pip():
    import yaml

    full = yaml.safe_load((JOBS / "runtime_env.yaml").read_text())
    image = yaml.safe_load((JOBS / "runtime_env.image.yaml").read_text())
    assert full.pop("pip") and "pip" not in image and full == image
