"""Peak signal-to-noise ratio and the denoising table (input vs output PSNR). Taught in chapter 5.

``PSNR = 10 log10(peak**2 / MSE)`` in decibels, with ``peak`` the pixel range (1 for frames in [0, 1]).
"""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["psnr", "denoising_table", "format_table", "ACCEPTANCE_SIGMAS"]

#: the noise levels of the acceptance table (issue 4)
ACCEPTANCE_SIGMAS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
_MIN_MSE = 1e-10  # PSNR is capped at 100 dB for peak 1 (an exact match would be +inf)


def psnr(estimate, reference, peak: float = 1.0, *, reduce: bool = True):
    """PSNR in dB of ``estimate`` against ``reference`` (same shape; torch tensors or NumPy arrays).

    The first axis indexes images; each image's MSE is taken over all other axes (a 2-D input
    ``(H, W)`` counts as one image). Returns the mean over images as a float (``reduce=True``) or
    the per-image values (a tensor or array like the inputs, shape ``(B,)``). The MSE is floored at
    ``1e-10 * peak**2`` so an exact match gives 100 dB rather than infinity.
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


@torch.no_grad()
def denoising_table(model, frames, k: int | None = None, sigmas=ACCEPTANCE_SIGMAS, seed: int = 0,
                    *, batch_size: int = 512, device=None) -> list[dict]:
    """Input and output PSNR of ``model`` per noise level, on all (past, next frame) pairs of ``frames``.

    Args:
        model: a :class:`scoretutor.unet.UNet` (put in eval mode here).
        frames: held-out sequences, float32 ``(N, T, H, W)`` in [0, 1] (NumPy or torch).
        k: number of past frames; must equal ``model.k`` (default: ``model.k``).
        sigmas: noise standard deviations (pixel units).
        seed: seed of the noise; the same ``z`` is scaled by each ``sigma``.

    Returns one dict per sigma: ``{"sigma", "input_psnr", "output_psnr"}`` (mean per-image dB). For a
    prediction-only model the output ignores the observation (same output PSNR at every sigma).
    """
    from .datasets import pair_windows
    from .unet import UNet, stack_inputs

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
    for s in sigmas:
        noisy = target + s * z
        outs = []
        for i in range(0, target.shape[0], batch_size):
            x = stack_inputs(past[i:i + batch_size], None if model.prediction_only else noisy[i:i + batch_size])
            outs.append(model(x.to(device)).float().cpu())
        out = torch.cat(outs)
        rows.append({
            "sigma": s,
            "input_psnr": psnr(noisy, target),
            "output_psnr": psnr(out, target),
        })
    return rows


def format_table(rows: list[dict]) -> str:
    """A plain-text table of :func:`denoising_table` rows (PSNR to 2 decimals)."""
    lines = [f"{'sigma':>7}  {'input PSNR':>10}  {'output PSNR':>11}  {'gain':>6}"]
    for r in rows:
        gain = r["output_psnr"] - r["input_psnr"]
        lines.append(f"{r['sigma']:>7g}  {r['input_psnr']:>10.2f}  {r['output_psnr']:>11.2f}  {gain:>+6.2f}")
    return "\n".join(lines)
