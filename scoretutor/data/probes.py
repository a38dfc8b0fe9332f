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

:func:`read_occlusion` reads a predicted next frame: it refits both disks' centres near the
probe's linear continuation, renders both occlusion orders there, and finds the least-squares blend
coefficient between the two renderings. Each frame is read as one of :data:`CATEGORIES`: the larger disk
in front, the smaller in front, a blend of the two, neither (the frame fits no blend of the two orders),
or no contact (the refitted disks do not overlap). Chapter 6 samples the probes' next frames and draws
the psychometric curve of the paper's figure 4 from these readings (:mod:`scoretutor.psychometric`).
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
from scipy.ndimage import gaussian_filter

from .. import checks
from . import leaves

__all__ = ["Probes", "OcclusionReading", "CATEGORIES", "collision_probes", "blend_coefficient", "read_occlusion"]

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


LARGER, SMALLER, BLENDED, NEITHER, NO_CONTACT = (
    "larger in front", "smaller in front", "blended", "neither", "no contact")
#: Gaussian widths (pixels) tried when fitting how soft a frame is
BLUR_WIDTHS = (0.0, 0.5, 1.0, 1.5, 2.0)
#: the five readings of a predicted frame, in this order everywhere (tables, counts)
CATEGORIES = (LARGER, SMALLER, BLENDED, NEITHER, NO_CONTACT)


@dataclass
class OcclusionReading:
    """What :func:`read_occlusion` makes of predicted frames (every array shaped ``(n,)`` or ``(n, m)``
    like the predictions). Taught in chapter 3.

    * ``category``: str, one of :data:`CATEGORIES`;
    * ``coefficient``: the least-squares blend coefficient ``a`` of the frame between the rendering with
      the smaller disk in front (``a = 0``) and the one with the larger in front (``a = 1``), over the
      pixels where the two differ (NaN for "no contact");
    * ``fit_error``: how far the frame is from that best blend (0: exactly a blend of the two orders;
      NaN for "no contact"): the largest of three RMS residuals, each relative to the contrast it should
      show: over the pixels only the larger disk covers (against the background), only the smaller
      (likewise) and where the two orders differ (against the RMS difference between them); infinite
      when the refit hides more than ``max_hidden`` of the disk behind (the frame does not show it);
    * ``blur``: the width (pixels) of the Gaussian blur of both renderings that fits the frame best, one
      of :data:`BLUR_WIDTHS` (0 for a sharp frame; the one-step estimate is soft);
    * ``centres``: ``(..., 2, 2)`` the refitted (x, y) of disk 0 (larger) and disk 1 (smaller).
    """

    category: np.ndarray
    coefficient: np.ndarray
    fit_error: np.ndarray
    blur: np.ndarray
    centres: np.ndarray

    def counts(self) -> dict:
        """``{category: number of frames}`` for every one of :data:`CATEGORIES` (zeros included)."""
        return {c: int(np.sum(self.category == c)) for c in CATEGORIES}


def blend_coefficient(frame, first, second) -> np.ndarray:
    """Least-squares ``a`` with ``frame ~ second + a (first - second)``. Taught in chapter 3.

    ``frame``, ``first``, ``second``: arrays of the same shape ``(..., H, W)``. Returns ``(...)``:
    ``<frame - second, first - second> / |first - second|^2`` over each image's pixels (only the pixels
    where the two renderings differ count); NaN where ``first`` and ``second`` are equal everywhere.
    """
    frame, first, second = (np.asarray(v, dtype=np.float64) for v in (frame, first, second))
    if not (frame.shape == first.shape == second.shape) or frame.ndim < 2:
        raise ValueError(f"frame, first and second must be images of one shape (..., H, W), got "
                         f"{frame.shape}, {first.shape} and {second.shape}")
    diff = first - second
    num = ((frame - second) * diff).sum(axis=(-2, -1))
    den = (diff * diff).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, num / np.where(den > 1e-12, den, 1.0), np.nan)


def _coverage(centre, radius, grid):
    """Anti-aliased coverage of disks, as :func:`leaves.render` paints them: ``(..., H, W)``."""
    dx = grid - centre[..., 0, None, None]
    dy = grid[:, None] - centre[..., 1, None, None]
    return np.clip(radius[..., None, None] + 0.5 - np.sqrt(dx * dx + dy * dy), 0.0, 1.0)


def _renderings(centres, radius, lum, bg, grid):
    """Both occlusion orders at candidate centres ``(n, C, 2, 2)``: larger in front, smaller in front
    (each ``(n, C, H, W)``) and the two disks' coverages."""
    cov_l = _coverage(centres[:, :, LARGE], radius[:, None, LARGE], grid)
    cov_s = _coverage(centres[:, :, SMALL], radius[:, None, SMALL], grid)
    l_l, l_s, b = (v[:, None, None, None] for v in (lum[:, LARGE], lum[:, SMALL], bg))
    under_l = b + cov_s * (l_s - b)  # the smaller painted first, then the larger on top
    under_s = b + cov_l * (l_l - b)
    large_front = under_l + cov_l * (l_l - under_l)
    small_front = under_s + cov_s * (l_s - under_s)
    return large_front, small_front, (cov_l, cov_s)


def _candidate_sse(pred, centres, probes_radius, lum, bg, grid):
    """Residual sum of squares of the best blend of the two orders, per frame and candidate:
    ``pred`` ``(n, m, H, W)``, ``centres`` ``(n, C, 2, 2)`` -> ``(n, m, C)``."""
    a_img, b_img, _ = _renderings(centres, probes_radius, lum, bg, grid)
    diff = a_img - b_img  # (n, C, H, W)
    den = np.einsum("nchw,nchw->nc", diff, diff)
    r0 = pred[:, :, None] - b_img[:, None]  # (n, m, C, H, W)
    num = np.einsum("nmchw,nchw->nmc", r0, diff)
    sse0 = np.einsum("nmchw,nmchw->nmc", r0, r0)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(den[:, None] > 1e-9, num / np.where(den > 1e-9, den, 1.0)[:, None], 0.0)
    return sse0 - a * num  # |r0 - a diff|^2 = |r0|^2 - a <r0, diff> at the least-squares a


def _best(frames, cands, radius, lum, bg, grid):
    """The candidate ``(F, 2, 2)`` with the smallest blend residual for each frame: ``frames``
    ``(F, H, W)``, ``cands`` ``(F, C, 2, 2)``."""
    sse = _candidate_sse(frames[:, None], cands, radius, lum, bg, grid)[:, 0]  # (F, C)
    return cands[np.arange(len(frames)), np.argmin(sse, axis=1)]


def read_occlusion(predicted, probes: Probes, *, blend_band: tuple[float, float] = (0.2, 0.8),
                   max_fit_error: float = 0.5, max_hidden: float = 0.8, max_blur: float = 1.0,
                   chunk: int = 64) -> OcclusionReading:
    """Read which occlusion order predicted next frames of ``probes`` show. Taught in chapter 3.

    ``predicted``: ``(n, H, W)`` or ``(n, m, H, W)`` (``m`` frames per probe; NumPy or torch). For each
    frame, both disks' centres are refitted near the probe's linear continuation: each disk is moved a
    fraction 0 to 1.2 of its last step from its last past position (a grid of 0.2, then refined by 0.1),
    then both together by up to 2 pixels in x and y, then each alone by half a pixel; the candidate kept
    is the one where the best blend of the two orders fits the frame best. At the refit, both renderings
    are blurred by the Gaussian of :data:`BLUR_WIDTHS` that fits best, and :func:`blend_coefficient`
    gives ``a`` between the rendering with the smaller disk in front (0) and the larger in front (1).
    The reading is, in this order of precedence: "neither" when one disk alone (at its refitted centre,
    blurred likewise) fits the frame better than any blend of the two orders; "blended" when the frame is soft (best blur at least
    ``max_blur`` pixels: an average over futures, like the one-step estimate, is no frame of either
    order); "no contact" when the refitted disks do not overlap; "neither" when the fit error (see
    :class:`OcclusionReading`) exceeds ``max_fit_error``; else "larger in front" for
    ``a >= blend_band[1]``, "smaller in front" for ``a <= blend_band[0]`` and "blended" in between.
    A frame with NaN is read as "neither". Work goes ``chunk`` frames at a time.
    """
    if hasattr(predicted, "detach"):
        predicted = predicted.detach().cpu().numpy()
    pred = np.asarray(predicted, dtype=np.float64)
    n, size = probes.n, probes.overlap_mask.shape[-1]
    if pred.ndim not in (3, 4) or pred.shape[0] != n or pred.shape[-2:] != (size, size):
        raise ValueError(
            f"predicted must have shape ({n}, {size}, {size}) or ({n}, m, {size}, {size}), got {pred.shape}")
    if probes.k < 1:
        raise ValueError("read_occlusion needs probes with at least one past frame (k >= 1)")
    lo, hi = (float(v) for v in blend_band)
    if not 0 <= lo < hi <= 1:
        raise ValueError(f"blend_band must be (low, high) with 0 <= low < high <= 1, got {blend_band!r}")
    if not (np.isfinite(max_fit_error) and max_fit_error > 0):
        raise ValueError(f"max_fit_error must be positive, got {max_fit_error!r}")
    if not (np.isfinite(max_blur) and max_blur > 0):
        raise ValueError(f"max_blur must be positive (pixels), got {max_blur!r}")
    if not 0 < max_hidden <= 1:
        raise ValueError(f"max_hidden must lie in (0, 1], got {max_hidden!r}")
    chunk = checks.integer(chunk, "chunk", 1)
    squeeze = pred.ndim == 3
    if squeeze:
        pred = pred[:, None]
    finite = np.isfinite(pred).all(axis=(2, 3))
    pred = np.where(finite[..., None, None], pred, 0.0)
    m = pred.shape[1]
    grid = np.arange(size, dtype=np.float64) + 0.5

    fracs = np.arange(0.0, 1.21, 0.2)
    fl, fs = (v.reshape(1, -1, 1) for v in np.meshgrid(fracs, fracs, indexing="ij"))
    fine = np.stack(np.meshgrid([-0.1, 0, 0.1], [-0.1, 0, 0.1], indexing="ij"), -1).reshape(-1, 2)
    shifts = np.stack(np.meshgrid(np.arange(-2, 3.0), np.arange(-2, 3.0)), -1).reshape(-1, 2)
    nudges = np.stack(np.meshgrid([-0.5, 0, 0.5], [-0.5, 0, 0.5]), -1).reshape(-1, 2)
    # one row per frame: the frames of a probe share its geometry and luminances
    frames = pred.reshape(n * m, size, size)
    c_past = np.repeat(probes.centres[:, :, -2], m, axis=0)  # (F, 2, 2)
    step = np.repeat(probes.centres[:, :, -1], m, axis=0) - c_past
    radius, lum = np.repeat(probes.radius, m, axis=0), np.repeat(probes.luminance, m, axis=0)
    bg = np.repeat(probes.background, m)
    coef, err, softness = np.full(n * m, np.nan), np.full(n * m, np.nan), np.zeros(n * m)
    contact, fitted = np.zeros(n * m, dtype=bool), np.empty((n * m, 2, 2))
    single = np.zeros(n * m, dtype=bool)
    for s in range(0, n * m, chunk):
        sl = slice(s, min(s + chunk, n * m))
        x, args = frames[sl], (radius[sl], lum[sl], bg[sl], grid)
        # stage 1: how far along its last step each disk went
        cands = np.stack([c_past[sl, None, LARGE] + fl * step[sl, None, LARGE],
                          c_past[sl, None, SMALL] + fs * step[sl, None, SMALL]], axis=2)
        best = _best(x, cands, *args)
        frac = np.einsum("fdk,fdk->fd", best - c_past[sl], step[sl]) / np.einsum("fdk,fdk->fd", step[sl], step[sl])
        f_l, f_s = (frac[:, None, d] + fine[None, :, d] for d in (LARGE, SMALL))
        cands = np.stack([c_past[sl, None, LARGE] + f_l[..., None] * step[sl, None, LARGE],
                          c_past[sl, None, SMALL] + f_s[..., None] * step[sl, None, SMALL]], axis=2)
        best = _best(x, cands, *args)
        # stage 2: both disks shifted together; stage 3: each disk nudged on its own
        for moves, which in ((shifts, (LARGE, SMALL)), (nudges, (LARGE,)), (nudges, (SMALL,))):
            cands = np.repeat(best[:, None], len(moves), axis=1)
            for d in which:
                cands[:, :, d] += moves[None]
            best = _best(x, cands, *args)
        fitted[sl] = best
        a_img, b_img, cover = _renderings(best[:, None], *args)
        a_img, b_img, cover = a_img[:, 0], b_img[:, 0], [c[:, 0] for c in cover]
        touching = (np.abs(a_img - b_img) > 0.05).any(axis=(1, 2))
        # how soft the frame is: both renderings blurred by the Gaussian that fits the frame best
        # and whether one disk alone explains the frame better than any blend of the two orders
        fits, alone = [], np.full(len(x), np.inf)
        singles = [bg[sl, None, None] + cov * (lum[sl, d, None, None] - bg[sl, None, None])
                   for d, cov in zip((LARGE, SMALL), cover)]
        for width in BLUR_WIDTHS:
            a_w, b_w, *one = (gaussian_filter(v, (0, width, width), mode="nearest") if width else v
                              for v in (a_img, b_img, *singles))
            a_coef = blend_coefficient(x, a_w, b_w)
            sse = ((x - b_w - np.nan_to_num(a_coef)[:, None, None] * (a_w - b_w)) ** 2).sum(axis=(1, 2))
            fits.append((sse, a_w, b_w, a_coef))
            for v in one:
                alone = np.minimum(alone, ((x - v) ** 2).sum(axis=(1, 2)))
        pick = np.argmin(np.stack([f[0] for f in fits]), axis=0)
        rows = np.arange(len(x))
        a_img = np.stack([f[1] for f in fits])[pick, rows]
        b_img = np.stack([f[2] for f in fits])[pick, rows]
        a = np.stack([f[3] for f in fits])[pick, rows]
        softness[sl] = np.asarray(BLUR_WIDTHS)[pick]
        single[sl] = alone < np.stack([f[0] for f in fits]).min(axis=0)
        diff = a_img - b_img
        changed = np.abs(diff) > 0.05
        res = x - b_img - np.nan_to_num(a)[:, None, None] * diff
        # the worst of three regions: each disk's own part (against the background) and the overlap
        # (against the other order), so that a disk the frame leaves out is not hidden by a good fit elsewhere
        def rms(region, scale):
            return np.sqrt((res**2 * region).sum(axis=(1, 2)) / np.maximum(region.sum(axis=(1, 2)), 1)) / scale
        own_l, own_s = (cover[0] > 0.5) & (cover[1] < 0.5), (cover[1] > 0.5) & (cover[0] < 0.5)
        rms_res = np.maximum(rms(own_l, np.abs(lum[sl, LARGE] - bg[sl])), rms(own_s, np.abs(lum[sl, SMALL] - bg[sl])))
        rms_diff = np.sqrt((diff**2 * changed).sum(axis=(1, 2)) / np.maximum(changed.sum(axis=(1, 2)), 1))
        # a disk hidden almost wholly at the refit is not seen in the frame: nothing says where it is
        overlap = leaves.lens_area(np.linalg.norm(best[:, LARGE] - best[:, SMALL], axis=-1),
                                   radius[sl, SMALL], radius[sl, LARGE])
        behind = np.where(np.nan_to_num(a) >= 0.5, radius[sl, SMALL], radius[sl, LARGE])
        unseen = overlap / (np.pi * behind**2) > max_hidden
        rms_res = np.where(unseen, np.inf, rms_res)
        contact[sl] = touching
        coef[sl] = np.where(touching, a, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            err[sl] = np.where(touching, np.maximum(rms_res, rms(changed, 1.0) / rms_diff), np.nan)
    coef, err, contact = coef.reshape(n, m), err.reshape(n, m), contact.reshape(n, m)
    softness, single = softness.reshape(n, m), single.reshape(n, m)
    fitted = fitted.reshape(n, m, 2, 2)
    category = np.where(coef >= hi, LARGER, np.where(coef <= lo, SMALLER, BLENDED)).astype(object)
    category[contact & (err > max_fit_error)] = NEITHER
    category[~contact] = NO_CONTACT
    category[softness >= max_blur] = BLENDED  # an average over futures, as the one-step estimate is
    category[single & contact] = NEITHER  # one disk alone fits better than any blend of the two orders
    category[~finite] = NEITHER
    coef[~finite], err[~finite] = np.nan, np.nan
    category = category.astype(str)
    out = OcclusionReading(category=category, coefficient=coef, fit_error=err, blur=softness, centres=fitted)
    if squeeze:
        out = OcclusionReading(category[:, 0], coef[:, 0], err[:, 0], softness[:, 0], fitted[:, 0])
    return out
