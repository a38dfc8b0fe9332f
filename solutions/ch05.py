"""Worked solutions for chapter 5's exercises (learning the score by denoising)."""
import numpy as np
import torch


def noisy_targets(target, generator):
    """Exercise 5.1: one noise level per image with sqrt(sigma) ~ U(0, 1), then Gaussian noise on the target."""
    u = torch.rand(target.shape[0], generator=generator)
    sigma = u**2
    z = torch.randn(target.shape, generator=generator)
    return target + sigma.view(-1, 1, 1, 1) * z


def psnr(estimate, reference, peak):
    """Exercise 5.2: mean over images of 10 log10(peak^2 / MSE), the MSE taken per image."""
    err = np.asarray(estimate, dtype=float) - np.asarray(reference, dtype=float)
    mse = (err**2).reshape(err.shape[0], -1).mean(axis=1)
    return float(np.mean(10 * np.log10(peak**2 / mse)))


SOLUTIONS = {
    "check_noisy_targets": noisy_targets,
    "check_psnr": psnr,
}
