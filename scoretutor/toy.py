"""Denoising, scores and sampling in one dimension, where everything has a closed form.

Chapter 1 uses the priors to show that the least-squares (MMSE) denoiser is the posterior mean
``E[x | y]`` and that it equals ``y + sigma**2 * score`` (Miyasawa 1961, Tweedie via Efron 2011),
and fits a tiny network to noisy samples to recover it (empirical Bayes). Chapter 2 builds the
blind denoiser that must infer ``sigma`` from ``y``, iterates it (basins of attraction), and runs
the stochastic coarse-to-fine sampler of Kadkhodaie & Simoncelli (2021) on a two-point prior,
both on single numbers and on small "images" of independent pixels that share one noise level.

Conventions: a clean value ``x`` drawn from a prior is observed as ``y = x + sigma * z`` with
``z ~ N(0, 1)``. The prior methods take NumPy arrays of any shape (``y`` and ``sigma``
broadcast) and return float64 arrays of the broadcast shape; ``sigma`` is a standard deviation
in the units of ``x`` and must be > 0. The sampler works on arrays of shape (n_chains, n_pixels).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import logsumexp, softmax

from . import checks
from .schedule import injected_noise, step_size

__all__ = [
    "PointMassPrior",
    "GaussianMixturePrior",
    "score_from_denoiser",
    "most_probable_sigma",
    "log_uniform_grid",
    "BlindDenoiser",
    "iterate",
    "noise_level",
    "sampler_step",
    "SamplerResult",
    "sample_chains",
    "MLPDenoiser",
    "train_mlp_denoiser",
]

_LOG_2PI = math.log(2 * math.pi)


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------
def _as_1d(values, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr}")
    return arr


def _check_weights(weights, n: int, what: str) -> np.ndarray:
    w = _as_1d(weights, "weights")
    if w.size != n:
        raise ValueError(f"weights has {w.size} entries but {what} has {n}: they must have the same length")
    if np.any(w < 0):
        raise ValueError(f"weights must be non-negative, got {w}")
    if not abs(w.sum() - 1.0) <= 1e-8:
        raise ValueError(f"weights must sum to 1, got sum {w.sum():.10g}")
    return w


def _as_array(y, name: str = "y") -> np.ndarray:
    try:
        arr = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an array of numbers, got {y!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _as_sigma(sigma, name: str = "sigma") -> np.ndarray:
    arr = _as_array(sigma, name)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0 (a noise standard deviation), got {sigma!r}")
    return arr


def _as_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (numbers.Integral, np.integer)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy Generator, an integer seed or None, got {rng!r}")


# --------------------------------------------------------------------------------------------
# Priors
# --------------------------------------------------------------------------------------------
class _GaussianMixture1D:
    """Shared closed forms for a prior that is a mixture of K Gaussians N(m_k, s_k^2) with
    weights w_k (point masses are the case s_k = 0). Blurring by N(0, sigma^2) gives the
    mixture of N(m_k, s_k^2 + sigma^2): everything below follows from that."""

    _centres: np.ndarray
    _spreads: np.ndarray
    weights: np.ndarray

    # -- helpers ------------------------------------------------------------------------------
    def _posterior(self, y, sigma):
        """Everything the closed forms need, for y and sigma broadcast against each other:
        the log density log p_sigma(y) (shape (*broadcast,)), the responsibilities r_k(y) (shape
        (*broadcast, K)), the per-component posterior means E[x | y, k], the component variances
        v_k = s_k^2 + sigma^2 and y with a trailing axis. Arrays are only as large as the broadcast
        shape needs (the sigma-only terms are computed once per sigma)."""
        y = _as_array(y)
        sigma = _as_sigma(sigma)
        yk = y[..., None]
        s2 = sigma[..., None] ** 2                      # (*sigma.shape, 1)
        v = self._spreads**2 + s2                       # (*sigma.shape, K)
        with np.errstate(divide="ignore"):  # a zero weight gives log 0 = -inf: probability 0
            log_norm = np.log(self.weights) - 0.5 * (_LOG_2PI + np.log(v))
        log_joint = log_norm - (yk - self._centres) ** 2 / (2 * v)
        top = np.max(log_joint, axis=-1, keepdims=True)
        e = np.exp(log_joint - top)
        total = np.sum(e, axis=-1, keepdims=True)
        log_p = (top + np.log(total))[..., 0]
        r = e / total
        if np.any(self._spreads):
            component_means = (s2 * self._centres + self._spreads**2 * yk) / v
        else:  # point masses: E[x | y, k] = mu_k
            component_means = self._centres
        return log_p, r, component_means, v, yk

    def _density_and_denoise(self, y, sigma):
        """(log_density, denoise) in one pass: what the blind denoiser needs on its sigma grid."""
        log_p, r, component_means, _, _ = self._posterior(y, sigma)
        return log_p, np.sum(r * component_means, axis=-1)

    # -- the closed forms ----------------------------------------------------------------------
    def log_density(self, y, sigma):
        """log p_sigma(y), the log density of the noisy observation (the prior blurred by a
        Gaussian of standard deviation sigma), computed stably (log-sum-exp). Chapter 1."""
        return self._posterior(y, sigma)[0]

    def density(self, y, sigma):
        """p_sigma(y) = exp(log_density(y, sigma)). Chapter 1."""
        return np.exp(self.log_density(y, sigma))

    def responsibilities(self, y, sigma):
        """Posterior probability of each component given y, shape (*broadcast, K), rows sum to 1
        (a softmax of the component log-likelihoods). Chapter 1."""
        return self._posterior(y, sigma)[1]

    def score(self, y, sigma):
        """d/dy log p_sigma(y) = sum_k r_k(y) (m_k - y) / (s_k^2 + sigma^2), in units 1/x. Chapter 1."""
        _, r, _, v, yk = self._posterior(y, sigma)
        return np.sum(r * (self._centres - yk) / v, axis=-1)

    def denoise(self, y, sigma):
        """The MMSE denoiser E[x | y] for known sigma, computed from the posterior itself:
        sum_k r_k(y) E[x | y, k], where E[x | y, k] = (sigma^2 m_k + s_k^2 y) / (s_k^2 + sigma^2)
        (just m_k for a point mass). Chapter 1 shows it equals y + sigma^2 score."""
        _, r, component_means, _, _ = self._posterior(y, sigma)
        return np.sum(r * component_means, axis=-1)

    def posterior_variance(self, y, sigma):
        """Var[x | y] (law of total variance over the components), in units x^2. Chapter 1."""
        _, r, component_means, v, _ = self._posterior(y, sigma)
        component_vars = self._spreads**2 * (v - self._spreads**2) / v
        mean = np.sum(r * component_means, axis=-1)
        second = np.sum(r * (component_vars + component_means**2), axis=-1)
        return np.maximum(second - mean**2, 0.0)  # clip rounding below zero

    # -- sampling and summaries ----------------------------------------------------------------
    def sample(self, n: int, rng=None) -> np.ndarray:
        """``n`` independent draws x from the prior, float64 array of shape (n,). ``rng``: a numpy
        Generator, an integer seed or None."""
        n = checks.integer(n, "n", 1)
        rng = _as_rng(rng)
        k = rng.choice(self.weights.size, size=n, p=self.weights)
        return self._centres[k] + self._spreads[k] * rng.standard_normal(n)

    def sample_noisy(self, n: int, sigma: float, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` pairs (x, y): x from the prior and y = x + sigma z. Two float64 arrays of shape (n,)."""
        rng = _as_rng(rng)
        sigma = _as_sigma(sigma)
        if sigma.ndim != 0:
            raise ValueError(f"sigma must be a single number here, got an array of shape {sigma.shape}")
        x = self.sample(n, rng)
        return x, x + sigma * rng.standard_normal(x.shape)

    @property
    def mean(self) -> float:
        """E[x] under the prior."""
        return float(np.sum(self.weights * self._centres))

    @property
    def variance(self) -> float:
        """Var[x] under the prior."""
        second = np.sum(self.weights * (self._spreads**2 + self._centres**2))
        return float(second - self.mean**2)


class PointMassPrior(_GaussianMixture1D):
    """A prior made of point masses: x = locations[k] with probability weights[k].

    The noisy density is p_sigma(y) = sum_k w_k N(y; mu_k, sigma^2), and the posterior mean
    E[x | y] = sum_k r_k(y) mu_k is a soft choice of the nearest likely mass. ``locations`` and
    ``weights`` are 1-D sequences of the same length; weights are >= 0 and sum to 1.
    Taught in chapter 1; the two-point prior drives chapter 2's sampler.
    """

    def __init__(self, locations, weights):
        self.locations = _as_1d(locations, "locations")
        self.weights = _check_weights(weights, self.locations.size, "locations")
        self._centres = self.locations
        self._spreads = np.zeros_like(self.locations)

    def __repr__(self) -> str:
        loc = ", ".join(f"{v:.4g}" for v in self.locations)
        w = ", ".join(f"{v:.4g}" for v in self.weights)
        return f"PointMassPrior(locations=[{loc}], weights=[{w}])"


class GaussianMixturePrior(_GaussianMixture1D):
    """A prior that is a mixture of Gaussians: x ~ sum_k w_k N(means[k], stds[k]^2).

    The noisy density is sum_k w_k N(y; m_k, s_k^2 + sigma^2). ``means``, ``stds`` (> 0) and
    ``weights`` (>= 0, summing to 1) are 1-D sequences of one length. Taught in chapter 1.
    """

    def __init__(self, means, stds, weights):
        self.means = _as_1d(means, "means")
        self.stds = _as_1d(stds, "stds")
        if self.stds.size != self.means.size:
            raise ValueError(f"stds has {self.stds.size} entries but means has {self.means.size}: "
                             "they must have the same length")
        if np.any(self.stds <= 0):
            raise ValueError(f"stds must be > 0 (use PointMassPrior for point masses), got {self.stds}")
        self.weights = _check_weights(weights, self.means.size, "means")
        self._centres = self.means
        self._spreads = self.stds

    def prior_log_density(self, x):
        """log p(x) of the clean prior itself (no noise), same shape as ``x``."""
        x = _as_array(x, "x")[..., None]
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights)
        v = self.stds**2
        return logsumexp(log_w - 0.5 * (_LOG_2PI + np.log(v)) - (x - self.means) ** 2 / (2 * v), axis=-1)

    def __repr__(self) -> str:
        fmt = lambda a: ", ".join(f"{v:.4g}" for v in a)  # noqa: E731
        head = f"GaussianMixturePrior(means=[{fmt(self.means)}], stds=[{fmt(self.stds)}],"
        tail = f"weights=[{fmt(self.weights)}])"
        # within the book's 88-column code column: a long one continues on a second line
        return f"{head} {tail}" if len(head) + len(tail) < 88 else f"{head}\n    {tail}"


# --------------------------------------------------------------------------------------------
# Tweedie / Miyasawa
# --------------------------------------------------------------------------------------------
def score_from_denoiser(y, denoised, sigma):
    """The score that a least-squares denoiser implies: (denoised - y) / sigma^2.

    By the Tweedie/Miyasawa identity, E[x | y] = y + sigma^2 d/dy log p_sigma(y), so the residual of
    the optimal denoiser divided by sigma^2 is exactly the score of the noisy density. ``y``,
    ``denoised`` and ``sigma`` (> 0) broadcast; returns an array in units 1/x. Taught in chapter 1.
    """
    y = _as_array(y)
    denoised = _as_array(denoised, "denoised")
    sigma = _as_sigma(sigma)
    return (denoised - y) / sigma**2


# --------------------------------------------------------------------------------------------
# Blind denoising: sigma unknown, log-uniform prior on it
# --------------------------------------------------------------------------------------------
def log_uniform_grid(sigma_min: float, sigma_max: float, n: int) -> np.ndarray:
    """``n`` noise levels evenly spaced in log sigma from ``sigma_min`` to ``sigma_max`` (both > 0).
    The natural grid for a log-uniform prior p(sigma) ∝ 1/sigma. Chapter 2."""
    lo = float(_as_sigma(sigma_min, "sigma_min"))
    hi = float(_as_sigma(sigma_max, "sigma_max"))
    if not hi > lo:
        raise ValueError(f"sigma_max must be larger than sigma_min, got {sigma_min!r} and {sigma_max!r}")
    n = checks.integer(n, "n", 1)
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    return np.exp(np.linspace(math.log(lo), math.log(hi), n))


def most_probable_sigma(prior, y, sigmas):
    """The most probable noise level (the MAP estimate), sigma_hat(y) = argmax_sigma p(sigma | y), on a grid.

    With the log-uniform prior p(sigma) ∝ 1/sigma, p(sigma | y) ∝ p_sigma(y) / sigma, so for each
    y this returns the grid value maximising ``prior.log_density(y, sigma) - log(sigma)`` (exact
    to the grid's resolution). ``prior``: a PointMassPrior or GaussianMixturePrior; ``y``: array of
    any shape; ``sigmas``: 1-D increasing grid of noise levels (> 0). Returns an array shaped like
    ``y``. For a single point mass at mu it is |y - mu| / sqrt(2). (A choice: the maximum of a
    density depends on the variable; in u = log sigma, where the prior is flat, it would be the
    maximum-likelihood level argmax p_sigma(y), |y - mu| for one mass.) Taught in chapter 2.
    """
    y = _as_array(y)
    sigmas = _as_sigma(sigmas, "sigmas")
    if sigmas.ndim != 1:
        raise ValueError(f"sigmas must be a 1-D grid of noise levels, got shape {sigmas.shape}")
    log_post = prior.log_density(y[..., None], sigmas) - np.log(sigmas)
    return sigmas[np.argmax(log_post, axis=-1)]


class BlindDenoiser:
    """The least-squares denoiser for a prior when the noise level is unknown.

    Noise levels are a priori log-uniform on [sigma_min, sigma_max], p(sigma) ∝ 1/sigma. The
    optimal blind denoiser averages the known-sigma denoisers over the posterior on sigma,

        f(y) = E[x | y] = ∫ E[x | y, sigma] p(sigma | y) dsigma,   p(sigma | y) ∝ p_sigma(y) / sigma,

    computed numerically: with u = log sigma the weight is simply p_sigma(y) du, integrated by the
    trapezoid rule on ``n_sigmas`` evenly spaced values of u. :meth:`plugin` is the cheaper
    approximation the paper describes: plug the MAP estimate sigma_hat(y) into the known-sigma
    denoiser.

    Two ways to see an observation. ``denoise(y)`` treats every entry of ``y`` as a separate
    scalar observation with its own unknown sigma (the one-dimensional picture). Calling the
    object, ``f(y)``, works like a network on a batch of images: ``y`` has shape (batch, n_pixels)
    and the n_pixels values of one row, drawn independently from the prior, share one unknown
    sigma, so the posterior on sigma pools the evidence of the whole row (p(sigma | y) ∝
    prod_i p_sigma(y_i) / sigma). With n_pixels = 1 both agree. Taught in chapter 2.
    """

    def __init__(self, prior, sigma_min: float = 1e-3, sigma_max: float = 1.0, n_sigmas: int = 121):
        if not isinstance(prior, _GaussianMixture1D):
            raise ValueError(f"prior must be a PointMassPrior or GaussianMixturePrior, got {prior!r}")
        self.prior = prior
        self.sigmas = log_uniform_grid(sigma_min, sigma_max, n_sigmas)
        trapezoid = np.ones(self.sigmas.size)
        trapezoid[[0, -1]] = 0.5
        self._log_quadrature = np.log(trapezoid)  # the constant spacing du cancels on normalising

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def _posterior_and_denoised(self, y, joint: bool):
        """Quadrature weights of p(sigma | y) (shape (*obs, n_sigmas)) and E[x | y, sigma] on the grid
        (shape (*y.shape, n_sigmas)); with ``joint`` the observations are the rows of y."""
        y = _as_array(y)
        log_p, denoised = self.prior._density_and_denoise(y[..., None], self.sigmas)
        if joint:
            if y.ndim < 2:
                raise ValueError("y must have shape (batch, n_pixels) when the pixels of a row share sigma; "
                                 f"got shape {y.shape} (for separate scalar observations use .denoise(y))")
            log_p = np.sum(log_p, axis=-2)  # independent pixels: their likelihoods multiply
        return softmax(log_p + self._log_quadrature, axis=-1), denoised

    def sigma_posterior(self, y, joint: bool = False) -> np.ndarray:
        """Quadrature weights of p(sigma | y) on ``self.sigmas``, each row summing to 1: shape
        (*y.shape, n_sigmas), or (*y.shape[:-1], n_sigmas) with ``joint`` (rows share sigma)."""
        return self._posterior_and_denoised(y, joint)[0]

    def denoise(self, y) -> np.ndarray:
        """The blind MMSE estimate E[x | y] of every entry of ``y`` on its own (sigma integrated
        out), shaped like ``y``."""
        post, denoised = self._posterior_and_denoised(y, joint=False)
        return np.sum(post * denoised, axis=-1)

    def __call__(self, y) -> np.ndarray:
        """Denoise a batch of observations of shape (batch, n_pixels) whose pixels share one
        unknown sigma (like a network on a batch of images); returns the same shape."""
        post, denoised = self._posterior_and_denoised(y, joint=True)
        return np.sum(post[..., None, :] * denoised, axis=-1)

    def residual(self, y) -> np.ndarray:
        """f(y) - y for separate scalar observations: the step towards the clean value, an
        adaptive score (the score at a noise level the denoiser infers from y), shaped like ``y``."""
        y = _as_array(y)
        return self.denoise(y) - y

    def posterior_mean_sigma(self, y, joint: bool = False) -> np.ndarray:
        """E[sigma | y]: the noise level the blind denoiser implicitly believes in."""
        return np.sum(self.sigma_posterior(y, joint) * self.sigmas, axis=-1)

    def most_probable_sigma(self, y) -> np.ndarray:
        """The most probable (MAP) noise level sigma_hat(y) of each scalar observation, on this denoiser's
        grid (see :func:`most_probable_sigma`)."""
        return most_probable_sigma(self.prior, y, self.sigmas)

    def plugin(self, y) -> np.ndarray:
        """The MAP plug-in approximation E[x | y, sigma_hat(y)] for separate scalar observations."""
        y = _as_array(y)
        return self.prior.denoise(y, self.most_probable_sigma(y))

    def __repr__(self) -> str:
        return (f"BlindDenoiser({self.prior!r}, sigma_min={self.sigma_min:.3g}, "
                f"sigma_max={self.sigma_max:.3g}, n_sigmas={self.sigmas.size})")


# --------------------------------------------------------------------------------------------
# Iterating a denoiser: deterministic ascent and the stochastic sampler
# --------------------------------------------------------------------------------------------
def iterate(denoiser: Callable, y0, h: float, n_steps: int, trace: bool = False):
    """Repeat y <- y + h (f(y) - y) ``n_steps`` times from ``y0`` (a fixed step, no added noise).

    ``denoiser`` maps an array to an array of the same shape (e.g. ``BlindDenoiser.denoise``);
    ``h`` in (0, 1]. Returns the final array (shaped like ``y0``), or with ``trace=True`` a pair
    (final, path) where ``path`` has shape (n_steps + 1, *y0.shape) and starts with ``y0``.
    Taught in chapter 2 (basins of attraction).
    """
    checks.unit_interval(h, "h")
    n_steps = checks.integer(n_steps, "n_steps", 0)
    y = _as_array(y0, "y0").copy()
    path = [y.copy()] if trace else None
    for _ in range(int(n_steps)):
        y = y + h * (denoiser(y) - y)
        if trace:
            path.append(y.copy())
    return (y, np.stack(path)) if trace else y


def noise_level(residual) -> np.ndarray:
    """The sampler's estimate of the remaining noise, sigma = ||d|| / sqrt(N): the root mean square
    of the residual d over its last axis (the N pixels of one observation). Shape: the residual's
    without its last axis. Taught in chapter 2."""
    d = _as_array(residual, "residual")
    if d.ndim < 1:
        raise ValueError("residual must have a last axis holding the pixels of one observation")
    return np.sqrt(np.mean(d**2, axis=-1))


def sampler_step(y, denoised, t, h0: float, beta: float, z):
    """One step of the stochastic coarse-to-fine sampler (Kadkhodaie & Simoncelli 2021).

    ``y``, ``denoised`` (the denoiser's output f(y)) and ``z`` (standard normal draws) have shape
    (..., N): the last axis holds the N pixels of one observation (N = 1 for one-dimensional
    chains). With the residual d = denoised - y and the noise estimate sigma_t = ||d|| / sqrt(N)
    (:func:`noise_level`), the new point is

        y + h_t d + gamma_t z,   h_t = step_size(t, h0),   gamma_t = injected_noise(sigma_t, h_t, beta),

    for step number ``t`` >= 1 and ``h0``, ``beta`` in (0, 1]. Returns an array shaped like ``y``.
    Taught in chapter 2.
    """
    y = _as_array(y)
    d = _as_array(denoised, "denoised") - y
    z = _as_array(z, "z")
    h = step_size(t, h0)
    gamma = injected_noise(noise_level(d), h, beta)
    return y + h * d + np.expand_dims(gamma, -1) * z


@dataclass
class SamplerResult:
    """What :func:`sample_chains` returns.

    ``samples``: the final denoised values f(y_T), shape (n_chains, n_pixels); ``y``: the last
    noisy iterates, same shape; ``n_steps``: how many steps each chain took, shape (n_chains,);
    ``converged``: whether the chain's noise estimate fell below ``sigma_stop`` within
    ``max_steps``, shape (n_chains,). With ``trace=True``: ``trace_y`` of shape (T + 1, n_chains,
    n_pixels) holding y_0, y_1, ..., and ``trace_sigma`` of shape (T + 1, n_chains) holding the
    noise estimate measured at each of these iterates; both NaN once a chain has stopped. Taught in chapter 2.
    """

    samples: np.ndarray
    y: np.ndarray
    n_steps: np.ndarray
    converged: np.ndarray
    trace_y: np.ndarray | None = None
    trace_sigma: np.ndarray | None = None


def sample_chains(denoiser: Callable, n_chains: int, rng=None, *, n_pixels: int = 1, h0: float = 0.01,
                  beta: float = 0.5, start: float = 0.5, sigma0: float = 1.0, sigma_stop: float = 0.01,
                  max_steps: int = 1000, y0=None, trace: bool = False) -> SamplerResult:
    """Run the stochastic coarse-to-fine sampler (Kadkhodaie & Simoncelli 2021) on ``n_chains``
    independent chains at once, each an observation of ``n_pixels`` values.

    Each chain starts at y_0 ~ N(start, sigma0^2) (every pixel independently), or at the given
    ``y0`` (shape (n_chains, n_pixels)) when one is passed. At step t = 1, 2, ...
    it measures the residual d_t = f(y_{t-1}) - y_{t-1} and the remaining noise
    sigma_t = ||d_t|| / sqrt(n_pixels); if sigma_t < sigma_stop the chain stops and returns
    f(y_{t-1}); otherwise it moves by :func:`sampler_step`. ``denoiser`` maps an array of shape
    (batch, n_pixels) to one of the same shape (e.g. a :class:`BlindDenoiser`); ``rng`` is a numpy
    Generator, a seed or None; ``h0`` and ``beta`` in (0, 1] (beta = 1: no injected noise).
    Returns a :class:`SamplerResult`. Taught in chapter 2.
    """
    n_chains = checks.integer(n_chains, "n_chains", 1)
    n_pixels = checks.integer(n_pixels, "n_pixels", 1)
    max_steps = checks.integer(max_steps, "max_steps", 1)
    rng = _as_rng(rng)
    step_size(1, h0), injected_noise(0.0, 1.0, beta)  # validate h0 and beta up front
    sigma0 = float(_as_sigma(sigma0, "sigma0"))
    sigma_stop = float(_as_sigma(sigma_stop, "sigma_stop"))
    start = float(_as_array(start, "start"))

    if y0 is None:
        y = start + sigma0 * rng.standard_normal((n_chains, n_pixels))
    else:
        y = _as_array(y0, "y0").astype(float, copy=True)
        if y.shape != (n_chains, n_pixels):
            raise ValueError(f"y0 must have shape (n_chains, n_pixels) = {(n_chains, n_pixels)}, got {y.shape}")
    samples = np.full((n_chains, n_pixels), np.nan)
    n_steps = np.zeros(n_chains, dtype=int)
    active = np.ones(n_chains, dtype=bool)
    path_y, path_sigma = ([y.copy()], []) if trace else (None, None)
    for t in range(1, max_steps + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        ya = y[idx]
        fa = denoiser(ya)
        sigma = noise_level(fa - ya)
        done = sigma < sigma_stop
        samples[idx[done]] = fa[done]
        active[idx[done]] = False
        go = idx[~done]
        y[go] = sampler_step(ya[~done], fa[~done], t, h0, beta, rng.standard_normal((go.size, n_pixels)))
        n_steps[go] += 1
        if trace:
            s = np.full(n_chains, np.nan)
            s[idx] = sigma
            path_sigma.append(s)
            row = np.full((n_chains, n_pixels), np.nan)
            row[go] = y[go]
            path_y.append(row)
    converged = ~active
    if np.any(active):  # out of steps: report the last denoised value anyway
        idx = np.flatnonzero(active)
        samples[idx] = denoiser(y[idx])
        if trace:
            path_sigma.append(np.where(active, noise_level(denoiser(y) - y), np.nan))
    elif trace:
        path_sigma.append(np.full(n_chains, np.nan))
    result = SamplerResult(samples=samples, y=y, n_steps=n_steps, converged=converged)
    if trace:
        result.trace_y = np.stack(path_y)
        result.trace_sigma = np.stack(path_sigma)[: len(path_y)]
    return result


# --------------------------------------------------------------------------------------------
# Empirical Bayes: a tiny network that learns the denoiser from samples
# --------------------------------------------------------------------------------------------
def _mlp_class():
    import torch

    class _MLP(torch.nn.Module):
        def __init__(self, hidden: int, shift: float, scale: float):
            super().__init__()
            self.register_buffer("shift", torch.tensor(shift, dtype=torch.float32))
            self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))
            self.net = torch.nn.Sequential(
                torch.nn.Linear(1, hidden), torch.nn.SiLU(),
                torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
                torch.nn.Linear(hidden, 1),
            )

        def forward(self, y):  # y: (B,) float32 -> (B,) estimates of x
            u = (y - self.shift) / self.scale
            return self.shift + self.scale * self.net(u[:, None])[:, 0]

    return _MLP


class MLPDenoiser:
    """A trained one-dimensional denoiser: a 1 → hidden → hidden → 1 MLP (SiLU) in float32.

    Call it on a NumPy array of noisy values (any shape) to get the estimates as a float64 array
    of the same shape. ``losses`` holds the training loss of every step. Made by
    :func:`train_mlp_denoiser`; taught in chapter 1.
    """

    def __init__(self, module, losses: np.ndarray):
        self.module = module
        self.losses = losses

    def __call__(self, y) -> np.ndarray:
        import torch

        y = _as_array(y)
        with torch.no_grad():
            out = self.module(torch.as_tensor(y.reshape(-1), dtype=torch.float32))
        return out.double().numpy().reshape(y.shape)


def train_mlp_denoiser(y, target, *, hidden: int = 64, steps: int = 2000, batch_size: int = 256,
                       lr: float = 1e-2, seed: int = 0, progress: bool | None = None) -> MLPDenoiser:
    """Fit a tiny MLP f by least squares, minimising the mean of (f(y) - target)^2 over the data.

    It sees only the training pairs: noisy observations ``y`` and targets (the clean values x, or
    a second, independently noisy copy of x: both have E[target | y] = E[x | y], so both train
    towards the posterior mean). Never the prior. ``y`` and ``target``: 1-D arrays of one length.
    Adam with a cosine-decayed learning rate ``lr`` for ``steps`` minibatches of ``batch_size``;
    a few seconds on a CPU. ``progress``: tqdm bar (None: :func:`scoretutor.runtime.show_progress`).
    Returns an :class:`MLPDenoiser`. Taught in chapter 1 (empirical Bayes).
    """
    import torch

    from .runtime import show_progress

    y = _as_array(y)
    target = _as_array(target, "target")
    if y.ndim != 1 or target.shape != y.shape or y.size < 2:
        raise ValueError("y and target must be 1-D arrays of one length (>= 2), "
                         f"got shapes {y.shape} and {target.shape}")
    hidden = checks.integer(hidden, "hidden", 1)
    steps = checks.integer(steps, "steps", 1)
    batch_size = checks.integer(batch_size, "batch_size", 1)
    lr = checks.positive(lr, "lr")
    if progress is None:
        progress = show_progress()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a network this small runs fastest on one thread
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _mlp_class()(hidden, float(y.mean()), float(y.std()) or 1.0)
            ty = torch.as_tensor(y, dtype=torch.float32)
            tx = torch.as_tensor(target, dtype=torch.float32)
            opt = torch.optim.Adam(model.parameters(), lr=lr)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
            gen = torch.Generator().manual_seed(seed)
            losses = np.empty(steps)
            loop = range(steps)
            if progress:
                from tqdm.auto import tqdm

                loop = tqdm(loop, desc="training", leave=False)
            for i in loop:
                idx = torch.randint(0, y.size, (batch_size,), generator=gen)
                loss = torch.mean((model(ty[idx]) - tx[idx]) ** 2)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                losses[i] = loss.item()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return MLPDenoiser(model, losses)
