"""Worked solutions for chapter 3's exercises (Moving Leaves)."""
import numpy as np


def disk_coverage(size, centre, radius):
    """Exercise 3.1: anti-aliased coverage of a disk, float32 (size, size) in [0, 1]."""
    x, y = centre
    grid = np.arange(size) + 0.5  # pixel centres
    dist = np.sqrt((grid[None, :] - x) ** 2 + (grid[:, None] - y) ** 2)
    return np.clip(radius - dist + 0.5, 0.0, 1.0).astype(np.float32)


def hidden_fraction(distance, r_small, r_large):
    """Exercise 3.3: fraction of the small disk covered by the large one (circle-circle lens area)."""
    d, r, R = float(distance), float(r_small), float(r_large)
    if d >= r + R:
        return 0.0
    if d <= R - r:
        return 1.0
    a_small = r**2 * np.arccos((d**2 + r**2 - R**2) / (2 * d * r))
    a_large = R**2 * np.arccos((d**2 + R**2 - r**2) / (2 * d * R))
    kite = 0.5 * np.sqrt((-d + r + R) * (d + r - R) * (d - r + R) * (d + r + R))
    return (a_small + a_large - kite) / (np.pi * r**2)


def mean_speed(centres):
    """Exercise 3.2: mean distance moved per frame, (n, n_disks), from centres (n, n_disks, T, 2)."""
    steps = np.diff(centres, axis=2)  # (n, n_disks, T - 1, 2)
    return np.sqrt((steps**2).sum(axis=-1)).mean(axis=-1)


SOLUTIONS = {
    "check_disk_coverage": disk_coverage,
    "check_hidden_fraction": hidden_fraction,
    "check_mean_speed": mean_speed,
}
