"""Checks for chapter 7's exercises (natural video: classical baselines and the SSIM). Each runs the
learner's function and the library's own on fresh random inputs and returns the function the notebook
should go on with."""
from __future__ import annotations

import numpy as np
import torch

from .. import baselines, metrics
from . import check_function as _check_function  # private name: only check_<exercise> names are public

__all__ = ["check_linear_extrapolation", "check_motion_search", "check_ssim"]


def _smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random image with spatial structure in [0, 1]: a sum of a few random plane waves."""
    yy, xx = np.mgrid[:h, :w]
    img = np.zeros((h, w))
    for _ in range(4):
        f = rng.uniform(0.05, 0.4, size=2) * rng.choice([-1, 1], size=2)
        img += np.cos(2 * np.pi * (f[0] * yy + f[1] * xx) + rng.uniform(0, 2 * np.pi))
    return (img - img.min()) / (img.max() - img.min())


def _extrapolation_unclipped(past):
    return 2 * past[:, -1:] - past[:, -2:-1]


def _extrapolation_first_frames(past):
    return (2 * past[:, 1:2] - past[:, 0:1]).clamp(0, 1)


def check_linear_extrapolation(fn, *, seed=None):
    """Exercise 7.1: ``fn(past)`` -> the next frame by per-pixel linear extrapolation,
    ``clip(2 x_t - x_{t-1}, 0, 1)`` with ``x_t = past[:, -1]`` and ``x_{t-1} = past[:, -2]``, for a torch
    tensor ``past (B, k, H, W)`` in [0, 1] (k >= 2, oldest frame first); returns ``(B, 1, H, W)``
    (reference: :func:`scoretutor.baselines.linear_extrapolation`). The trials use k = 2 to 4 (only the
    last two frames count) and random frames, so that the clipping matters at both ends."""

    def inputs(rng):
        b, k, h, w = int(rng.integers(1, 5)), int(rng.integers(2, 5)), int(rng.integers(2, 9)), int(rng.integers(2, 9))
        return (torch.from_numpy(rng.uniform(size=(b, k, h, w)).astype(np.float32)),)

    return _check_function(
        fn, baselines.linear_extrapolation, inputs, name="Exercise 7.1 (linear_extrapolation)", trials=6,
        rtol=1e-6, atol=1e-6, seed=seed, reference_name="scoretutor.baselines.linear_extrapolation",
        mistakes=(("does not clip to [0, 1]", _extrapolation_unclipped),
                  ("uses the first two frames: the last two, past[:, -1] and past[:, -2], are the ones that count",
                   _extrapolation_first_frames)),
        hint="2 * past[:, -1:] - past[:, -2:-1] (slices keep the channel axis: shape (B, 1, H, W)), clipped to "
             "[0, 1]")


def _library_motion_search(previous, current, block, search):
    """The library's search on one pair of frames, as a NumPy integer array ``(H // block, W // block, 2)``."""
    prev = torch.as_tensor(np.asarray(previous, dtype=np.float64))[None]
    cur = torch.as_tensor(np.asarray(current, dtype=np.float64))[None]
    return baselines.estimate_motion(prev, cur, block, search)[0].numpy()


def check_motion_search(fn, *, seed=None):
    """Exercise 7.2: ``fn(previous, current, block, search)`` -> one motion vector ``(dy, dx)`` per
    ``block×block`` block of ``current``, an integer NumPy array ``(H // block, W // block, 2)``, for NumPy
    frames ``previous`` and ``current`` ``(H, W)`` (H and W multiples of ``block``). The vector of a
    block minimises the sum of squared differences ``sum_p (current[p] - previous[p - v])**2`` over the
    block's pixels p, among all ``v`` in ``[-search, search]**2``; ``previous`` is extended beyond its
    border by repeating its edge pixels (``np.pad(previous, search, mode="edge")``). Ties go to the
    smallest ``dy**2 + dx**2``, then the smallest ``dy``, then the smallest ``dx`` (reference:
    :func:`scoretutor.baselines.estimate_motion`). The trials take turns: a random pattern translated by
    a random integer vector plus a little noise; a flat rectangle on a flat background, translated
    (flat blocks fit every displacement: ties); a checkerboard moved by one pixel (four displacements
    of length 1 fit equally well: the tie rule decides)."""
    turn = iter(range(10**6))

    def inputs(rng):
        kind = next(turn) % 3
        block = int(rng.choice([2, 4, 8]))
        search = int(rng.integers(1, 4))
        h, w = block * int(rng.integers(2, 5)), block * int(rng.integers(2, 5))
        if kind == 2:
            low, high = np.sort(rng.uniform(size=2))
            yy, xx = np.mgrid[:h + 2, :w + 2]
            pattern = np.where((yy + xx) % 2 == 0, low, high)
            return (pattern[1:1 + h, 1:1 + w], pattern[:h, 1:1 + w], block, search)
        if kind == 0:
            pattern = _smooth_image(rng, h + 2 * search, w + 2 * search)
        else:
            pattern = np.full((h + 2 * search, w + 2 * search), rng.uniform())
            top, left = int(rng.integers(0, h)), int(rng.integers(0, w))
            pattern[top:top + int(rng.integers(2, h)), left:left + int(rng.integers(2, w))] = rng.uniform()
        dy, dx = (int(d) for d in rng.integers(-search, search + 1, size=2))
        previous = pattern[search:search + h, search:search + w]
        current = pattern[search - dy:search - dy + h, search - dx:search - dx + w]  # current[p] = previous[p - v]
        if kind == 0:
            current = np.clip(current + 0.02 * rng.normal(size=(h, w)), 0, 1)
        return (previous, current, block, search)

    return _check_function(
        fn, _library_motion_search, inputs, name="Exercise 7.2 (motion_search)", trials=6, rtol=0, atol=0,
        seed=seed, reference_name="scoretutor.baselines.estimate_motion",
        mistakes=(("returns the opposite vectors: v is such that current[p] = previous[p - v]",
                   lambda previous, current, block, search: -_library_motion_search(previous, current, block,
                                                                                    search)),),
        hint="for each block, try every v in [-search, search]**2 against np.pad(previous, search, mode='edge') "
             "and keep the smallest sum of squared differences; ties go to the smallest dy**2 + dx**2, then "
             "the smallest dy, then the smallest dx (the flat and checkerboard trials test the ties)")


def check_ssim(fn, *, seed=None):
    """Exercise 7.3: ``fn(x, y)`` -> the SSIM of two NumPy images ``(H, W)`` in [0, 1] (H, W >= 11) as a
    float: local means, variances and covariance weighted by an 11×11 Gaussian window (sigma 1.5,
    weights summing to 1) at every position where the window fits inside the image, the SSIM formula
    with ``C1 = 0.01**2`` and ``C2 = 0.03**2`` at each position, then the mean
    (reference: :func:`scoretutor.metrics.ssim`). The trials pair structured images with noisy,
    shifted or brightened versions of themselves."""

    def inputs(rng):
        h, w = int(rng.integers(11, 25)), int(rng.integers(11, 25))
        x = _smooth_image(rng, h, w)
        kind = int(rng.integers(3))
        if kind == 0:
            y = x + rng.uniform(0.01, 0.3) * rng.normal(size=(h, w))
        elif kind == 1:
            y = np.roll(x, int(rng.integers(1, 3)), axis=int(rng.integers(2)))
        else:
            y = 0.8 * x + rng.uniform(0.0, 0.2)
        return (x, np.clip(y, 0, 1))

    def reference_ssim(x, y):
        return metrics.ssim(x, y)

    return _check_function(
        fn, reference_ssim, inputs, name="Exercise 7.3 (ssim)", trials=6, rtol=1e-6, atol=1e-6, seed=seed,
        reference_name="scoretutor.metrics.ssim",
        hint="weight the local means, variances and covariance with an 11x11 Gaussian window (sigma 1.5, "
             "weights summing to 1) only where the window fits inside the image (no padding), apply the SSIM "
             "formula with C1 = 0.01**2 and C2 = 0.03**2 at each position, then average")
