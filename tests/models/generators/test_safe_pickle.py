"""NVlabs network pickles are read by an unpickler that resolves a short allowlist: every payload that would run
code is refused in one line naming what it imports, and nothing runs."""

from __future__ import annotations

import pickle

import pytest

from models.generators.safe_pickle import load_restricted
from models.generators.stylegan2_ckpt import load_generator
from models.weights import CheckpointError
from tests.payloads import NVLABS_PAYLOADS, appeared, assert_one_clean_line


@pytest.mark.parametrize("load", [load_restricted, load_generator], ids=["load_restricted", "load_generator"])
@pytest.mark.parametrize("kind", sorted(NVLABS_PAYLOADS))
def test_every_refused_payload_is_named_in_one_line_and_never_runs(kind, load, tmp_path):
    marker = tmp_path / "pwned"
    path, name = NVLABS_PAYLOADS[kind](tmp_path, marker)
    with pytest.raises(CheckpointError) as err:
        load(path)
    assert str(err.value).startswith(f"refusing to load {name} from ") and str(path) in str(err.value)
    assert "tensors and plain data" in str(err.value) and "truncated" not in str(err.value)
    assert_one_clean_line(str(err.value))
    assert not appeared(marker, 0.2)


@pytest.mark.parametrize("kind", sorted(set(NVLABS_PAYLOADS) - {"persistent-id"}))  # that one holds no code
def test_the_payloads_run_code_on_a_plain_unpickler(kind, tmp_path):
    marker = tmp_path / "pwned"
    path, _ = NVLABS_PAYLOADS[kind](tmp_path, marker)
    try:
        pickle.loads(path.read_bytes())
    except Exception:
        pass  # a persistent id's call runs before the unpickler finds no persistent_load
    assert appeared(marker, 5.0)


def test_a_cut_pickle_is_still_called_truncated(tmp_path):
    (tmp_path / "cut.pkl").write_bytes(pickle.dumps({"G_ema": list(range(100))}, protocol=4)[:-20])
    with pytest.raises(CheckpointError, match=r"cannot read pickle .*cut\.pkl \(truncated or corrupt\?\)"):
        load_restricted(tmp_path / "cut.pkl")
