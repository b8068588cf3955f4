"""The editor bench's memory reading: the server's resident set, as the kernel reports it."""

import os

import pytest

from pipeline.bench.serve_bench import _rss_mb


def test_the_resident_set_is_the_kernels():
    kernel = next(int(line.split()[1]) / 1024 for line in open(f"/proc/{os.getpid()}/status") if line.startswith("VmRSS:"))
    assert _rss_mb(os.getpid()) == pytest.approx(kernel, abs=8)  # MiB: the two reads are a moment apart
