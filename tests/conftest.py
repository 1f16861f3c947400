"""Shared fixtures."""

import pytest
import torch


@pytest.fixture
def float64():
    """Make float64 torch's default dtype for one test, then restore the previous one."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
