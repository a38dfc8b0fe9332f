"""Training data sources beyond the default leaves: the stochastic occlusion rule (chapter 6's
calibration model) and DAVIS32 (chapter 7); the cache-only DAVIS32 fallback; the GPU training script."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from scoretutor.data import davis, leaves
from scoretutor.cli import main as cli_main
from scoretutor.data.sources import DATA_SOURCES, DavisSource, LeavesSource, make_source
from scoretutor.run_record import git_commit, read_checkpoint
from scoretutor.runtime import derive_seed
from scoretutor.training import TrainConfig, train

sys.path.insert(0, str(Path(__file__).parent))
from test_davis import SMALL, make_davis  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- leaves, stochastic rule


def test_p_larger_front_selects_the_stochastic_rule():
    cfg = TrainConfig(p_larger_front=0.75, train_sequences=5, val_sequences=3)
    source = make_source(cfg)
    assert isinstance(source, LeavesSource)
    assert source.options == {"rule": "stochastic", "p_larger_front": 0.75}
    expected, _ = leaves.generate(5, seed=derive_seed(0, 0, 3), rule="stochastic", p_larger_front=0.75)
    np.testing.assert_array_equal(source.train_frames(3), expected)
    assert "rule='stochastic'" in source.describe() and "p_larger_front=0.75" in source.describe()
    assert make_source(TrainConfig()).options == {}  # default: the larger disk is always in front


@pytest.mark.parametrize("bad, match", [(1.5, "probability"), (-0.1, "probability"), (True, "probability")])
def test_p_larger_front_validation(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(p_larger_front=bad)


def test_p_larger_front_only_for_leaves():
    with pytest.raises(ValueError, match="only applies to data='leaves'"):
        TrainConfig(data="davis32", p_larger_front=0.5)


def test_cli_passes_p_larger_front_to_the_run(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--k", "1", "--width", "4", "--scales", "2", "--train-sequences", "4", "--val-sequences", "2",
            "--batch-size", "8", "--epochs", "1", "--p-larger-front", "0.25", "--out", str(out), "--quiet",
            "--threads", "1", "--no-progress"]
    assert cli_main(argv) == 0
    saved = read_checkpoint(out)
    assert saved["config"]["p_larger_front"] == 0.25
    assert "p_larger_front=0.25" in saved["data"]


# --------------------------------------------------------------------------- DAVIS32


@pytest.fixture
def small_davis(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 255, size=(96, 160))
    root = make_davis(tmp_path / "DAVIS", {"alpha": 22, "bravo": 11, "charlie": 11, "delta": 22},
                      image=lambda s, t: np.roll(base, 2 * t, axis=1))
    return {"root": root, "cache_dir": tmp_path / "cache", **SMALL}


def test_davis_source_split_flip_and_held_out(small_davis):
    source = DavisSource(seed=3, val_every=4, **small_davis)
    clips = davis.load_davis32("train", **small_davis).frames
    val = source.val_frames()
    assert val.dtype == np.float32 and len(val) == len(clips[::4])
    np.testing.assert_allclose(val, clips[::4] / 255.0, atol=1e-7)
    kept = np.delete(clips, np.arange(0, len(clips), 4), axis=0) / 255.0
    epoch = source.train_frames(0)
    assert epoch.shape == kept.shape
    mirrored = np.array([np.allclose(e, k[..., ::-1], atol=1e-6) and not np.allclose(e, k, atol=1e-6)
                         for e, k in zip(epoch, kept)])
    same = np.array([np.allclose(e, k, atol=1e-6) for e, k in zip(epoch, kept)])
    assert np.all(mirrored | same) and mirrored.any() and same.any()
    np.testing.assert_array_equal(source.train_frames(0), epoch)  # reproducible per (seed, epoch)
    assert not np.array_equal(source.train_frames(1), epoch)
    test = davis.load_davis32("test", **small_davis)
    held = source.held_out_frames(2)
    assert held.shape[0] == 2 and held.shape[1:] == test.frames.shape[1:]
    np.testing.assert_allclose(held[0], test.frames[0] / 255.0, atol=1e-7)
    assert len(source.held_out_frames(10**6)) == len(test)
    text = source.describe()
    assert "DAVIS32" in text and f"{len(kept)} clips" in text and "mirrored" in text


def test_davis32_is_a_registered_data_source(small_davis, monkeypatch):
    assert "davis32" in DATA_SOURCES
    monkeypatch.setenv("SCORETUTOR_DAVIS_ROOT", str(small_davis["root"]))
    assert isinstance(make_source(TrainConfig(data="davis32")), DavisSource)


def test_training_on_davis_clips(small_davis, tmp_path):
    cfg = TrainConfig(data="davis32", k=1, width=4, scales=2, batch_size=16, epochs=1, out=str(tmp_path / "run"))
    result = train(cfg, source=DavisSource(val_every=5, **small_davis), progress=False)
    assert result["epoch"] == 1 and np.isfinite(result["history"][0]["val_loss"])
    assert "DAVIS32" in read_checkpoint(tmp_path / "run")["data"]
    from scoretutor.checkpoints import load

    card = load(tmp_path / "run", with_card=True)[1]  # the run's card names its sequences and data set
    assert card["dataset"] == "davis32" and card["test_sequences"] == list(davis.load_davis32("test", **small_davis).sequences)
    assert card["training_sequences"] == list(davis.load_davis32("train", **small_davis).sequences)


def test_cache_stands_in_for_a_vanished_folder(small_davis, tmp_path):
    built = davis.load_davis32("all", **small_davis)
    moved = tmp_path / "elsewhere"
    small_davis["root"].rename(moved)
    with pytest.warns(UserWarning, match="not found: using the DAVIS32 cache"):
        again = davis.load_davis32("all", **small_davis)
    np.testing.assert_array_equal(again.frames, built.frames)
    assert again.sequences == built.sequences
    # no cache for that folder: the error names the folder
    with pytest.raises(ValueError, match="is not a folder .*no DAVIS32 cache"):
        davis.load_davis32("all", small_davis["root"], tmp_path / "empty-cache", **SMALL)


def test_davis_source_names_its_sequences_for_the_card(small_davis):
    source = DavisSource(**small_davis)
    train = davis.load_davis32("train", **small_davis).sequences
    test = davis.load_davis32("test", **small_davis).sequences
    assert source.data_fields() == {"training_sequences": sorted(train), "test_sequences": sorted(test)}
    assert set(train) | set(test) == {"alpha", "bravo", "charlie", "delta"} and test


def test_evaluate_on_davis_test_clips(small_davis, tmp_path, monkeypatch, capsys):
    from scoretutor.checkpoints import save_pretrained
    from scoretutor.unet import UNet

    monkeypatch.setenv("SCORETUTOR_DATA", str(tmp_path / "data"))
    path = save_pretrained(UNet(k=1, width=4, scales=2), tmp_path / "m.pt")
    # the default DAVIS32 parameters (32x32 crops of 64-256 pixels) need full-size frames
    make_davis(tmp_path / "full", {"a": 11, "b": 11}, shape=(480, 854))
    monkeypatch.setenv("SCORETUTOR_DAVIS_ROOT", str(tmp_path / "full"))
    assert cli_main(["evaluate", str(path), "--data", "davis32", "--sequences", "3", "--sigmas", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "DAVIS32 test split, 1 sequences" in out and "the card lists no sequences" in out
    assert "3 clips" in out and "0.1" in out


# --------------------------------------------------------------------------- provenance and the GPU script


def test_commit_from_the_environment_outside_git(monkeypatch):
    import subprocess

    def no_git(*args, **kwargs):
        raise OSError("no git here")

    monkeypatch.setattr(subprocess, "run", no_git)
    monkeypatch.delenv("SCORETUTOR_COMMIT", raising=False)
    assert git_commit() == "unknown"
    monkeypatch.setenv("SCORETUTOR_COMMIT", "abc123")
    assert git_commit() == "abc123 (from $SCORETUTOR_COMMIT)"


def test_gpu_training_script_smoke(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("train_gpu_models", ROOT / "tools" / "train_gpu_models.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert {"leaves_k2", "leaves_k0", "leaves_k2_w32", "leaves_k2_p75", "davis_k0", "davis_k1", "davis_k2",
            "davis_k3", "davis_pred_k2"} <= set(tool.JOBS)
    assert tool.main(["--smoke", "--jobs", "leaves_k2_p75", "--results", str(tmp_path), "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "leaves_k2_p75" in out and "True" in out
    card = (tmp_path / "ckpt" / "leaves_k2_p75.md").read_text()
    assert "p_larger_front=0.75" in card and "SMOKE TEST ONLY" in card
