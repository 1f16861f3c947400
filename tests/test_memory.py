"""The CPU peak-memory probe."""

import pytest
import torch

from kanbench import memory

pytestmark = pytest.mark.skipif(not memory.available(), reason="needs /proc and glibc")


def test_probe_sees_a_large_allocation():
    size = 40_000_000  # 160 MB of float32

    def work():
        torch.empty(size, dtype=torch.float32).fill_(1.0)

    peak = memory.peak_bytes(work)
    assert 0.9 * 4 * size < peak < 1.3 * 4 * size


def test_probe_sees_little_for_small_work():
    assert memory.peak_bytes(lambda: torch.ones(10).sum()) < 4_000_000
