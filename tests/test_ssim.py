"""The structural similarity index (scoretutor.metrics.ssim) against a direct float64 SciPy reference."""
import numpy as np
import pytest
import torch
from scipy.signal import correlate2d

from scoretutor.metrics import ssim


def reference_ssim(x, y, data_range=1.0):
    """Wang et al. (2004) written out for one 2-D image pair: an 11×11 Gaussian window (sigma 1.5,
    normalised), local statistics at every window position inside the image, mean of the SSIM map."""
    r = np.arange(11) - 5.0
    g = np.exp(-r**2 / (2 * 1.5**2))
    window = np.outer(g, g)
    window /= window.sum()
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def local_mean(z):
        return correlate2d(z, window, mode="valid")

    mx, my = local_mean(x), local_mean(y)
    vx, vy, cxy = local_mean(x * x) - mx**2, local_mean(y * y) - my**2, local_mean(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return float(np.mean((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))))


def smooth_images(rng, b, h, w):
    """Random images with some spatial structure (a blurred noise field) in [0, 1]."""
    from scipy.ndimage import gaussian_filter

    z = gaussian_filter(rng.normal(size=(b, h, w)), sigma=(0, 2, 2))
    return (z - z.min()) / (z.max() - z.min())


def test_identical_images_score_one():
    rng = np.random.default_rng(0)
    x = rng.random((3, 16, 20))
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    assert ssim(np.full((12, 12), 0.3), np.full((12, 12), 0.3)) == pytest.approx(1.0, abs=1e-12)  # flat: C1, C2 keep it defined
    per = ssim(torch.tensor(x, dtype=torch.float32), torch.tensor(x, dtype=torch.float32), reduce=False)
    assert isinstance(per, torch.Tensor) and per.dtype == torch.float32 and per.shape == (3,)
    assert torch.allclose(per, torch.ones(3), atol=1e-6)


def test_agrees_with_scipy_reference_to_1e_6():
    rng = np.random.default_rng(1)
    ref = smooth_images(rng, 4, 24, 19)
    est = np.clip(ref + rng.normal(size=ref.shape) * np.array([0.01, 0.05, 0.2, 0.5])[:, None, None], 0, 1)
    want = np.array([reference_ssim(e, r) for e, r in zip(est, ref)])
    got = ssim(est, ref, reduce=False)
    assert isinstance(got, np.ndarray) and got.shape == (4,)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert ssim(est, ref) == pytest.approx(want.mean(), abs=1e-6)
    # torch float64 input: same numbers; another data range (8-bit images)
    t = ssim(torch.tensor(est), torch.tensor(ref), reduce=False)
    assert t.dtype == torch.float64
    np.testing.assert_allclose(t.numpy(), want, rtol=0, atol=1e-6)
    want255 = np.array([reference_ssim(255 * e, 255 * r, 255.0) for e, r in zip(est, ref)])
    np.testing.assert_allclose(ssim(255 * est, 255 * ref, 255.0, reduce=False), want255, rtol=0, atol=1e-6)
    np.testing.assert_allclose(want255, want, atol=1e-9)  # SSIM does not depend on the units
    # float32 torch input: computed in float64 inside, so the rounding of the input is all that differs
    t32 = ssim(torch.tensor(est, dtype=torch.float32), torch.tensor(ref, dtype=torch.float32), reduce=False)
    want32 = [reference_ssim(e, r) for e, r in zip(est.astype(np.float32), ref.astype(np.float32))]
    np.testing.assert_allclose(t32.numpy(), want32, rtol=0, atol=1e-6)


def test_channels_are_averaged_per_image_and_a_2d_input_is_one_image():
    rng = np.random.default_rng(2)
    ref = smooth_images(rng, 6, 13, 13)
    est = np.clip(ref + 0.1 * rng.normal(size=ref.shape), 0, 1)
    per = [reference_ssim(e, r) for e, r in zip(est, ref)]
    got = ssim(est.reshape(2, 3, 13, 13), ref.reshape(2, 3, 13, 13), reduce=False)
    np.testing.assert_allclose(got, [np.mean(per[:3]), np.mean(per[3:])], atol=1e-9)
    assert ssim(est[0], ref[0]) == pytest.approx(per[0], abs=1e-9)


def test_symmetric_and_decreasing_with_noise():
    rng = np.random.default_rng(3)
    ref = smooth_images(rng, 2, 32, 32)
    z = rng.normal(size=ref.shape)
    scores = [ssim(ref + s * z, ref) for s in (0.01, 0.03, 0.1, 0.3, 1.0)]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    assert scores[0] < 1.0 and scores[-1] < 0.2
    est = ref + 0.1 * z
    assert ssim(est, ref, reduce=False) == pytest.approx(ssim(ref, est, reduce=False), abs=1e-12)


def test_sensitive_to_structure_not_only_to_mse():
    """Same MSE, different SSIM: a constant brightness shift keeps the structure, noise destroys it."""
    rng = np.random.default_rng(4)
    ref = 0.25 + 0.5 * smooth_images(rng, 1, 32, 32)
    noise = rng.choice([-0.05, 0.05], size=ref.shape)  # MSE 0.0025, like the shift
    assert np.mean((ref + 0.05 - ref) ** 2) == pytest.approx(np.mean(noise**2))
    assert ssim(ref + 0.05, ref) > ssim(ref + noise, ref) + 0.2


def test_bad_input():
    x = np.zeros((2, 16, 16))
    with pytest.raises(ValueError, match="same shape"):
        ssim(x, np.zeros((2, 16, 17)))
    with pytest.raises(ValueError, match="data_range"):
        ssim(x, x, data_range=0)
    with pytest.raises(ValueError, match="data_range"):
        ssim(x, x, data_range=float("nan"))
    with pytest.raises(ValueError, match="at least 11"):
        ssim(np.zeros((2, 10, 16)), np.zeros((2, 10, 16)))
    with pytest.raises(ValueError, match="image"):
        ssim(np.zeros(16), np.zeros(16))
    bad = x.copy()
    bad[1, 3, 3] = np.nan
    with pytest.raises(ValueError, match="reference contains NaN"):
        ssim(x, bad)
    with pytest.raises(ValueError, match="estimate contains NaN"):
        ssim(torch.tensor(bad), torch.tensor(x))
