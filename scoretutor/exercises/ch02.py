"""Checks for the exercises of chapter 2 (blind denoising and the coarse-to-fine sampler).

Each ``check_<name>(fn)`` runs the learner's ``fn`` against the library's own function on fresh
random inputs, prints a verdict and returns the function the notebook should go on with.
"""
from __future__ import annotations

import numpy as np

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


def check_most_probable_sigma(fn):
    """Exercise 2.1: ``fn(prior, y, sigmas)`` must return, for every entry of ``y``, the grid
    value of ``sigmas`` that maximises p(sigma | y) ∝ p_sigma(y) / sigma (log-uniform prior): the
    most probable (MAP) noise level."""
    return check_function(fn, _most_probable_sigma, _map_inputs, name="most_probable_sigma", trials=5,
                          rtol=1e-9, atol=0.0)


def _step_inputs(rng: np.random.Generator):
    n_chains, n_pixels = 5, 4
    y = rng.normal(0.5, 1.0, size=(n_chains, n_pixels))
    denoised = y + rng.normal(0.0, rng.uniform(0.05, 1.0), size=(n_chains, n_pixels))
    t = int(rng.integers(1, 60))
    h0 = float(rng.uniform(0.005, 0.1))
    beta = float(rng.uniform(0.05, 1.0))
    z = rng.standard_normal((n_chains, n_pixels))
    return (y, denoised, t, h0, beta, z)


def check_sampler_step(fn):
    """Exercise 2.2: ``fn(y, denoised, t, h0, beta, z)`` must return the sampler's next point
    y + h_t d + gamma_t z for arrays of shape (n_chains, n_pixels) (see ``scoretutor.toy.sampler_step``)."""
    return check_function(fn, _sampler_step, _step_inputs, name="sampler_step", trials=5, rtol=1e-6, atol=1e-9)
