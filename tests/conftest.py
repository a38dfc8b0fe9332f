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


@pytest.fixture(autouse=True, scope="session")
def _own_checkpoint_folder(tmp_path_factory):
    """Exports of the tests (and of whoever uses this machine) stay apart: the user's checkpoint folder
    ($SCORETUTOR_CHECKPOINTS, inherited by subprocesses) is a fresh temporary one."""
    import os

    old = os.environ.get("SCORETUTOR_CHECKPOINTS")
    os.environ["SCORETUTOR_CHECKPOINTS"] = str(tmp_path_factory.mktemp("user_checkpoints"))
    yield
    if old is None:
        os.environ.pop("SCORETUTOR_CHECKPOINTS", None)
    else:
        os.environ["SCORETUTOR_CHECKPOINTS"] = old
