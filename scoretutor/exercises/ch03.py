"""Checks for chapter 3's exercises (Moving Leaves). Each compares the learner's function with the
library's own on fresh random inputs and returns the function the notebook should go on with."""
from __future__ import annotations

import itertools

import numpy as np

from ..data import leaves
from . import check_function as _check_function  # private name: only check_<exercise> names are public

__all__ = ["check_disk_coverage", "check_hidden_fraction", "check_mean_speed"]


def check_disk_coverage(fn):
    """Exercise 3.1: ``fn(size, centre, radius)`` -> anti-aliased coverage ``(size, size)`` in [0, 1]
    (reference: :func:`scoretutor.data.leaves.disk_coverage`)."""

    def inputs(rng):
        size = int(rng.integers(12, 33))
        centre = rng.uniform(-2, size + 2, size=2)
        return (size, centre, float(rng.uniform(1.0, size / 3)))

    return _check_function(fn, leaves.disk_coverage, inputs, name="Exercise 3.1 (disk_coverage)",
                          trials=8, rtol=1e-5, atol=1e-5)


def check_hidden_fraction(fn):
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

    return _check_function(fn, leaves.hidden_fraction, inputs, name="Exercise 3.3 (hidden_fraction)",
                          trials=12, rtol=1e-6, atol=1e-8)


def check_mean_speed(fn):
    """Exercise 3.2: ``fn(centres)`` with ``centres`` ``(n, n_disks, n_frames, 2)`` -> mean image speed
    ``(n, n_disks)`` in pixels per frame (reference: :func:`scoretutor.data.leaves.speeds`)."""

    def inputs(rng):
        n, n_disks, n_frames = (int(v) for v in rng.integers(1, 6, size=3))
        return (rng.normal(16, 5, size=(n, n_disks, n_frames + 1, 2)),)

    return _check_function(fn, leaves.speeds, inputs, name="Exercise 3.2 (mean_speed)", trials=6)
