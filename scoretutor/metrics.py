"""Peak signal-to-noise ratio and the denoising table (input vs output PSNR). Taught in chapter 5.

``PSNR = 10 log10(peak**2 / MSE)`` in decibels, with ``peak`` the pixel range (1 for frames in [0, 1]).
The structural similarity :func:`ssim` (Wang et al. 2004) is taught in chapter 7.
The sharpness of a frame, :func:`sharpness` (root-mean-square gradient), is taught in chapter 6.
"""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["psnr", "ssim", "sharpness", "denoising_table", "common_target_table", "format_table",
           "TABLE_SIGMAS"]

#: the noise levels that every denoising table reports: the model cards, chapters 5 and 7, ``evaluate``
TABLE_SIGMAS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
_MIN_MSE = 1e-10  # PSNR is capped at 100 dB for peak 1 (an exact match would be +inf)


def psnr(estimate, reference, peak: float = 1.0, *, reduce: bool = True):
    """PSNR in dB of ``estimate`` against ``reference`` (same shape; torch tensors or NumPy arrays).

    The first axis indexes images; each image's MSE is taken over all other axes (a 2-D input
    ``(H, W)`` counts as one image). Returns the mean over images as a float (``reduce=True``) or
    the per-image values (a tensor or array like the inputs, shape ``(B,)``). The MSE is floored at
    ``1e-10 * peak**2`` so an exact match gives 100 dB rather than infinity. Taught in chapter 5.
    """
    is_torch = isinstance(estimate, torch.Tensor) or isinstance(reference, torch.Tensor)
    if is_torch:
        est = torch.as_tensor(estimate).detach().float()
        ref = torch.as_tensor(reference).detach().float().to(est.device)
    else:
        est = np.asarray(estimate, dtype=np.float64)
        ref = np.asarray(reference, dtype=np.float64)
    if tuple(est.shape) != tuple(ref.shape):
        raise ValueError(f"estimate and reference must have the same shape, got {tuple(est.shape)} and {tuple(ref.shape)}")
    if not (isinstance(peak, (int, float)) and peak > 0 and math.isfinite(peak)):
        raise ValueError(f"peak must be a positive finite number, got {peak!r}")
    if est.ndim < 2:
        raise ValueError(f"estimate must be an image (H, W) or a batch of images (B, ...), got shape {tuple(est.shape)}")
    if est.ndim == 2:
        est, ref = est[None], ref[None]
    if is_torch:
        mse = ((est - ref) ** 2).flatten(1).mean(dim=1).clamp_min(_MIN_MSE * peak**2)
        values = 10.0 * torch.log10(peak**2 / mse)
        return float(values.mean()) if reduce else values
    mse = np.maximum(((est - ref) ** 2).reshape(est.shape[0], -1).mean(axis=1), _MIN_MSE * peak**2)
    values = 10.0 * np.log10(peak**2 / mse)
    return float(values.mean()) if reduce else values


#: SSIM constants of Wang et al. (2004): Gaussian window side and width (pixels), and K1, K2
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


def _ssim_window() -> torch.Tensor:
    """The normalised 1-D Gaussian of the SSIM window (float64, length 11); the 2-D window is its outer product."""
    r = torch.arange(SSIM_WINDOW, dtype=torch.float64) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-(r**2) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def _ssim_band(n: int) -> torch.Tensor:
    """The ``(n, n - 10)`` float64 matrix whose product with a length-``n`` signal is its "valid" filtering by
    the SSIM Gaussian: column ``o`` holds the window on rows ``o`` to ``o + 10``."""
    band = torch.zeros(n, n - SSIM_WINDOW + 1, dtype=torch.float64)
    g = _ssim_window()
    for o in range(n - SSIM_WINDOW + 1):
        band[o:o + SSIM_WINDOW, o] = g
    return band


def ssim(estimate, reference, data_range: float = 1.0, *, reduce: bool = True):
    """Structural similarity (SSIM) of ``estimate`` against ``reference``, after Wang et al. (2004).

    Local means, variances and covariance are Gaussian-weighted (11×11 window, sigma 1.5 pixels,
    weights summing to 1; no sample-size correction), and at each position of the window inside the
    image ("valid" region, ``(H - 10) × (W - 10)`` positions)
    ``SSIM = (2 mu_x mu_y + C1)(2 cov_xy + C2) / ((mu_x**2 + mu_y**2 + C1)(var_x + var_y + C2))``
    with ``C1 = (0.01 R)**2``, ``C2 = (0.03 R)**2`` and ``R = data_range`` (1 for frames in [0, 1]).
    An image's SSIM is the mean over those positions; 1 means identical, lower is less similar.

    Shapes follow :func:`psnr`: the first axis indexes images, the last two are height and width
    (at least 11 each), any axes between them (channels) are averaged; a 2-D input ``(H, W)`` is one
    image. Torch tensors or NumPy arrays of the same shape; computed in float64 on the CPU. Returns
    the mean over images as a float (``reduce=True``) or the per-image values, shape ``(B,)`` (a
    float64 NumPy array, or a tensor on the input's device, float64 for float64 input, else float32).
    Taught in chapter 7.
    """
    is_torch = isinstance(estimate, torch.Tensor) or isinstance(reference, torch.Tensor)
    out_device = next((a.device for a in (estimate, reference) if isinstance(a, torch.Tensor)), None)
    out_dtype = torch.float64 if any(isinstance(a, torch.Tensor) and a.dtype == torch.float64
                                     for a in (estimate, reference)) else torch.float32
    est = torch.as_tensor(estimate).detach().to("cpu", torch.float64)
    ref = torch.as_tensor(reference).detach().to("cpu", torch.float64)
    if tuple(est.shape) != tuple(ref.shape):
        raise ValueError(f"estimate and reference must have the same shape, got {tuple(est.shape)} and {tuple(ref.shape)}")
    if not (isinstance(data_range, (int, float)) and not isinstance(data_range, bool)
            and data_range > 0 and math.isfinite(data_range)):
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    if est.ndim < 2:
        raise ValueError(f"estimate must be an image (H, W) or a batch of images (B, ..., H, W), got shape {tuple(est.shape)}")
    if est.shape[-2] < SSIM_WINDOW or est.shape[-1] < SSIM_WINDOW:
        raise ValueError(f"images must be at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels (the SSIM window), "
                         f"got {est.shape[-2]}×{est.shape[-1]}")
    for name, t in (("estimate", est), ("reference", ref)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or infinite values")
    if est.ndim == 2:
        est, ref = est[None], ref[None]
    n_images, h, w = est.shape[0], est.shape[-2], est.shape[-1]
    x, y = est.reshape(-1, 1, h, w), ref.reshape(-1, 1, h, w)
    # "valid" Gaussian filtering as two banded matrix products, band[i, o] = g[i - o]: (H, H-10) and (W, W-10)
    band_h, band_w = _ssim_band(h), _ssim_band(w)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    means = []
    for i in range(0, x.shape[0], 2048):  # chunks bound the memory of the five local statistics
        xi, yi = x[i:i + 2048], y[i:i + 2048]
        stats = torch.cat([xi, yi, xi * xi, yi * yi, xi * yi])
        mu_x, mu_y, xx, yy, xy = (band_h.T @ stats @ band_w).chunk(5)
        var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
        local = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
        means.append(local.flatten(1).mean(dim=1))
    values = torch.cat(means).view(n_images, -1).mean(dim=1)  # average the channels of each image
    if reduce:
        return float(values.mean())
    return values.to(out_device, out_dtype) if is_torch else values.numpy()


@torch.no_grad()
def denoising_table(model, frames, k: int | None = None, sigmas=TABLE_SIGMAS, seed: int = 0,
                    *, batch_size: int = 512, device=None, progress: str | None = None) -> list[dict]:
    """Input and output PSNR of ``model`` per noise level, on all (past, next frame) pairs of ``frames``.

    Args:
        model: a :class:`scoretutor.unet.UNet` (put in eval mode here).
        frames: held-out sequences, float32 ``(N, T, H, W)`` in [0, 1] (NumPy or torch).
        k: number of past frames; must equal ``model.k`` (default: ``model.k``).
        sigmas: noise standard deviations (pixel units).
        seed: seed of the noise; the same ``z`` is scaled by each ``sigma``.
        progress: the label of a tqdm bar over the noise levels (on stderr), or None for no bar.

    Returns one dict per sigma: ``{"sigma", "input_psnr", "output_psnr"}`` (mean per-image dB). For a
    prediction-only model the output ignores the observation (same output PSNR at every sigma).
    Taught in chapter 5.
    """
    from .data.pairs import pair_windows
    from .unet import UNet, apply_in_batches, stack_inputs

    if not isinstance(model, UNet):
        raise TypeError(f"model must be a scoretutor.unet.UNet, got {type(model).__name__}")
    if k is None:
        k = model.k
    if k != model.k:
        raise ValueError(f"k={k} does not match the model's k={model.k}")
    frames = torch.as_tensor(np.asarray(frames, dtype=np.float32)) if not isinstance(frames, torch.Tensor) else frames.float()
    if frames.dim() != 4 or frames.shape[1] <= k:
        raise ValueError(f"frames must have shape (N, T, H, W) with T > k={k}, got {tuple(frames.shape)}")
    sigmas = [float(s) for s in np.atleast_1d(np.asarray(sigmas, dtype=float))]
    if not sigmas or any(not (s >= 0 and math.isfinite(s)) for s in sigmas):
        raise ValueError(f"sigmas must be non-negative finite numbers, got {sigmas}")
    if device is None:
        device = next(model.parameters()).device
    model.eval()
    index = torch.arange(frames.shape[0] * (frames.shape[1] - k))
    past, target = pair_windows(frames, k, index)
    z = torch.randn(target.shape, generator=torch.Generator().manual_seed(int(seed)))
    rows = []
    if progress is not None:
        from tqdm.auto import tqdm

        sigmas = tqdm(sigmas, desc=progress, unit="σ", leave=False)
    for s in sigmas:
        noisy = target + s * z
        out = apply_in_batches(
            lambda p, y: model(stack_inputs(p, None if model.prediction_only else y).to(device)).float().cpu(),
            past, noisy, batch_size=batch_size)
        rows.append({
            "sigma": s,
            "input_psnr": psnr(noisy, target),
            "output_psnr": psnr(out, target),
        })
    return rows


def common_target_table(model, clips, sigmas=TABLE_SIGMAS, seed: int = 0, *, batch_size: int = 512,
                        device=None, progress: str | None = None) -> list[dict]:
    """:func:`denoising_table` on common targets: the **last frame** of every clip, seen through the
    ``model.k`` frames before it, so that networks with different ``k`` (and a prediction-only one) are
    scored on the same target frames with the same noise ``sigma z`` (``z`` drawn from ``seed`` for
    one target per clip), as figure 6 compares them. Taught in chapter 7.

    ``clips``: ``(N, T, H, W)`` in [0, 1], ``T > model.k``. Returns one row per sigma, like
    :func:`denoising_table`: the input PSNR is the same for every model given the same clips.
    """
    from .unet import UNet

    if not isinstance(model, UNet):
        raise TypeError(f"model must be a scoretutor.unet.UNet, got {type(model).__name__}")
    shape = tuple(getattr(clips, "shape", np.shape(clips)))
    if len(shape) != 4 or shape[1] <= model.k:
        raise ValueError(f"clips must have shape (N, T, H, W) with T > k={model.k}, got {shape}")
    last = clips[:, shape[1] - 1 - model.k:]
    return denoising_table(model, last, sigmas=sigmas, seed=seed, batch_size=batch_size, device=device,
                           progress=progress)


def format_table(rows: list[dict]) -> str:
    """A plain-text table of :func:`denoising_table` rows (PSNR to 2 decimals). Taught in chapter 5."""
    lines = [f"{'sigma':>7}  {'input PSNR':>10}  {'output PSNR':>11}  {'gain':>6}"]
    for r in rows:
        gain = r["output_psnr"] - r["input_psnr"]
        lines.append(f"{r['sigma']:>7g}  {r['input_psnr']:>10.2f}  {r['output_psnr']:>11.2f}  {gain:>+6.2f}")
    return "\n".join(lines)


def sharpness(images):
    """Sharpness of images: the root-mean-square gradient, ``sqrt(mean(dx**2) + mean(dy**2))``, where
    ``dx`` and ``dy`` are the differences between horizontally and vertically neighbouring pixels (each
    mean over its own ``H x (W - 1)`` or ``(H - 1) x W`` differences). Taught in chapter 6.

    Blurring spreads an edge over more pixels: a step of height ``a`` spread over ``w`` pixels gives
    ``w`` differences of ``a / w``, whose absolute values still sum to ``a`` (so the *mean absolute*
    gradient hardly changes) but whose squares sum to ``a**2 / w``: the root-mean-square gradient
    falls as ``1 / sqrt(w)``. A vertical step of height ``a`` in an ``H x W`` image has sharpness
    ``a / sqrt(W - 1)``; a uniform image 0. Units: luminance per pixel. Noise raises it too, so compare
    denoised frames (samples, estimates), not noisy observations.

    ``images``: ``(..., H, W)`` with ``H, W >= 2``, a NumPy array or a torch tensor. Returns one value
    per image, shape ``images.shape[:-2]``: a float64 NumPy array (a float for a single ``(H, W)``
    image) or a tensor of the input's floating dtype (float32 for integer input) on its device. An
    image containing NaN has NaN sharpness.
    """
    if isinstance(images, torch.Tensor):
        x = images.detach()
        x = x if x.is_floating_point() else x.float()
        mean_sq = lambda d: d.pow(2).mean(dim=(-2, -1))  # noqa: E731
        sqrt = torch.sqrt
    else:
        try:
            x = np.asarray(images, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"images must be a NumPy array or a torch tensor of pixels, got {type(images).__name__}") from None
        mean_sq = lambda d: (d**2).mean(axis=(-2, -1))  # noqa: E731
        sqrt = np.sqrt
    if x.ndim < 2 or x.shape[-2] < 2 or x.shape[-1] < 2:
        raise ValueError(f"images must have shape (..., H, W) with H, W >= 2, got {tuple(x.shape)}")
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    value = sqrt(mean_sq(dx) + mean_sq(dy))
    return float(value) if not isinstance(value, torch.Tensor) and np.ndim(value) == 0 else value
