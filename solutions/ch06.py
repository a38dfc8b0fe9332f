"""Worked solutions for chapter 6's exercises (sampling next frames through ambiguous occlusions)."""
import numpy as np


def ideal_noise_levels(h0, beta, sigma0, sigma_stop):
    """Exercise 6.1: start at sigma0; each step t multiplies the level by 1 - beta h_t; stop after the
    first level below sigma_stop (that evaluation is the one that stops the chain)."""
    levels = [sigma0]
    t = 1
    while levels[-1] >= sigma_stop:
        h = h0 * t / (1 + h0 * (t - 1))
        levels.append(levels[-1] * (1 - beta * h))
        t += 1
    return np.array(levels)


def sharpness(images):
    """Exercise 6.2: root-mean-square of the horizontal and vertical neighbour differences, per image."""
    images = np.asarray(images, dtype=float)
    dx = np.diff(images, axis=-1)  # (B, H, W - 1)
    dy = np.diff(images, axis=-2)  # (B, H - 1, W)
    return np.sqrt((dx**2).mean(axis=(-2, -1)) + (dy**2).mean(axis=(-2, -1)))


def blend_coefficient(frame, first, second):
    """Exercise 6.3: minimise sum((frame - second - a d)**2) over a, with d = first - second: setting the
    derivative to zero gives a = <frame - second, d> / <d, d>, per image."""
    frame, first, second = (np.asarray(v, dtype=float) for v in (frame, first, second))
    d = first - second
    return ((frame - second) * d).sum(axis=(-2, -1)) / (d * d).sum(axis=(-2, -1))


SOLUTIONS = {
    "check_ideal_noise_levels": ideal_noise_levels,
    "check_sharpness": sharpness,
    "check_blend_coefficient": blend_coefficient,
}
