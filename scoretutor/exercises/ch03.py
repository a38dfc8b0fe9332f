"""Checks for chapter 3's exercises (Moving Leaves). Each compares the learner's function with the
library's own on fresh random inputs and returns the function the notebook should go on with."""
from __future__ import annotations

import itertools

import numpy as np

from ..data import leaves
from . import check_function as _check_function  # private name: only check_<exercise> names are public

__all__ = ["check_disk_coverage", "check_hidden_fraction", "check_mean_speed"]


def _coverage_swapped(size, centre, radius):
    return leaves.disk_coverage(size, np.asarray(centre, dtype=float)[::-1], radius)


def _coverage_integer_centres(size, centre, radius):
    return leaves.disk_coverage(size, np.asarray(centre, dtype=float) + 0.5, radius)


def _coverage_hard_edge(size, centre, radius):
    grid = np.arange(size) + 0.5
    dist = np.sqrt((grid[None, :] - centre[0]) ** 2 + (grid[:, None] - centre[1]) ** 2)
    return (dist <= radius).astype(np.float32)


def check_disk_coverage(fn, *, seed=None):
    """Exercise 3.1: ``fn(size, centre, radius)`` -> anti-aliased coverage ``(size, size)`` in [0, 1]
    (reference: :func:`scoretutor.data.leaves.disk_coverage`)."""

    def inputs(rng):
        size = int(rng.integers(12, 33))
        centre = rng.uniform(-2, size + 2, size=2)
        return (size, centre, float(rng.uniform(1.0, size / 3)))

    return _check_function(
        fn, leaves.disk_coverage, inputs, name="Exercise 3.1 (disk_coverage)", trials=8, rtol=1e-5, atol=1e-5,
        seed=seed, reference_name="scoretutor.data.leaves.disk_coverage",
        mistakes=(("swaps x and y: centre = (x, y), and x runs along the columns j", _coverage_swapped),
                  ("puts pixel centres at (j, i): pixel (i, j) has its centre at (j + 0.5, i + 0.5)",
                   _coverage_integer_centres),
                  ("draws a hard edge: the coverage is anti-aliased, clip(radius - dist + 0.5, 0, 1)",
                   _coverage_hard_edge)),
        hint="pixel (i, j) has its centre at (j + 0.5, i + 0.5), centre = (x, y), and the coverage is "
             "clip(radius - dist + 0.5, 0, 1) with dist the distance from the pixel's centre; centres may "
             "lie outside the image")


def _fraction_of_large(distance, r_small, r_large):
    return leaves.lens_area(distance, r_small, r_large) / (np.pi * r_large**2)


def check_hidden_fraction(fn, *, seed=None):
    """Exercise 3.3: ``fn(distance, r_small, r_large)`` -> fraction of the small disk covered by the large
    one, for floats (reference: :func:`scoretutor.data.leaves.hidden_fraction`). The trials cycle through
    the three cases: apart, partly overlapping, small disk inside."""
    cases = itertools.cycle(["apart", "partial", "inside", "partial"])

    def inputs(rng):
        r_large = float(rng.uniform(3, 10))
        r_small = float(rng.uniform(3, r_large))
        case = next(cases)
        if case == "apart":
            d = rng.uniform(r_large + r_small, r_large + r_small + 10)
        elif case == "inside":
            d = rng.uniform(0, r_large - r_small)
        else:
            d = rng.uniform(r_large - r_small, r_large + r_small)
        return (float(d), r_small, r_large)

    return _check_function(
        fn, leaves.hidden_fraction, inputs, name="Exercise 3.3 (hidden_fraction)", trials=12, rtol=1e-6,
        atol=1e-8, seed=seed, reference_name="scoretutor.data.leaves.hidden_fraction",
        mistakes=(("divides by the larger disk's area: the fraction is of the small disk, pi r_small**2",
                   _fraction_of_large),),
        hint="three cases: apart (distance >= r_small + r_large) gives 0, the small disk inside the large "
             "one (distance <= r_large - r_small) gives 1, otherwise the lens area of the two circles over "
             "pi r_small**2")


def _speed_of_mean_step(centres):
    return np.linalg.norm(np.diff(np.asarray(centres, dtype=float), axis=-2).mean(axis=-2), axis=-1)


def _speed_per_frame(centres):
    centres = np.asarray(centres, dtype=float)
    steps = np.linalg.norm(np.diff(centres, axis=-2), axis=-1)
    return steps.sum(axis=-1) / centres.shape[-2]


def check_mean_speed(fn, *, seed=None):
    """Exercise 3.2: ``fn(centres)`` with ``centres`` ``(n, n_disks, n_frames, 2)`` -> mean image speed
    ``(n, n_disks)`` in pixels per frame (reference: :func:`scoretutor.data.leaves.speeds`)."""

    def inputs(rng):
        n, n_disks, n_frames = (int(v) for v in rng.integers(1, 6, size=3))
        return (rng.normal(16, 5, size=(n, n_disks, n_frames + 1, 2)),)

    return _check_function(
        fn, leaves.speeds, inputs, name="Exercise 3.2 (mean_speed)", trials=6, seed=seed,
        reference_name="scoretutor.data.leaves.speeds",
        mistakes=(("averages the displacements before taking their length: a disk that goes back and forth "
                   "then looks still; average the lengths of the steps", _speed_of_mean_step),
                  ("divides by the number of frames: there are n_frames - 1 steps", _speed_per_frame)),
        hint="the length of each step between consecutive frames, sqrt(dx**2 + dy**2) over the last axis, "
             "averaged over the steps (axis -2 of centres indexes the frames)")
