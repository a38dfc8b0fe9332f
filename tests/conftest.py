"""Fixtures shared by the unit tests."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks run fastest on one thread (and leave the other core to whatever else runs)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
