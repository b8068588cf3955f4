"""Progress lines: in place on a terminal; off one, a few compact lines however many updates."""

import io

from pipeline.progress import Progress
from pipeline.train.report import validation_ratio


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_a_line_at_start_and_end_only():
    out = io.StringIO()
    with Progress(1000, "dataset", "row", every_s=60, stream=out) as bar:
        for _ in range(1000):
            bar.update(1, shards="1/4")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in out.getvalue()
    assert lines[0].startswith("dataset:") and "0/1000" in lines[0] and "1000/1000" in lines[1] and "shards 1/4" in lines[1]


def test_on_a_terminal_one_line_updated_in_place():
    out = Terminal()
    with Progress(50, "train", "step", stream=out) as bar:
        for _ in range(50):
            bar.update(1, loss="0.100")
    text = out.getvalue()
    assert "\r" in text and text.count("\n") <= 1 and "50/50" in text and "loss 0.100" in text


def test_validation_ratio_averages_the_requests():
    m = {"val/young+/achieved": 0.1, "val/young+/attainable": 0.2, "val/male-/achieved": -0.3, "val/male-/attainable": -0.3,
         "loss/total": 1.0}
    assert abs(validation_ratio(m) - 0.75) < 1e-9 and validation_ratio({"loss/total": 1.0}) is None
