"""PSNR and the denoising table."""
import math

import numpy as np
import pytest
import torch

from scoretutor.metrics import denoising_table, format_table, psnr
from scoretutor.unet import UNet


def test_psnr_known_values_torch_and_numpy():
    ref = np.zeros((2, 1, 4, 4))
    est = ref.copy()
    est[0] += 0.1  # MSE 0.01 -> 20 dB
    est[1] += 0.01  # MSE 1e-4 -> 40 dB
    per = psnr(est, ref, reduce=False)
    assert per == pytest.approx([20.0, 40.0])
    assert psnr(est, ref) == pytest.approx(30.0)
    t = psnr(torch.tensor(est), torch.tensor(ref), reduce=False)
    assert isinstance(t, torch.Tensor) and t.numpy() == pytest.approx([20.0, 40.0], rel=1e-5)
    assert psnr(est[0, 0], ref[0, 0]) == pytest.approx(20.0)  # a single (H, W) image
    assert psnr(est * 255, ref, peak=255.0) == pytest.approx(30.0)
    assert psnr(ref, ref) == pytest.approx(100.0)  # exact match: capped, not infinite


def test_psnr_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        psnr(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match="peak"):
        psnr(np.zeros((4, 4)), np.zeros((4, 4)), peak=0)
    with pytest.raises(ValueError, match="image"):
        psnr(np.zeros(4), np.zeros(4))


def test_denoising_table_input_psnr_and_identity_like_model():
    rng = np.random.default_rng(0)
    frames = rng.random((3, 5, 8, 8)).astype(np.float32)
    torch.manual_seed(0)
    model = UNet(k=2, width=4).eval()
    rows = denoising_table(model, frames, 2, sigmas=[0.1, 0.5], seed=0)
    assert [r["sigma"] for r in rows] == [0.1, 0.5]
    for r in rows:  # input PSNR of Gaussian noise is about -20 log10(sigma)
        assert r["input_psnr"] == pytest.approx(-20 * math.log10(r["sigma"]), abs=0.3)
        assert math.isfinite(r["output_psnr"])
    assert denoising_table(model, frames, 2, sigmas=[0.1, 0.5], seed=0) == rows  # deterministic
    text = format_table(rows)
    assert "input PSNR" in text and len(text.splitlines()) == 3
    pred = UNet(k=2, width=4, prediction_only=True).eval()
    prow = denoising_table(pred, frames, sigmas=[0.1, 1.0])
    assert prow[0]["output_psnr"] == pytest.approx(prow[1]["output_psnr"])  # ignores the observation
    with pytest.raises(ValueError, match="does not match the model's k=2"):
        denoising_table(model, frames, 1)
    with pytest.raises(ValueError, match="sigmas"):
        denoising_table(model, frames, 2, sigmas=[-1.0])
    with pytest.raises(ValueError, match=r"frames must have shape"):
        denoising_table(model, frames[:, :2], 2)


def test_common_target_table_scores_every_k_on_the_last_frame_with_the_same_noise():
    from scoretutor.metrics import common_target_table, denoising_table
    from scoretutor.unet import UNet

    clips = np.random.default_rng(0).uniform(size=(3, 6, 16, 16)).astype(np.float32)
    tables = {}
    for k in (0, 1, 3):
        torch.manual_seed(k)
        model = UNet(k=k, width=4, scales=2)
        tables[k] = common_target_table(model, clips, sigmas=[0.1, 0.5], seed=2)
        assert tables[k] == denoising_table(model, clips[:, 5 - k:], sigmas=[0.1, 0.5], seed=2)
    # the same targets and the same noise: the input PSNR does not depend on k
    assert [r["input_psnr"] for r in tables[0]] == [r["input_psnr"] for r in tables[3]]
    z = torch.randn((3, 1, 16, 16), generator=torch.Generator().manual_seed(2))
    expected = float((10 * torch.log10(1 / ((0.1 * z) ** 2).flatten(1).mean(1))).mean())
    assert tables[1][0]["input_psnr"] == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError, match=r"clips must have shape \(N, T, H, W\) with T > k=3, got \(3, 3, 16, 16\)"):
        common_target_table(UNet(k=3, width=4, scales=2), clips[:, :3])
    with pytest.raises(TypeError, match="must be a scoretutor.unet.UNet"):
        common_target_table("net", clips)
