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


_TWO_POINT_MISTAKES = (
    ("ignores the weights: the masses are w_a at a and 1 - w_a at b",
     lambda y, sigma, a, b, w_a: PointMassPrior([a, b], [0.5, 0.5]).denoise(y, sigma)),
    ("swaps the weights: w_a is the mass at a, 1 - w_a the mass at b",
     lambda y, sigma, a, b, w_a: PointMassPrior([a, b], [1.0 - w_a, w_a]).denoise(y, sigma)),
)


def check_posterior_mean_two_points(fn, *, seed=None):
    """Exercise 1.1: ``fn(y, sigma, a, b, w_a)`` must return E[x | y] for the two-point prior
    (mass ``w_a`` at ``a``, ``1 - w_a`` at ``b``), an array shaped like ``y``."""
    return check_function(
        fn, _posterior_mean_two_points, _two_point_inputs, name="Exercise 1.1 (posterior_mean_two_points)",
        trials=5, rtol=1e-6, atol=1e-9, seed=seed, mistakes=_TWO_POINT_MISTAKES,
        hint="E[x | y] weighs a and b by w_a N(y; a, sigma**2) and (1 - w_a) N(y; b, sigma**2), divided by "
             "their sum; the Gaussians' normalising constants cancel, the weights do not",
        reference_name="scoretutor.toy.PointMassPrior([a, b], [w_a, 1 - w_a]).denoise")


def _score_inputs(rng: np.random.Generator):
    sigma = float(rng.uniform(0.05, 2.0))
    y = rng.normal(0.0, 2.0, size=20)
    denoised = y + rng.normal(0.0, sigma, size=20)
    return (y, denoised, sigma)


_SCORE_MISTAKES = (
    ("has the sign flipped: the score points from y towards the denoised value, (denoised - y) / sigma**2",
     lambda y, denoised, sigma: (y - denoised) / sigma**2),
    ("divides by sigma instead of sigma**2", lambda y, denoised, sigma: (denoised - y) / sigma),
)


def check_score_from_denoiser(fn, *, seed=None):
    """Exercise 1.2: ``fn(y, denoised, sigma)`` must return the score that the MMSE denoiser's
    output implies, (denoised - y) / sigma**2, an array shaped like ``y``."""
    return check_function(
        fn, _score_from_denoiser, _score_inputs, name="Exercise 1.2 (score_from_denoiser)",
        trials=5, rtol=1e-6, atol=1e-9, seed=seed, mistakes=_SCORE_MISTAKES,
        hint="Tweedie's formula reads denoised = y + sigma**2 * score, so score = (denoised - y) / sigma**2",
        reference_name="scoretutor.toy.score_from_denoiser")
