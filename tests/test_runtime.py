"""Seeding, device and profile choice (scoretutor.runtime) and headless widgets (scoretutor.widgets)."""
import numpy as np
import pytest
import torch

from scoretutor import runtime as config, widgets


def test_seed_everything_makes_all_generators_repeat():
    a = config.seed_everything(3)
    first = (a.normal(), np.random.rand(), torch.rand(1).item())
    b = config.seed_everything(3)
    assert first == (b.normal(), np.random.rand(), torch.rand(1).item())


@pytest.mark.parametrize("bad", [-1, 1.5, "0"])
def test_seed_must_be_a_non_negative_integer(bad):
    with pytest.raises(ValueError, match="seed"):
        config.seed_everything(bad)


def test_profile_follows_the_device_unless_overridden(monkeypatch):
    monkeypatch.delenv("SCORETUTOR_PROFILE", raising=False)
    assert config.get_profile(torch.device("cpu")) == "quick"
    assert config.get_profile(torch.device("cuda")) == "full"
    monkeypatch.setenv("SCORETUTOR_PROFILE", "full")
    assert config.get_profile(torch.device("cpu")) == "full"
    with pytest.raises(ValueError, match="profile"):
        config.get_profile(None, "huge")


def test_device_override_and_loud_cpu_message(monkeypatch, capsys):
    monkeypatch.setenv("SCORETUTOR_DEVICE", "cpu")
    assert config.get_device().type == "cpu"
    monkeypatch.delenv("SCORETUTOR_DEVICE")
    if not torch.cuda.is_available():
        config.get_device()
        out = capsys.readouterr().out
        assert "No GPU found" in out and max(map(len, out.splitlines())) <= 88
        with pytest.raises(ValueError, match="no CUDA GPU"):
            config.get_device("cuda")


def test_setup_picks_sizes_by_profile(monkeypatch, capsys):
    monkeypatch.setenv("SCORETUTOR_PROFILE", "quick")
    s = config.setup(seed=1, device="cpu")
    assert s.pick(quick=10, full=1000) == 10
    assert "profile: quick" in capsys.readouterr().out
    assert config.setup(seed=1, device="cpu", profile="full").pick(quick=10, full=1000) == 1000


def test_headless_turns_off_progress_bars(monkeypatch):
    monkeypatch.setenv("SCORETUTOR_HEADLESS", "1")
    assert config.headless() and not config.show_progress()
    monkeypatch.setenv("SCORETUTOR_HEADLESS", "0")
    assert not config.headless()


def test_explore_draws_once_with_defaults_when_headless(monkeypatch):
    import ipywidgets

    monkeypatch.setenv("SCORETUTOR_HEADLESS", "1")
    calls = []
    out = widgets.explore(lambda sigma, n, kind, w: calls.append((sigma, n, kind, w)),
                          sigma=(0.0, 1.0), n=(0, 10, 2), kind=["a", "b"],
                          w=ipywidgets.FloatSlider(value=0.3, min=0, max=1))
    assert out is None and calls == [(0.5, 5, "a", 0.3)]


def test_explore_builds_a_live_widget_when_someone_watches(monkeypatch):
    monkeypatch.setenv("SCORETUTOR_HEADLESS", "0")
    calls = []
    w = widgets.explore(lambda sigma: calls.append(sigma), sigma=(0.0, 1.0))
    assert w is not None and calls == [0.5]
    w.children[0].value = 0.25
    assert calls[-1] == 0.25


def test_explore_needs_a_control():
    with pytest.raises(ValueError, match="control"):
        widgets.explore(lambda: None)
