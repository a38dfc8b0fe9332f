"""Blind universal training: exact resume, NaN stop, CSV log, time limit, noise levels."""
import csv

import numpy as np
import pytest
import torch
from scipy import stats

from scoretutor.data.pairs import FramePairs, pair_windows
from scoretutor.data.sources import LeavesSource
from scoretutor.run_record import CHECKPOINT_NAME, LOG_FIELDS, LOG_NAME, read_checkpoint
from scoretutor.runtime import derive_seed
from scoretutor.training import TrainConfig, Trainer, TrainingDiverged, add_noise, sample_sigmas, train
from scoretutor.unet import UNet


TINY = dict(k=2, width=4, train_sequences=6, val_sequences=3, batch_size=9, threads=None)


def tiny_source(seed=0):
    """Moving Leaves at 16x16 pixels: 6 fresh sequences an epoch, 54 pairs, 6 steps of 9."""
    return LeavesSource(seed, 6, 3, size=16, radius_range=(1.5, 4.0))


def run(tmp_path, name, epochs, resume=False, source=None, **kw):
    cfg = TrainConfig(**{**TINY, **kw}, epochs=epochs, out=str(tmp_path / name))
    return train(cfg, resume=resume, source=source or tiny_source(cfg.seed), progress=False)


def test_stopped_and_resumed_run_matches_unstopped_run(tmp_path):
    full = run(tmp_path, "full", 4)
    assert full["stopped"] == "epochs" and full["epoch"] == 4
    first = run(tmp_path, "split", 2)
    assert first["epoch"] == 2
    second = run(tmp_path, "split", 4, resume=True)
    keys = ("epoch", "train_loss", "val_loss", "val_psnr", "lr")
    got = [[row[k] for k in keys] for row in second["history"]]
    want = [[row[k] for k in keys] for row in full["history"]]
    assert got == want  # bit for bit
    a = read_checkpoint(tmp_path / "full")["model"]
    b = read_checkpoint(tmp_path / "split")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the loss fell and the learning rate is recorded
    assert full["history"][-1]["train_loss"] < full["history"][0]["train_loss"]
    assert all(row["lr"] == pytest.approx(1e-3) for row in full["history"])


def test_checkpoint_contents_and_csv_log(tmp_path):
    result = run(tmp_path, "r", 2)
    ck = read_checkpoint(tmp_path / "r")
    for key in ("model", "optimizer", "scheduler", "rng", "epoch", "history", "config", "model_config", "commands"):
        assert key in ck
    assert set(ck["rng"]) >= {"python", "numpy", "torch"}
    assert ck["epoch"] == 2 and ck["model_config"]["width"] == 4
    # loadable without pickle of arbitrary objects
    torch.load(tmp_path / "r" / CHECKPOINT_NAME, weights_only=True)
    with open(tmp_path / "r" / LOG_NAME) as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == LOG_FIELDS
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for r, h in zip(rows, result["history"]):
        assert float(r["train_loss"]) == pytest.approx(h["train_loss"])
        assert float(r["val_loss"]) == pytest.approx(h["val_loss"])
        assert float(r["val_psnr"]) == pytest.approx(-10 * np.log10(h["val_loss"]), abs=6)
    assert not [p for p in (tmp_path / "r").iterdir() if p.name.endswith(".tmp")]


def test_time_limit_stops_after_an_epoch_and_resumes(tmp_path):
    stopped = run(tmp_path, "t", 3, time_limit=1e-6)  # minutes: any epoch overruns it
    assert stopped["stopped"] == "time_limit" and stopped["epoch"] == 1
    assert read_checkpoint(tmp_path / "t")["epoch"] == 1
    done = run(tmp_path, "t", 3, resume=True)
    assert done["stopped"] == "epochs" and [r["epoch"] for r in done["history"]] == [1, 2, 3]


def test_best_epoch_is_kept_beside_the_last(tmp_path):
    result = run(tmp_path, "b", 3)
    best = read_checkpoint(tmp_path / "b", "best")
    losses = [row["val_loss"] for row in result["history"]]
    assert best["epoch"] == 1 + losses.index(min(losses))
    assert read_checkpoint(tmp_path / "b")["epoch"] == 3
    with pytest.raises(ValueError, match="which"):
        read_checkpoint(tmp_path / "b", "first")


def test_resume_may_change_the_plateau_patience(tmp_path):
    run(tmp_path, "p", 1, patience=5)
    run(tmp_path, "p", 2, resume=True, patience=0)
    saved = read_checkpoint(tmp_path / "p")
    assert saved["config"]["patience"] == 0 and saved["scheduler"]["patience"] == 0


class HugeAfterFirstEpoch(LeavesSource):
    """Good data in epoch 0, then values so large that the squared error overflows float32."""

    def train_frames(self, epoch):
        frames = super().train_frames(epoch)
        return frames if epoch == 0 else frames * 1e25


def test_non_finite_loss_stops_with_a_clear_message(tmp_path):
    with pytest.raises(TrainingDiverged) as info:
        run(tmp_path, "nan", 3, source=HugeAfterFirstEpoch(0, 6, 3, size=16, radius_range=(1.5, 4.0)))
    message = str(info.value)
    assert "epoch 2, step 1 of 6" in message
    assert "inf" in message or "nan" in message
    assert "checkpoint of epoch 1 is kept" in message and "--lr" in message
    assert read_checkpoint(tmp_path / "nan")["epoch"] == 1  # the last good checkpoint survives


def test_resume_refuses_other_configuration_and_overwrite(tmp_path):
    run(tmp_path, "r", 1)
    with pytest.raises(ValueError, match=r"width: saved 4, given 8"):
        run(tmp_path, "r", 2, resume=True, width=8)
    with pytest.raises(ValueError, match="exists: pass resume=True"):
        run(tmp_path, "r", 2)


def test_config_validation():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="unknown data 'davis'"):
        TrainConfig(data="davis")
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=float("nan"))
    with pytest.raises(ValueError, match="prediction_only needs k >= 1"):
        TrainConfig(k=0, prediction_only=True)
    with pytest.raises(ValueError, match="time_limit"):
        TrainConfig(time_limit=0)


def test_noise_levels_have_uniform_square_root():
    g = torch.Generator().manual_seed(0)
    sigma = sample_sigmas(20_000, generator=g)
    assert sigma.shape == (20_000,) and sigma.dtype == torch.float32
    assert 0 <= float(sigma.min()) and float(sigma.max()) <= 1
    assert stats.kstest(sigma.sqrt().numpy(), "uniform").pvalue > 1e-3
    assert stats.kstest(sigma.numpy(), "uniform").pvalue < 1e-6  # sigma itself is not uniform
    assert float(sigma.mean()) == pytest.approx(1 / 3, abs=0.01)  # E[u^2] = 1/3


def test_add_noise_scales_per_sample():
    g = torch.Generator().manual_seed(0)
    target = torch.full((3, 1, 64, 64), 0.5)
    sigma = torch.tensor([0.0, 0.1, 1.0])
    noisy = add_noise(target, sigma, generator=g)
    sd = (noisy - target).flatten(1).std(dim=1)
    assert float(sd[0]) == 0
    assert sd[1:].numpy() == pytest.approx([0.1, 1.0], rel=0.05)


def test_noise_goes_on_the_target_only():
    model = UNet(k=2, width=4)
    trainer = Trainer(model, device="cpu")
    seen = {}
    model.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0].detach().clone()))
    past, target = torch.rand(5, 2, 16, 16), torch.rand(5, 1, 16, 16)
    loss = trainer.step(past, target, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)
    assert torch.equal(seen["x"][:, :2], past)  # the past frames stay clean
    assert not torch.equal(seen["x"][:, 2:], target)  # the observation is noisy


def test_pair_windows_numbering_matches_frame_pairs():
    frames = np.random.default_rng(0).random((3, 6, 4, 4)).astype(np.float32)
    for k in (0, 2):
        ds = FramePairs(frames, k)
        idx = torch.tensor([0, 1, 5, len(ds) - 1])
        past, target = pair_windows(torch.from_numpy(frames), k, idx)
        items = [ds[int(i)] for i in idx]  # one at a time, through FramePairs.locate
        ref_past = torch.stack([p for p, _ in items])
        ref_target = torch.stack([t for _, t in items])
        assert all(torch.equal(a, b) for a, b in zip(ds.batch(idx), (ref_past, ref_target)))
        assert past.shape == ref_past.shape and target.shape == ref_target.shape
        # FramePairs stores uint8, so agreement is up to rounding to 1/255
        assert torch.allclose(past, ref_past, atol=0.5 / 255 + 1e-6)
        assert torch.allclose(target, ref_target, atol=0.5 / 255 + 1e-6)


def test_seed_streams_are_distinct_and_reproducible():
    seeds = {derive_seed(0, 0, e) for e in range(100)} | {derive_seed(0, 1)} | {derive_seed(1, 0, 0)}
    assert len(seeds) == 102
    assert derive_seed(3, 0, 7) == derive_seed(3, 0, 7)
    src = tiny_source()
    assert not np.array_equal(src.train_frames(0), src.train_frames(1))  # fresh data each epoch
    np.testing.assert_array_equal(src.val_frames(), tiny_source().val_frames())  # fixed validation


def test_prediction_only_run(tmp_path):
    result = run(tmp_path, "p", 1, prediction_only=True)
    ck = read_checkpoint(tmp_path / "p")
    assert ck["model_config"]["prediction_only"] is True and ck["model"]["enc.0.0.weight"].shape[1] == 2
    assert np.isfinite(result["history"][0]["val_loss"])
