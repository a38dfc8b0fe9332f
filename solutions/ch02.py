"""Worked solutions for chapter 2 (blind denoising and the coarse-to-fine sampler)."""
from __future__ import annotations

import numpy as np

from scoretutor.schedule import injected_noise, step_size


def most_probable_sigma(prior, y, sigmas):
    """Exercise 2.1: the most probable (MAP) noise level on a grid.

    p(sigma | y) ∝ p_sigma(y) p(sigma) with p(sigma) ∝ 1/sigma, so maximise
    log p_sigma(y) - log sigma over the grid, separately for every y.
    """
    y = np.asarray(y, dtype=float)
    sigmas = np.asarray(sigmas, dtype=float)
    log_post = prior.log_density(y[..., None], sigmas) - np.log(sigmas)  # shape (*y.shape, n_sigmas)
    return sigmas[np.argmax(log_post, axis=-1)]


def sampler_step(y, denoised, t, h0, beta, z):
    """Exercise 2.2: one step of the coarse-to-fine sampler on arrays of shape (n_chains, n_pixels)."""
    d = denoised - y                                           # residual, points towards the clean value
    sigma = np.sqrt(np.mean(d**2, axis=-1, keepdims=True))     # ||d|| / sqrt(N), one per chain
    h = step_size(t, h0)                                       # h0 t / (1 + h0 (t - 1))
    gamma = injected_noise(sigma, h, beta)                     # sigma sqrt((1 - beta h)^2 - (1 - h)^2)
    return y + h * d + gamma * z


SOLUTIONS = {
    "check_most_probable_sigma": most_probable_sigma,
    "check_sampler_step": sampler_step,
}
