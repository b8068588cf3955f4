"""What a training run writes as it goes: a resumed run logs every step once."""

from __future__ import annotations

import json

from pipeline.train.report import RunLog


def test_a_resumed_log_forgets_the_steps_lost_after_its_checkpoint(tmp_path):
    log = RunLog(tmp_path, enabled=True)
    for step in (3, 6, 9):
        log.metrics({"loss/total": float(step)}, step)
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 12, "loss/to')  # the line a killed run was writing
    resumed = RunLog(tmp_path, enabled=True, resumed_from=6)  # the newest checkpoint the failure left was step 6
    resumed.metrics({"loss/total": 9.5}, 9)
    steps = [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [3, 6, 9]
    assert RunLog(tmp_path, enabled=False, resumed_from=0).tb is None  # ranks other than 0 write nothing
