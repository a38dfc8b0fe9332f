"""Checks for the exercises of chapter 1 (denoising is Bayesian inference).

Each ``check_<name>(fn)`` runs the learner's ``fn`` against the library's own function on fresh
random inputs, prints a verdict and returns the function the notebook should go on with.
"""
from __future__ import annotations

import numpy as np

from ..toy import PointMassPrior
from ..toy import score_from_denoiser as _score_from_denoiser
from . import check_function

__all__ = ["check_posterior_mean_two_points", "check_score_from_denoiser"]


def _posterior_mean_two_points(y, sigma, a, b, w_a):
    """Reference: E[x | y] for x = a with probability w_a and x = b otherwise, y = x + sigma z."""
    return PointMassPrior([a, b], [w_a, 1.0 - w_a]).denoise(y, sigma)


def _two_point_inputs(rng: np.random.Generator):
    a, b = rng.uniform(-1.5, 1.5, size=2)
    w_a = float(rng.uniform(0.05, 0.95))
    sigma = float(rng.uniform(0.2, 2.0))
    y = rng.uniform(-3.0, 3.0, size=20)
    return (y, sigma, float(a), float(b), w_a)


def check_posterior_mean_two_points(fn):
    """Exercise 1.1: ``fn(y, sigma, a, b, w_a)`` must return E[x | y] for the two-point prior
    (mass ``w_a`` at ``a``, ``1 - w_a`` at ``b``), an array shaped like ``y``."""
    return check_function(fn, _posterior_mean_two_points, _two_point_inputs,
                          name="posterior_mean_two_points", trials=5, rtol=1e-6, atol=1e-9)


def _score_inputs(rng: np.random.Generator):
    sigma = float(rng.uniform(0.05, 2.0))
    y = rng.normal(0.0, 2.0, size=20)
    denoised = y + rng.normal(0.0, sigma, size=20)
    return (y, denoised, sigma)


def check_score_from_denoiser(fn):
    """Exercise 1.2: ``fn(y, denoised, sigma)`` must return the score that the MMSE denoiser's
    output implies, (denoised - y) / sigma**2, an array shaped like ``y``."""
    return check_function(fn, _score_from_denoiser, _score_inputs,
                          name="score_from_denoiser", trials=5, rtol=1e-6, atol=1e-9)
