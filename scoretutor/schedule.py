"""The schedule of the coarse-to-fine stochastic sampler (Kadkhodaie & Simoncelli 2021). Taught in chapter 2.

Each step of the sampler moves the current point ``y`` a fraction ``h_t`` of the way along the
denoiser's residual ``d_t = f(y) - y`` and adds fresh Gaussian noise of standard deviation
``gamma_t``. :func:`step_size` and :func:`injected_noise` fix ``h_t`` and ``gamma_t``;
:func:`ideal_noise_levels` is the schedule an ideal chain follows, hence its number of network
evaluations. The one-dimensional sampler of :mod:`scoretutor.toy` (chapter 2) and the network's
video-frame sampler of :mod:`scoretutor.sampling` (chapter 6) both import them, so that both follow
exactly the same schedule. This module needs NumPy only (a torch tensor works, but torch is not
imported).

:func:`step_size` and :func:`injected_noise` accept Python floats, NumPy arrays and torch tensors,
and return the same kind.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import checks

__all__ = ["step_size", "injected_noise", "ideal_noise_levels"]


def _any(mask) -> bool:
    """``mask.any()`` for a float's, an array's or a tensor's comparison result."""
    return bool(mask.any()) if hasattr(mask, "any") else bool(mask)


def _as_numeric(x, name: str):
    """Leave floats, arrays and tensors alone; turn lists into float arrays; reject the rest."""
    if isinstance(x, bool):
        raise ValueError(f"{name} must be a number, an array or a tensor, got {x!r}")
    if isinstance(x, numbers.Real):
        return x
    if hasattr(x, "detach") or isinstance(x, np.ndarray):  # torch tensor or numpy array
        return x
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, an array or a tensor, got {x!r}") from None


def step_size(t, h0: float):
    """Step size of the sampler at step ``t`` = 1, 2, ...: ``h0 * t / (1 + h0 * (t - 1))``.

    Starts at ``h0`` for ``t = 1`` and grows towards 1 as ``t`` grows: small cautious steps while
    the noise is large, nearly full denoising steps at the end. ``t`` is an int, a float, an
    array or a tensor (values >= 1); ``h0`` is a float in (0, 1]. Returns the same kind as ``t``,
    with values in (0, 1]. Taught in chapter 2; the network sampler of chapter 6 uses it too.
    """
    checks.unit_interval(h0, "h0")
    t = _as_numeric(t, "t")
    if _any(t < 1):
        raise ValueError(f"t must be >= 1 (steps are counted from 1), got {t!r}")
    return h0 * t / (1 + h0 * (t - 1))


def injected_noise(sigma, h, beta: float):
    """Standard deviation of the fresh noise added at one sampler step:
    ``sigma * sqrt((1 - beta*h)**2 - (1 - h)**2)``.

    After a step of size ``h`` along the residual the remaining noise is about ``(1 - h) * sigma``;
    adding independent noise of this size brings it to ``(1 - beta*h) * sigma``, so the effective
    noise level falls by the factor ``1 - beta*h`` per step. ``beta = 1`` adds nothing
    (deterministic ascent); smaller ``beta`` adds more (more exploration, more steps).

    ``sigma`` (>= 0, the current noise estimate) and ``h`` (in (0, 1], from :func:`step_size`) are
    floats, arrays or tensors that broadcast; ``beta`` is a float in (0, 1]. Returns the same kind,
    values >= 0, in the units of ``sigma``. Taught in chapter 2; used again in chapter 6.
    """
    checks.unit_interval(beta, "beta")
    sigma = _as_numeric(sigma, "sigma")
    h = _as_numeric(h, "h")
    if _any(sigma < 0):
        raise ValueError(f"sigma must be >= 0, got {sigma!r}")
    if _any(h <= 0) or _any(h > 1):
        raise ValueError(f"h must be in (0, 1], got {h!r}")
    # (1 - beta h)^2 - (1 - h)^2 = h (1 - beta) (2 - h (1 + beta)) >= 0: the factored form is exact
    # at beta = 1 (no rounding below zero).
    variance_factor = h * (1 - beta) * (2 - h * (1 + beta))
    root = math.sqrt(variance_factor) if isinstance(variance_factor, numbers.Real) else variance_factor ** 0.5
    return sigma * root


def ideal_noise_levels(h0: float, beta: float, sigma0: float = 1.0, sigma_stop: float = 0.01,
                       max_steps: int = 1000) -> np.ndarray:
    """The noise levels sigma_1, sigma_2, ... that a chain measures if each step does exactly what
    :func:`injected_noise` is designed for: sigma_1 = ``sigma0`` and sigma_{t+1} = sigma_t (1 - beta h_t),
    with h_t = :func:`step_size` (t, h0). Taught in chapter 6.

    The list ends with the first level below ``sigma_stop`` (the evaluation that stops the chain), or
    after ``max_steps`` levels, so its length is the ideal number of network evaluations (NFE) of
    :func:`scoretutor.sampling.sample` with the same settings. ``h0``, ``beta`` in (0, 1]; ``sigma0``,
    ``sigma_stop`` > 0 and finite (pixel units); ``max_steps`` >= 1. Returns a float64 NumPy array,
    decreasing, of length NFE.
    """
    checks.unit_interval(h0, "h0")
    checks.unit_interval(beta, "beta")
    sigma0 = checks.positive(sigma0, "sigma0")
    sigma_stop = checks.positive(sigma_stop, "sigma_stop")
    max_steps = checks.integer(max_steps, "max_steps", 1)
    levels = [sigma0]
    while levels[-1] >= sigma_stop and len(levels) < max_steps:
        t = len(levels)
        levels.append(levels[-1] * (1 - beta * step_size(t, h0)))
    return np.array(levels, dtype=np.float64)
