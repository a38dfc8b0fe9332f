"""Worked solutions for chapter 1 (denoising is Bayesian inference)."""
from __future__ import annotations

import numpy as np
from scipy.special import expit


def posterior_mean_two_points(y, sigma, a, b, w_a):
    """Exercise 1.1: E[x | y] for the prior x = a (probability w_a) or x = b (probability 1 - w_a),
    observed as y = x + sigma z.

    Bayes: P(x = a | y) ∝ w_a exp(-(y - a)^2 / (2 sigma^2)), and likewise for b (the common factor
    1 / (sigma sqrt(2 pi)) cancels). Working with log-weights and a logistic function (a softmax
    over two options) keeps it finite even when both exponentials underflow.
    """
    y = np.asarray(y, dtype=float)
    log_a = np.log(w_a) - (y - a) ** 2 / (2 * sigma**2)
    log_b = np.log(1 - w_a) - (y - b) ** 2 / (2 * sigma**2)
    p_a = expit(log_a - log_b)  # = e^log_a / (e^log_a + e^log_b)
    return p_a * a + (1 - p_a) * b


def score_from_denoiser(y, denoised, sigma):
    """Exercise 1.2: Tweedie/Miyasawa, E[x | y] = y + sigma^2 score, solved for the score."""
    return (np.asarray(denoised, dtype=float) - np.asarray(y, dtype=float)) / sigma**2


SOLUTIONS = {
    "check_posterior_mean_two_points": posterior_mean_two_points,
    "check_score_from_denoiser": score_from_denoiser,
}
