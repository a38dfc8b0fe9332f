"""Checks for chapter 6's exercises (sampling next frames through ambiguous occlusions). Each runs the
learner's function and the library's own on fresh random inputs and returns the function the notebook
should go on with."""
from __future__ import annotations

import numpy as np

from .. import metrics
from ..data.probes import blend_coefficient, collision_probes
from ..schedule import ideal_noise_levels
from . import check_function as _check_function  # private name: only check_<exercise> names are public

__all__ = ["check_ideal_noise_levels", "check_sharpness", "check_blend_coefficient"]


def _levels_without_last(h0, beta, sigma0, sigma_stop):
    return ideal_noise_levels(h0, beta, sigma0, sigma_stop)[:-1]


def _levels_constant_step(h0, beta, sigma0, sigma_stop):
    levels = [sigma0]
    while levels[-1] >= sigma_stop and len(levels) < 100_000:
        levels.append(levels[-1] * (1 - beta * h0))
    return np.array(levels)


def check_ideal_noise_levels(fn, *, seed=None):
    """Exercise 6.1: ``fn(h0, beta, sigma0, sigma_stop)`` -> the noise levels of an ideal chain,
    sigma_1 = sigma0 and sigma_{t+1} = sigma_t (1 - beta h_t) with h_t = h0 t / (1 + h0 (t - 1)), up to
    and including the first level below ``sigma_stop`` (reference:
    :func:`scoretutor.schedule.ideal_noise_levels`). The trials include a start already below
    ``sigma_stop`` (one level) and ``beta = 1``."""
    cases = iter([(0.05, 0.5, 1.0, 0.02), (0.2, 1.0, 1.0, 0.01), (0.1, 0.5, 0.01, 0.02)])

    def inputs(rng):
        fixed = next(cases, None)
        if fixed is not None:
            return fixed
        return (float(rng.uniform(0.01, 0.5)), float(rng.uniform(0.2, 1.0)), float(rng.uniform(0.5, 2.0)),
                float(rng.uniform(0.005, 0.05)))

    def reference(h0, beta, sigma0, sigma_stop):
        return ideal_noise_levels(h0, beta, sigma0, sigma_stop)

    return _check_function(
        fn, reference, inputs, name="Exercise 6.1 (ideal_noise_levels)", trials=8, rtol=1e-9, atol=1e-12,
        seed=seed, reference_name="scoretutor.schedule.ideal_noise_levels",
        mistakes=(("stops before the first level below sigma_stop: that level is included",
                   _levels_without_last),
                  ("uses a constant step h0: h_t = h0 t / (1 + h0 (t - 1)) grows with t", _levels_constant_step)),
        hint="sigma_1 = sigma0, then sigma_{t+1} = sigma_t (1 - beta h_t) with h_t = h0 t / (1 + h0 (t - 1)), "
             "t counting from 1; stop after the first level below sigma_stop and keep it (a start already "
             "below gives one level)")


def _sharpness_squared(images):
    return metrics.sharpness(np.asarray(images, dtype=np.float64)) ** 2


def _sharpness_one_mean(images):
    images = np.asarray(images, dtype=np.float64)
    dx, dy = np.diff(images, axis=-1)[:, :-1], np.diff(images, axis=-2)[:, :, :-1]
    return np.sqrt(np.mean(dx**2 + dy**2, axis=(-2, -1)))


def check_sharpness(fn, *, seed=None):
    """Exercise 6.2: ``fn(images)`` -> the root-mean-square gradient of each image of a NumPy batch
    ``(B, H, W)``, ``sqrt(mean(dx**2) + mean(dy**2))`` with ``dx``, ``dy`` the horizontal and vertical
    neighbour differences, each averaged over its own ``H x (W - 1)`` or ``(H - 1) x W`` values; shape
    ``(B,)`` (reference: :func:`scoretutor.metrics.sharpness`). Heights and widths differ, so that mixing
    up the axes is caught."""

    def inputs(rng):
        b = int(rng.integers(1, 5))
        h, w = int(rng.integers(3, 12)), int(rng.integers(3, 12))
        if h == w:
            w += 1
        images = rng.uniform(size=(b, h, w)) * rng.uniform(0.1, 1.0, size=(b, 1, 1))
        return (images,)

    def reference(images):
        return metrics.sharpness(np.asarray(images, dtype=np.float64))

    return _check_function(
        fn, reference, inputs, name="Exercise 6.2 (sharpness)", trials=6, rtol=1e-6, atol=1e-9, seed=seed,
        reference_name="scoretutor.metrics.sharpness",
        mistakes=(("returns the mean squared gradient: take the square root", _sharpness_squared),
                  ("averages dx**2 + dy**2 over a common (H - 1) x (W - 1) crop: average each over its own "
                   "differences, then add the means", _sharpness_one_mean)),
        hint="dx = np.diff(images, axis=-1) and dy = np.diff(images, axis=-2); mean(dx**2) over its H x (W - 1) "
             "values and mean(dy**2) over its (H - 1) x W values, per image, added, then the square root")


def _blend_over_overlap_only(frame, first, second):
    frame, first, second = (np.asarray(v, dtype=np.float64) for v in (frame, first, second))
    diff = first - second
    mask = np.abs(diff) > 0.5 * np.abs(diff).max(axis=(-2, -1), keepdims=True)
    num = ((frame - second) * diff * mask).sum(axis=(-2, -1))
    return num / (diff**2 * mask).sum(axis=(-2, -1))


def check_blend_coefficient(fn, *, seed=None):
    """Exercise 6.3: ``fn(frame, first, second)`` -> the least-squares blend coefficient ``a`` of each
    image, ``frame ~ second + a (first - second)``: ``<frame - second, first - second> / |first - second|^2``
    over each image's pixels, shape ``(B,)`` for ``(B, H, W)`` inputs (reference:
    :func:`scoretutor.data.probes.blend_coefficient`). The trials are collision probes' two possible
    next frames, blended in random proportions (some beyond 0 and 1) with a little noise added."""

    def inputs(rng):
        n = int(rng.integers(2, 6))
        probes = collision_probes(n, float(rng.uniform(0.6, 1.0)), seed=int(rng.integers(2**31)))
        first, second = probes.target_large_front.astype(np.float64), probes.target_small_front.astype(np.float64)
        weight = rng.uniform(-0.2, 1.2, size=(n, 1, 1))
        frame = second + weight * (first - second) + 0.05 * rng.normal(size=first.shape)
        return (frame, first, second)

    return _check_function(
        fn, blend_coefficient, inputs, name="Exercise 6.3 (blend_coefficient)", trials=6, rtol=1e-6, atol=1e-9,
        seed=seed, reference_name="scoretutor.data.probes.blend_coefficient",
        mistakes=(("has the two renderings the wrong way round: a = 1 must give first, a = 0 second",
                   lambda frame, first, second: blend_coefficient(frame, second, first)),
                  ("divides by |first - second| instead of its square",
                   lambda frame, first, second: blend_coefficient(frame, first, second)
                   * np.sqrt(((np.asarray(first) - second) ** 2).sum(axis=(-2, -1)))),
                  ("counts only the strongest differences: every pixel enters the sums (where the two "
                   "renderings agree it adds nothing)", _blend_over_overlap_only)),
        hint="with d = first - second, a = sum((frame - second) * d) / sum(d * d), the sums over each image's "
             "pixels (axis=(-2, -1)): the a that minimises sum((frame - second - a d)**2)")
