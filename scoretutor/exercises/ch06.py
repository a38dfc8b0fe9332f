"""Checks for chapter 6's exercises (sampling next frames through ambiguous occlusions). Each runs the
learner's function and the library's own on fresh random inputs and returns the function the notebook
should go on with."""
from __future__ import annotations

import numpy as np

from .. import metrics
from ..data.probes import Probes, collision_probes, front_disk
from ..schedule import ideal_noise_levels
from . import check_function as _check_function  # private name: only check_<exercise> names are public

__all__ = ["check_ideal_noise_levels", "check_sharpness", "check_larger_in_front"]


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


class _Probes(Probes):
    """A :class:`scoretutor.data.probes.Probes` batch with a one-line repr, for the checker's messages."""

    def __repr__(self) -> str:
        return f"Probes(n={self.n}, radius_ratio={float(self.radius_ratio[0]):.3g})"


def check_larger_in_front(fn, *, seed=None):
    """Exercise 6.3: ``fn(predicted, probes)`` -> bool ``(n, m)``, True where sample ``j`` of probe ``i`` puts
    the larger disk in front. ``predicted`` ``(n, m, H, W)``; ``probes`` a :class:`scoretutor.data.probes.Probes`
    batch of ``n`` probes. For each disk, its visible fraction is the number of predicted pixels within 0.1
    (strictly) of its luminance, divided by the same count in the probe's target where that disk is in
    front (``target_large_front`` for the larger, ``target_small_front`` for the smaller); the larger disk
    is in front when the smaller disk's visible fraction is strictly below the larger's (reference:
    :func:`scoretutor.data.probes.front_disk`, its ``large_front``). The trials blend the two possible next
    frames in random proportions, shift some of them by a pixel or two, and include the exact targets."""

    def inputs(rng):
        n, m = int(rng.integers(2, 6)), int(rng.integers(2, 5))
        probes = collision_probes(n, float(rng.uniform(0.6, 1.0)), seed=int(rng.integers(2**31)))
        weight = rng.uniform(size=(n, m, 1, 1))  # 1: larger disk in front, 0: smaller in front
        weight[:, 0] = rng.integers(0, 2, size=(n, 1, 1))  # the first sample of each probe: an exact target
        predicted = weight * probes.target_large_front[:, None] + (1 - weight) * probes.target_small_front[:, None]
        predicted = np.roll(predicted, tuple(rng.integers(-2, 3, size=2)), axis=(-2, -1))
        predicted[:, 1:] += 0.02 * rng.normal(size=predicted[:, 1:].shape)
        return (predicted, _Probes(**vars(probes)))

    def reference(predicted, probes):
        return front_disk(predicted, probes).large_front

    return _check_function(
        fn, reference, inputs, name="Exercise 6.3 (larger_in_front)", trials=6, rtol=0, atol=0, seed=seed,
        reference_name="scoretutor.data.probes.front_disk(predicted, probes).large_front",
        mistakes=(("has the answer the wrong way round (True where the smaller disk is in front)",
                   lambda predicted, probes: ~front_disk(predicted, probes).large_front),),
        hint="for each disk, count the predicted pixels strictly within 0.1 of its luminance and divide by the "
             "same count in the target where that disk is in front; the larger disk is in front when the "
             "smaller disk's fraction is strictly below the larger's")
