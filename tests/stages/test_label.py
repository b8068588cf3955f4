import numpy as np

from models.attributes import LABELERS
from models.generators.dcgan import load_dcgan
from stages.label import CPU_CHUNK_ROWS, LabelAttributes
from stages.render import Render, from_uint8


def test_cpu_labels_come_in_chunks_and_equal_one_whole_call():
    """The chunking bounds the label actor's memory; it changes no label, and a batch that is not a multiple of
    the chunk keeps every row."""
    batch = Render(None)({"w": np.random.default_rng(0).standard_normal((CPU_CHUNK_ROWS * 2 + 5, 100), dtype=np.float32)})
    stage = LabelAttributes(LABELERS, load_dcgan().framing)
    seen: list[int] = []
    real = stage.labelers[0]
    stage.labelers[0] = lambda images: seen.append(len(images)) or real(images)
    chunked = stage(batch)
    assert seen == [CPU_CHUNK_ROWS, CPU_CHUNK_ROWS, 5]
    whole = stage._label(from_uint8(batch["image"]))
    for name, values in whole.items():
        np.testing.assert_allclose(chunked[name], values, atol=1e-5, err_msg=name)
    assert set(whole) <= set(chunked) and chunked["image"] is batch["image"]
