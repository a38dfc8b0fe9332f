"""Checks for chapter 5's exercises (learning the score by denoising). Each runs the learner's function
and the library's own on fresh random inputs and returns the function the notebook should go on with."""
from __future__ import annotations

import numpy as np
import torch

from .. import metrics
from ..training import add_noise, sample_sigmas
from . import check_function as _check_function  # private name: only check_<exercise> names are public

__all__ = ["check_noisy_targets", "check_psnr"]


def _library_noisy_targets(target: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The library's training noise: ``sample_sigmas`` then ``add_noise``, both from ``generator``."""
    sigma = sample_sigmas(target.shape[0], generator=generator)
    return add_noise(target, sigma, generator=generator)


def _noisy_sigma_u(target: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    sigma = torch.rand(target.shape[0], generator=generator)
    return add_noise(target, sigma, generator=generator)


def _noisy_z_first(target: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    z = torch.randn(target.shape, generator=generator)
    sigma = torch.rand(target.shape[0], generator=generator) ** 2
    return target + sigma.view(-1, 1, 1, 1) * z


def check_noisy_targets(fn, *, seed=None):
    """Exercise 5.1: ``fn(target, generator)`` -> noisy targets ``target + sigma * z`` for a batch
    ``target (B, 1, H, W)``, with one ``sigma = u**2`` per image, ``u = torch.rand(B, generator=generator)``,
    then ``z = torch.randn(target.shape, generator=generator)`` (reference:
    :func:`scoretutor.training.sample_sigmas` and :func:`scoretutor.training.add_noise`). Both
    functions get a fresh generator with the same seed, so the same draws in the same order agree."""

    def seeded(f):
        return lambda target, seed: f(target, torch.Generator().manual_seed(seed))

    def inputs(rng):
        b, h, w = int(rng.integers(1, 9)), int(rng.integers(2, 9)), int(rng.integers(2, 9))
        target = torch.from_numpy(rng.uniform(size=(b, 1, h, w)).astype(np.float32))
        return (target, int(rng.integers(2**31)))

    learner = seeded(fn)
    chosen = _check_function(
        learner, seeded(_library_noisy_targets), inputs, name="Exercise 5.1 (noisy_targets)", trials=6,
        rtol=1e-5, atol=1e-6, seed=seed,
        reference_name="scoretutor.training.sample_sigmas, then scoretutor.training.add_noise",
        mistakes=(("uses sigma = u: the noise law is sqrt(sigma) ~ U(0, 1), so sigma = u**2",
                   seeded(_noisy_sigma_u)),
                  ("draws z before u: one generator gives other numbers in another order",
                   seeded(_noisy_z_first))),
        hint="u = torch.rand(B, generator=generator) first, sigma = u**2, then z = torch.randn(target.shape, "
             "generator=generator), and each image's z scaled by its own sigma (sigma.view(-1, 1, 1, 1))")
    return fn if chosen is learner else _library_noisy_targets


def _psnr_of_mean_mse(estimate, reference, peak):
    mse = np.mean((np.asarray(estimate, dtype=float) - np.asarray(reference, dtype=float)) ** 2)
    return 10 * np.log10(peak**2 / mse)


def check_psnr(fn, *, seed=None):
    """Exercise 5.2: ``fn(estimate, reference, peak)`` -> the mean over images of each image's PSNR in dB,
    ``10 log10(peak**2 / MSE)``, for NumPy arrays ``(B, H, W)`` (reference: :func:`scoretutor.metrics.psnr`).
    The trials mix peaks 1 (frames in [0, 1]) and 255 (8-bit images), and images with very different
    noise, so that averaging the MSE before the logarithm is caught."""

    def inputs(rng):
        b, h, w = int(rng.integers(2, 6)), int(rng.integers(4, 12)), int(rng.integers(4, 12))
        peak = float(rng.choice([1.0, 255.0]))
        reference = rng.uniform(size=(b, h, w)) * peak
        noise = rng.normal(size=(b, h, w)) * np.geomspace(0.003, 0.3, b)[:, None, None] * peak
        return (reference + noise, reference, peak)

    def reference_psnr(estimate, reference, peak):
        return metrics.psnr(estimate, reference, peak=peak)

    return _check_function(
        fn, reference_psnr, inputs, name="Exercise 5.2 (psnr)", trials=6, rtol=1e-6, atol=1e-6, seed=seed,
        reference_name="scoretutor.metrics.psnr",
        mistakes=(("averages the MSE over the batch before the logarithm: take each image's PSNR, then their "
                   "mean", _psnr_of_mean_mse),
                  ("ignores peak (the trials use peaks 1 and 255)",
                   lambda estimate, reference, peak: metrics.psnr(estimate, reference, peak=1.0))),
        hint="each image's MSE over its own pixels (axes 1 and 2), its PSNR 10 log10(peak**2 / MSE), then the "
             "mean of the PSNRs in dB")
