import subprocess
import sys

import numpy as np

from stages.seeds import expand_seed_ranges


def test_expand_seed_ranges():
    out = expand_seed_ranges({"seed_lo": np.array([0, 10]), "seed_hi": np.array([3, 12])})
    assert out["seed"].tolist() == [0, 1, 2, 10, 11]
    assert expand_seed_ranges({"seed_lo": np.zeros(0, int), "seed_hi": np.zeros(0, int)})["seed"].shape == (0,)


def test_the_read_stage_imports_no_torch():
    """Its task worker lives for the whole job: with torch imported it would hold ~0.4 GB doing nothing."""
    code = "import sys, stages.seeds; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
