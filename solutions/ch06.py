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


def larger_in_front(predicted, probes):
    """Exercise 6.3: the disk that stays whole is in front. Count the pixels showing each disk's luminance,
    relative to the count where that disk is whole; the larger disk is in front when the smaller one shows less."""
    predicted = np.asarray(predicted, dtype=float)                        # (n, m, H, W)
    visible = []
    for disk, whole_frame in ((0, probes.target_large_front), (1, probes.target_small_front)):
        lum = probes.luminance[:, disk, None, None]                         # (n, 1, 1)
        shown = (np.abs(predicted - lum[:, None]) < 0.1).sum(axis=(-2, -1))  # (n, m)
        whole = (np.abs(whole_frame - lum) < 0.1).sum(axis=(-2, -1))       # (n,)
        visible.append(shown / whole[:, None])
    return visible[1] < visible[0]


SOLUTIONS = {
    "check_ideal_noise_levels": ideal_noise_levels,
    "check_sharpness": sharpness,
    "check_larger_in_front": larger_in_front,
}
