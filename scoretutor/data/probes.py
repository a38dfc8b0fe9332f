"""Collision-course probes: two disks heading for each other, and reading off which one ended in front.

Taught in chapter 3 (used in the sampling and psychometric experiments of later chapters).

A probe has ``k`` clean conditioning frames in which two disks move head-on towards each other
without touching, and a target frame (the next one) in which they overlap. Which disk is in front
at the target is exactly what the past cannot show; the only depth cues are those of Moving Leaves
(:mod:`scoretutor.data.leaves`): the projected size and the speed. The **radius ratio** is defined as
``small radius / large radius``, in ``(0, 1]``: 1 means two equal disks (fully ambiguous), 0.6 a
clear size difference (under the default rule, the larger disk belongs in front).

The probes follow the generator's depth rules so that they are in distribution: each disk's depth
is ``r_max / radius`` (``r_max`` = 10 pixels, the generator's default), and its speed (pixels per
frame) is ``speed_scale * motion_std / (frames_per_depth * depth)``, i.e. ``speed_scale`` times the
per-axis velocity standard deviation of the generator's Gaussian-process paths at that depth
(``speed_scale = 2``: faster than about 86 % of the generator's disks at the same depth, so that the
disks overlap well at the target). Luminances of the two disks and of the background are drawn
uniformly in [0, 1] with every pair at least ``min_separation`` apart, so that a decision from
pixels is reliable.

:func:`front_disk` reads which disk a predicted frame puts in front. Chapter 6 samples the probes'
next frames and draws the psychometric curve of the paper's figure 4 from these readings
(:mod:`scoretutor.psychometric`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .. import checks
from . import leaves

__all__ = ["Probes", "FrontDecision", "collision_probes", "front_disk"]

# disk 0 is always the larger one (or the first, when the ratio is 1), disk 1 the smaller
LARGE, SMALL = 0, 1


@dataclass
class Probes:
    """A batch of ``n`` collision-course probes (arrays; positions and radii in pixels). Taught in chapter 3.

    * ``conditioning``: float32 ``(n, k, size, size)`` in [0, 1], the clean past frames;
    * ``target_large_front``, ``target_small_front``: float32 ``(n, size, size)``, the two possible
      target frames (disk 0, the larger, in front; disk 1, the smaller, in front);
    * ``centres``: ``(n, 2, k + 1, 2)`` (x, y) of disk 0 (large) and disk 1 (small) over the
      conditioning frames and the target frame (last); ``radius``, ``depth``, ``luminance``:
      ``(n, 2)``; ``speed``: ``(n, 2)`` pixels per frame; ``background``: ``(n,)``;
    * ``radius_ratio``: ``(n,)`` small / large in (0, 1];
    * ``overlap_mask``: bool ``(n, size, size)``, pixels fully inside both disks at the target
      (where the front disk's luminance shows undiluted); ``hidden_fraction``: ``(n,)`` analytic
      fraction of the smaller disk covered by the larger at the target.
    """

    conditioning: np.ndarray
    target_large_front: np.ndarray
    target_small_front: np.ndarray
    centres: np.ndarray
    radius: np.ndarray
    depth: np.ndarray
    speed: np.ndarray
    luminance: np.ndarray
    background: np.ndarray
    radius_ratio: np.ndarray
    overlap_mask: np.ndarray
    hidden_fraction: np.ndarray

    @property
    def n(self) -> int:
        return self.conditioning.shape[0]

    @property
    def k(self) -> int:
        return self.conditioning.shape[1]

    def sequences(self, large_front: bool = True) -> np.ndarray:
        """Whole probe clips ``(n, k + 1, size, size)``: the past followed by one of the two targets."""
        target = self.target_large_front if large_front else self.target_small_front
        return np.concatenate([self.conditioning, target[:, None]], axis=1)


class FrontDecision(NamedTuple):
    """Which disk a predicted frame puts in front (shapes ``(n,)`` or ``(n, m)`` like the predictions).
    Taught in chapter 3.

    * ``large_front``: bool, True when the smaller disk is the more hidden one: its visible fraction
      is below the larger disk's (see :func:`front_disk`);
    * ``visible_large``, ``visible_small``: the visible fraction of each disk, i.e. the number of
      pixels within ``tolerance`` of its luminance, divided by the same count in the
      probe's target with that disk in front (1: fully visible, ~0: hidden);
    * ``luminance``: the mean predicted luminance over the probe's overlap region;
    * ``error``: its distance to the nearer of the two disks' luminances (a sharp, plausible
      prediction in the probe's geometry has a small error; a blurred average of the two orders a
      large one).
    """

    large_front: np.ndarray
    luminance: np.ndarray
    error: np.ndarray
    visible_large: np.ndarray
    visible_small: np.ndarray

    def reliable(self, tol: float = 0.1) -> np.ndarray:
        """Bool mask: the overlap shows one of the two disks' luminances to within ``tol``."""
        return self.error <= tol


def _separated_uniforms(rng: np.random.Generator, n: int, count: int, min_sep: float) -> np.ndarray:
    """``(n, count)`` uniforms on [0, 1], every pair in a row at least ``min_sep`` apart (rejection)."""
    out = rng.uniform(size=(n, count))
    for _ in range(10_000):
        s = np.sort(out, axis=1)
        bad = (np.diff(s, axis=1) < min_sep).any(axis=1)
        if not bad.any():
            return out
        out[bad] = rng.uniform(size=(int(bad.sum()), count))
    raise ValueError(f"min_separation={min_sep} is too large for {count} luminances in [0, 1]")


def collision_probes(
    n: int,
    radius_ratio,
    seed: int = 0,
    *,
    k: int = 2,
    size: int = 32,
    large_radius: tuple[float, float] = (5.5, 7.0),
    speed_scale: float = 2.0,
    gap: float = 1.0,
    min_separation: float = 0.25,
    frames_per_depth: float = leaves.DEFAULT_FRAMES_PER_DEPTH,
    motion_std: float | None = None,
) -> Probes:
    """``n`` collision-course probes with ``k`` conditioning frames (module docstring). Taught in chapter 3.

    ``radius_ratio``: small / large radius, a float or an ``(n,)`` array in (0, 1]; the smaller
    radius must stay at least the generator's smallest radius (3 pixels). ``large_radius``: range
    (pixels) of the larger disk's radius, drawn uniformly (its lower end raised to ``3 / radius_ratio``
    where needed). The disks move head-on along a random
    direction; in the last conditioning frame their edges are ``gap`` pixels apart, and they overlap
    in the target frame. Everything but the ratio is randomised by ``seed``.
    """
    n = checks.integer(n, "n", 1)
    size = checks.integer(size, "size", 1)
    k = checks.integer(k, "k", 0)
    seed = checks.integer(seed, "seed", 0)
    ratio = np.asarray(radius_ratio, dtype=np.float64)
    if ratio.ndim > 1 or (ratio.ndim == 1 and ratio.shape[0] != n):
        raise ValueError(f"radius_ratio must be a float or an array of shape ({n},), got shape {ratio.shape}")
    if not np.all(np.isfinite(ratio)) or np.any(ratio <= 0) or np.any(ratio > 1):
        raise ValueError("radius_ratio (small / large radius) must lie in (0, 1]")
    ratio = np.broadcast_to(ratio, (n,)).copy()
    r_lo, r_hi = (float(v) for v in large_radius)
    r_min, r_max = leaves.DEFAULT_RADIUS_RANGE
    if not (r_min <= r_lo <= r_hi <= r_max):
        raise ValueError(f"large_radius must be a range within {leaves.DEFAULT_RADIUS_RANGE}, got {large_radius!r}")
    lower = np.maximum(r_lo, r_min / ratio)  # keep the smaller disk at least r_min
    if np.any(lower > r_hi + 1e-9):
        raise ValueError(
            f"radius_ratio {ratio.min():g} is too small: with large_radius up to {r_hi:g} pixels the smaller disk "
            f"would be below the generator's smallest radius {r_min:g} (use radius_ratio >= {r_min / r_hi:.3g})"
        )
    if size < 2 * r_hi + 2:
        raise ValueError(f"size={size} is too small for large_radius={large_radius!r}")
    if not (np.isfinite(speed_scale) and speed_scale > 0):
        raise ValueError(f"speed_scale must be positive, got {speed_scale!r}")
    if not (np.isfinite(gap) and gap >= 0):
        raise ValueError(f"gap must be non-negative (pixels), got {gap!r}")
    if not (0 <= min_separation <= 1 / 3):
        raise ValueError(f"min_separation must be in [0, 1/3], got {min_separation!r}")
    motion_std = size / 5.0 if motion_std is None else float(motion_std)

    rng = np.random.default_rng(seed)
    r_large = lower + rng.uniform(size=n) * np.maximum(r_hi - lower, 0.0)
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    lum3 = _separated_uniforms(rng, n, 3, min_separation)
    u_shift = rng.uniform(size=(n, 2))

    radius = np.stack([r_large, ratio * r_large], axis=1)  # (n, 2): large, small
    depth = r_max / radius
    speed = speed_scale * motion_std / (frames_per_depth * depth)
    luminance, background = lum3[:, :2], lum3[:, 2]

    # head-on approach along direction u: the large disk moves along +u, the small along -u
    u = np.stack([np.cos(angle), np.sin(angle)], axis=1)  # (n, 2)
    v_rel = speed.sum(axis=1)
    d_last = radius.sum(axis=1) + gap  # centre distance in the last conditioning frame
    d_target = np.maximum(d_last - v_rel, 0.0)
    steps = np.arange(-k, 1, dtype=np.float64)  # frame offsets relative to the target (0)
    dist = d_target[:, None] - v_rel[:, None] * steps[None, :]  # (n, k+1), distance over time
    # split the distance in proportion to the speeds, so that each disk moves at its own speed
    w_large = speed[:, 0] / v_rel
    centres = np.empty((n, 2, k + 1, 2))
    centres[:, LARGE] = (-(w_large[:, None] * dist))[..., None] * u[:, None, :]
    centres[:, SMALL] = (((1 - w_large)[:, None] * dist))[..., None] * u[:, None, :]
    centres += leaves._fit_shift(centres, radius, size, u_shift, centres[:, :, -1], radius)[:, None, None, :]

    order_large_front = np.tile(np.array([SMALL, LARGE]), (n, 1))
    order_small_front = np.tile(np.array([LARGE, SMALL]), (n, 1))
    past_and_target = leaves.render(centres, radius, luminance, background, order_large_front, size)
    target_small = leaves.render(centres[:, :, -1:], radius, luminance, background, order_small_front, size)[:, 0]

    grid = np.arange(size) + 0.5
    c_t = centres[:, :, -1]  # (n, 2, 2)
    dist_px = np.sqrt((grid[None, None, None, :] - c_t[..., 0, None, None]) ** 2
                      + (grid[None, None, :, None] - c_t[..., 1, None, None]) ** 2)  # (n, 2, H, W)
    inside = (radius[:, :, None, None] - dist_px + 0.5) >= 1.0
    overlap_mask = inside.all(axis=1)

    return Probes(
        conditioning=past_and_target[:, :k].copy(),
        target_large_front=past_and_target[:, k].copy(),
        target_small_front=target_small,
        centres=centres,
        radius=radius,
        depth=depth,
        speed=speed,
        luminance=luminance,
        background=background,
        radius_ratio=ratio,
        overlap_mask=overlap_mask,
        hidden_fraction=leaves.hidden_fraction(d_target, radius[:, SMALL], radius[:, LARGE]),
    )


def front_disk(predicted, probes: Probes, tolerance: float = 0.1) -> FrontDecision:
    """Decide which disk a predicted target frame puts in front. Taught in chapter 3.

    ``predicted``: ``(n, H, W)`` or ``(n, m, H, W)`` (``m`` samples per probe; NumPy or torch),
    values in [0, 1]. The disk in front is the one that stays whole: for each disk, count the
    predicted pixels within ``tolerance`` of its luminance and divide by the same count where that
    disk is whole (below); the disk with the
    smaller visible fraction is the one behind. The decision needs only that the two disks overlap
    somewhere in the prediction, not where: a sample whose disks moved a little more or less than
    the probe's own continuation is judged by what it shows. The whole count of a disk comes from
    the target in which it is in front (same size, edge blur and frame border). (Probe luminances are at least
    ``min_separation`` = 0.25 apart, so a tolerance of 0.1 never counts a pixel for two of them.)
    See :class:`FrontDecision` for what comes back.
    """
    if hasattr(predicted, "detach"):
        predicted = predicted.detach().cpu().numpy()
    pred = np.asarray(predicted, dtype=np.float64)
    n, size = probes.n, probes.overlap_mask.shape[-1]
    if pred.ndim not in (3, 4) or pred.shape[0] != n or pred.shape[-2:] != (size, size):
        raise ValueError(
            f"predicted must have shape ({n}, {size}, {size}) or ({n}, m, {size}, {size}), got {pred.shape}"
        )
    if not 0 < float(tolerance) < 0.5:
        raise ValueError(f"tolerance must lie in (0, 0.5), got {tolerance!r}")
    mask = probes.overlap_mask.astype(np.float64)
    count = mask.sum(axis=(1, 2))
    if np.any(count == 0):
        raise ValueError("some probes have an empty overlap region; use larger disks or faster motion")
    squeeze = pred.ndim == 3
    if squeeze:
        pred = pred[:, None]
    lum = probes.luminance[:, None, :]  # (n, 1, 2)
    mean = (pred * mask[:, None]).sum(axis=(2, 3)) / count[:, None]
    err_large = np.abs(mean - lum[..., LARGE])
    err_small = np.abs(mean - lum[..., SMALL])
    visible = []
    for disk, whole_frame in ((LARGE, probes.target_large_front), (SMALL, probes.target_small_front)):
        shown = (np.abs(pred - lum[..., disk, None, None]) < tolerance).sum(axis=(2, 3))
        whole = (np.abs(whole_frame - probes.luminance[:, disk, None, None]) < tolerance).sum(axis=(1, 2))
        visible.append(shown / np.maximum(whole, 1)[:, None])
    out = FrontDecision(large_front=visible[1] < visible[0], luminance=mean, error=np.minimum(err_large, err_small),
                        visible_large=visible[0], visible_small=visible[1])
    return FrontDecision(*(v[:, 0] for v in out)) if squeeze else out
