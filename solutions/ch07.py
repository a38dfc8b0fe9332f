"""Worked solutions for chapter 7's exercises (natural video: classical baselines and the SSIM)."""
import numpy as np
import torch
from scipy.signal import correlate2d


def linear_extrapolation(past):
    """Exercise 7.1: each pixel keeps its last rate of change, and the result stays a valid frame."""
    return torch.clamp(2 * past[:, -1:] - past[:, -2:-1], 0.0, 1.0)


def motion_search(previous, current, block, search):
    """Exercise 7.2: try every displacement for every block, shortest displacements first, keep the
    first one with the least sum of squared differences."""
    h, w = current.shape
    padded = np.pad(previous, search, mode="edge")  # padded[i + search, j + search] = previous[i, j]
    shifts = [(dy, dx) for dy in range(-search, search + 1) for dx in range(-search, search + 1)]
    shifts.sort(key=lambda v: (v[0] ** 2 + v[1] ** 2, v[0], v[1]))
    vectors = np.zeros((h // block, w // block, 2), dtype=int)
    for by in range(h // block):
        for bx in range(w // block):
            y0, x0 = by * block, bx * block
            target = current[y0:y0 + block, x0:x0 + block]
            best = np.inf
            for dy, dx in shifts:
                top, left = y0 - dy + search, x0 - dx + search  # previous[p - v], in padded coordinates
                cost = np.sum((target - padded[top:top + block, left:left + block]) ** 2)
                if cost < best:
                    best, vectors[by, bx] = cost, (dy, dx)
    return vectors


def ssim(x, y):
    """Exercise 7.3: Gaussian-weighted local statistics, the SSIM formula at each window position, the mean."""
    r = np.arange(11) - 5.0
    g = np.exp(-r**2 / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()

    def local_mean(z):
        return correlate2d(z, window, mode="valid")

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    mx, my = local_mean(x), local_mean(y)
    vx, vy, cxy = local_mean(x * x) - mx**2, local_mean(y * y) - my**2, local_mean(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return float(np.mean((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))))


SOLUTIONS = {
    "check_linear_extrapolation": linear_extrapolation,
    "check_motion_search": motion_search,
    "check_ssim": ssim,
}
