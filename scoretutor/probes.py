"""Collision-course probes: two disks heading for each other, and reading off which one ended in front.

Taught in chapter 3 (used in the sampling and psychometric experiments of later chapters).

A probe has ``k`` clean conditioning frames in which two disks move head-on towards each other
without touching, and a target frame (the next one) in which they overlap. Which disk is in front
at the target is exactly what the past cannot show; the only depth cues are those of Moving Leaves
(:mod:`scoretutor.leaves`): the projected size and the speed. The **radius ratio** is defined as
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

:func:`front_sweep` (taught in chapter 6) runs the conditional sampler on probes at several radius
ratios and counts how often the larger disk ends in front: the psychometric curve of the paper's
figure 4, with binomial error bars (:func:`binomial_interval`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from . import leaves

if TYPE_CHECKING:  # the sampler (and torch) are imported only when a sweep runs
    from .sampling import SampleTrace

__all__ = ["Probes", "FrontDecision", "collision_probes", "front_disk",
           "binomial_interval", "FrontSweep", "front_sweep"]

# disk 0 is always the larger one (or the first, when the ratio is 1), disk 1 the smaller
LARGE, SMALL = 0, 1


@dataclass
class Probes:
    """A batch of ``n`` collision-course probes (arrays; positions and radii in pixels).

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
    n = leaves._positive_int(n, "n")
    size = leaves._positive_int(size, "size")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
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


def binomial_interval(successes, trials, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion. Taught in chapter 6.

    ``successes`` and ``trials``: integer arrays (or ints) that broadcast, ``0 <= successes <= trials``;
    ``z``: the normal quantile (1.96: a 95 % interval; 1: about 68 %). Returns ``(low, high)``, float
    arrays in [0, 1] around ``successes / trials``; NaN where ``trials == 0``. Unlike
    ``p ± z sqrt(p (1 - p) / n)`` the interval never collapses to a point at p = 0 or 1, so a frequency
    of 20 out of 20 still carries the uncertainty of a small count.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if np.any(~np.isfinite(k)) or np.any(~np.isfinite(n)) or np.any(k < 0) or np.any(k > n):
        raise ValueError("successes and trials must be finite counts with 0 <= successes <= trials")
    if np.any(k != np.round(k)) or np.any(n != np.round(n)):
        raise ValueError("successes and trials must be whole numbers")
    if isinstance(z, bool) or not isinstance(z, (int, float)) or not (z > 0 and math.isfinite(z)):
        raise ValueError(f"z must be a positive finite number, got {z!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    empty = n == 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


@dataclass
class FrontSweep:
    """What :func:`front_sweep` returns: sampled next frames of collision probes at several radius
    ratios, and which disk each puts in front. Taught in chapter 6.

    * ``ratios``: ``(R,)`` the radius ratios (small / large), in the order given;
    * ``probes``: one :class:`Probes` batch of ``R * n_probes`` probes, ratio by ratio (probes
      ``i * n_probes`` to ``(i + 1) * n_probes - 1`` have ratio ``ratios[i]``; probe ``j`` of every ratio
      has the same direction, luminances and background);
    * ``samples``: float32 ``(R, n_probes, n_samples, H, W)``, NaN where a chain diverged;
    * ``large_front``: bool ``(R, n_probes, n_samples)``, the sample puts the larger disk in front
      (:func:`front_disk`); ``error``: the distance of its overlap luminance to the nearer disk's;
    * ``front_visible``: float ``(R, n_probes, n_samples)``, the visible fraction of the disk it puts in
      front (:class:`FrontDecision`): near 1 when that disk is drawn whole, in its own luminance;
    * ``valid``: bool ``(R, n_probes, n_samples)``, the chain did not diverge (only valid samples are
      counted; a chain that ran out of steps returns its last estimate and counts);
    * ``trace``: the sampler's :class:`scoretutor.sampling.SampleTrace`, chains ``(R * n_probes, n_samples)``.
    """

    ratios: np.ndarray
    probes: Probes
    samples: np.ndarray
    large_front: np.ndarray
    error: np.ndarray
    front_visible: np.ndarray
    valid: np.ndarray
    trace: "SampleTrace"

    @property
    def counts(self) -> np.ndarray:
        """``(R,)`` int: valid samples per ratio."""
        return self.valid.sum(axis=(1, 2))

    @property
    def large_counts(self) -> np.ndarray:
        """``(R,)`` int: valid samples per ratio that put the larger disk in front."""
        return (self.large_front & self.valid).sum(axis=(1, 2))

    @property
    def frequency(self) -> np.ndarray:
        """``(R,)`` fraction of valid samples with the larger disk in front (NaN without valid samples)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.large_counts / self.counts

    @property
    def stderr(self) -> np.ndarray:
        """``(R,)`` binomial standard error ``sqrt(p (1 - p) / n)`` of :attr:`frequency`."""
        p = self.frequency
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(p * (1 - p) / self.counts)

    def interval(self, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)``, each ``(R,)``: the Wilson interval (:func:`binomial_interval`) of each frequency.

        The interval treats every sample as an independent draw. Several samples of one probe share its
        geometry and luminances, so with ``n_samples > 1`` it is somewhat too narrow: for error bars, prefer
        many probes with one sample each."""
        return binomial_interval(self.large_counts, self.counts, z)

    def reliable_fraction(self, threshold: float = 0.8) -> np.ndarray:
        """``(R,)`` fraction of valid samples that draw the disk they put in front whole, in its own
        luminance: its visible fraction is at least ``threshold``. (Read by what the sample shows, like
        the decision itself, so a sharp sample whose disks sit a pixel off the probe's continuation counts.)"""
        good = (self.front_visible >= threshold) & self.valid
        with np.errstate(invalid="ignore", divide="ignore"):
            return good.sum(axis=(1, 2)) / self.counts

    def monotone(self, z: float = 1.96) -> bool:
        """True when the frequency falls with the ratio within its error bars: no ratio's interval
        lies wholly above the interval of a smaller ratio (every pair compared, not only neighbours)."""
        order = np.argsort(self.ratios, kind="stable")
        low, high = (v[order] for v in self.interval(z))
        for i in range(len(order)):
            for j in range(i + 1, len(order)):
                if self.ratios[order[j]] > self.ratios[order[i]] and low[j] > high[i]:
                    return False
        return True

    def table(self, z: float = 1.96) -> str:
        """A plain-text table: ratio, samples, frequency of "larger in front" with its standard error
        and interval, and the fraction of samples drawing the front disk whole (3 decimals)."""
        low, high = self.interval(z)
        counts, freq, err, reliable = self.counts, self.frequency, self.stderr, self.reliable_fraction()
        lines = [f"{'ratio':>6} {'samples':>8} {'larger in front':>16} {'interval':>15} {'whole':>9}"]
        for i, r in enumerate(self.ratios):
            lines.append(f"{r:>6.2f} {int(counts[i]):>8d} {freq[i]:>9.3f} ± {err[i]:.3f} "
                         f"[{low[i]:.3f}, {high[i]:.3f}] {reliable[i]:>9.3f}")
        return "\n".join(lines)


def front_sweep(model, ratios, n_probes: int, n_samples: int = 1, *, probe_seed: int = 0, seed=None,
                probe_options: dict | None = None, **sampler_options) -> FrontSweep:
    """Sample the next frame of collision probes at each radius ratio and decide the front disk.
    Taught in chapter 6 (the paper's figure 4).

    For each ratio in ``ratios`` (floats in (0, 1], small / large radius), ``n_probes`` probes from
    :func:`collision_probes` (``k = model.k``; every ratio's batch is drawn with ``probe_seed``, so the
    same directions and luminances recur at every ratio and only the sizes change: a paired design;
    ``probe_options`` go to :func:`collision_probes`),
    each sampled ``n_samples`` times in **one** call of :func:`scoretutor.sampling.sample`
    (``sampler_options``: ``h0``, ``beta``, ``sigma_stop``, ``max_steps``, ``batch_size`` ...;
    ``seed`` as there; warnings are off: divergences are reported in the result). Each sample's front
    disk is decided by :func:`front_disk`. Returns a :class:`FrontSweep`.
    """
    from .sampling import sample

    r = np.atleast_1d(np.asarray(ratios, dtype=np.float64))
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"ratios must be a non-empty list of radius ratios, got {ratios!r}")
    n_probes = leaves._positive_int(n_probes, "n_probes")
    n_samples = leaves._positive_int(n_samples, "n_samples")
    if "warn" in sampler_options:
        raise TypeError("front_sweep reports divergences in its result; it takes no 'warn' option")
    k = getattr(model, "k", None)
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise TypeError("model must be a conditional denoiser with an integer attribute k (its number of past "
                        f"frames), like scoretutor.unet.UNet; got k={k!r}")
    batches = [collision_probes(n_probes, float(ratio), probe_seed, k=k, **(probe_options or {})) for ratio in r]
    probes = Probes(**{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(Probes)})
    samples, trace = sample(model, probes.conditioning, n_samples, seed=seed, warn=False, **sampler_options)
    frames = samples[:, :, 0].detach().float().cpu().numpy()  # (R * n, m, H, W)
    valid = np.isfinite(frames).all(axis=(2, 3))
    decision = front_disk(np.where(valid[..., None, None], frames, 0.0), probes)
    shape = (r.size, n_probes, n_samples)
    return FrontSweep(
        ratios=r,
        probes=probes,
        samples=frames.reshape(shape + frames.shape[-2:]),
        large_front=decision.large_front.reshape(shape),
        error=np.where(valid, decision.error, np.nan).reshape(shape),
        front_visible=np.where(valid, np.where(decision.large_front, decision.visible_large, decision.visible_small),
                               np.nan).reshape(shape),
        valid=valid.reshape(shape),
        trace=trace,
    )
