"""Checks for the exercises of chapter 2 (blind denoising and the coarse-to-fine sampler).

Each ``check_<name>(fn)`` runs the learner's ``fn`` against the library's own function on fresh
random inputs, prints a verdict and returns the function the notebook should go on with.
"""
from __future__ import annotations

import numpy as np

from ..schedule import step_size
from ..toy import PointMassPrior, log_uniform_grid
from ..toy import most_probable_sigma as _most_probable_sigma
from ..toy import sampler_step as _sampler_step
from . import check_function

__all__ = ["check_most_probable_sigma", "check_sampler_step"]


def _map_inputs(rng: np.random.Generator):
    k = int(rng.integers(2, 4))
    locations = np.sort(rng.uniform(-1.0, 2.0, size=k))
    weights = rng.dirichlet(np.ones(k))
    prior = PointMassPrior(locations, weights)
    y = rng.uniform(-2.0, 3.0, size=30)
    sigmas = log_uniform_grid(1e-3, 2.0, 200)
    return (prior, y, sigmas)


def _most_likely_sigma(prior, y, sigmas):
    """A known mistake: the maximum of the likelihood p_sigma(y), without the prior on sigma."""
    y, sigmas = np.asarray(y, dtype=float), np.asarray(sigmas, dtype=float)
    return sigmas[np.argmax(prior.log_density(y[..., None], sigmas), axis=-1)]


def check_most_probable_sigma(fn, *, seed=None):
    """Exercise 2.1: ``fn(prior, y, sigmas)`` must return, for every entry of ``y``, the grid
    value of ``sigmas`` that maximises p(sigma | y) ∝ p_sigma(y) / sigma (log-uniform prior): the
    most probable (MAP) noise level."""
    return check_function(
        fn, _most_probable_sigma, _map_inputs, name="Exercise 2.1 (most_probable_sigma)", trials=5,
        rtol=1e-9, atol=0.0, seed=seed,
        mistakes=(("maximises the likelihood p_sigma(y) alone: the log-uniform prior adds -log(sigma) to "
                   "the log-posterior", _most_likely_sigma),),
        hint="maximise log p_sigma(y) - log(sigma) over the grid, separately for each entry of y "
             "(prior.log_density(y[..., None], sigmas) gives the first term for all pairs at once)",
        reference_name="scoretutor.toy.most_probable_sigma")


def _step_inputs(rng: np.random.Generator):
    n_chains, n_pixels = 5, 4
    y = rng.normal(0.5, 1.0, size=(n_chains, n_pixels))
    denoised = y + rng.normal(0.0, rng.uniform(0.05, 1.0), size=(n_chains, n_pixels))
    t = int(rng.integers(1, 60))
    h0 = float(rng.uniform(0.005, 0.1))
    beta = float(rng.uniform(0.05, 1.0))
    z = rng.standard_normal((n_chains, n_pixels))
    return (y, denoised, t, h0, beta, z)


def _step_without_noise(y, denoised, t, h0, beta, z):
    return y + step_size(t, h0) * (denoised - y)


def _step_with_one_sigma(y, denoised, t, h0, beta, z):
    d = denoised - y
    h = step_size(t, h0)
    sigma = np.sqrt(np.mean(d**2))
    return y + h * d + sigma * np.sqrt((1 - beta * h) ** 2 - (1 - h) ** 2) * z


def check_sampler_step(fn, *, seed=None):
    """Exercise 2.2: ``fn(y, denoised, t, h0, beta, z)`` must return the sampler's next point
    y + h_t d + gamma_t z for arrays of shape (n_chains, n_pixels) (see ``scoretutor.toy.sampler_step``)."""
    return check_function(
        fn, _sampler_step, _step_inputs, name="Exercise 2.2 (sampler_step)", trials=5, rtol=1e-6, atol=1e-9,
        seed=seed,
        mistakes=(("adds no noise: the step is y + h_t d + gamma_t z", _step_without_noise),
                  ("estimates one sigma for all chains: each chain (row) has its own, ||d|| / sqrt(N) over "
                   "its pixels (axis -1)", _step_with_one_sigma)),
        hint="d = denoised - y, h_t = h0 t / (1 + h0 (t - 1)), sigma = ||d|| / sqrt(N) per chain (over axis -1, "
             "keepdims), gamma_t = sigma sqrt((1 - beta h_t)**2 - (1 - h_t)**2)",
        reference_name="scoretutor.toy.sampler_step")
