"""Moving Leaves: the procedural occlusion dataset of the paper's synthetic experiments.

Taught in chapter 3.

Each sequence shows ``n_disks`` disks (default two) on a uniform background. Geometry and units:

* Positions are in pixels. The frame spans ``[0, size]`` in x (columns) and y (rows); the pixel in
  row ``i`` and column ``j`` has its centre at ``(x, y) = (j + 0.5, i + 0.5)``.
* All disks have the same physical size and each lies at its own random depth ``d ~ U(1, d_max)``
  with ``d_max = r_max / r_min``; its projected radius is ``r = r_max / d`` pixels, so radii fall in
  ``radius_range = (r_min, r_max)`` (default 3 to 10 pixels) and are inversely proportional to depth.
  Radius and depth stay fixed over the sequence (each disk moves in its own depth plane).
* Luminances of the disks and of the background are drawn uniformly in ``[0, 1]``.
* Each disk's x and y trajectories are independent draws of a Gaussian process over frame index
  with a squared-exponential (RBF) kernel of standard deviation ``motion_std`` pixels (default
  ``size / 5``) and length scale ``frames_per_depth * depth`` frames (default 2.5 frames per unit of
  depth). A longer length scale with the same amplitude gives a smoother, slower path: the expected
  image speed is proportional to ``1 / depth``. Size and speed are the two depth cues.
* Edges are anti-aliased: a disk covers a pixel by ``clip(r - dist + 0.5, 0, 1)``, ``dist`` being
  the distance from the disk's centre to the pixel's centre. Disks are painted from back to front.
* Occlusion rules: ``"larger"`` (default: the larger projected disk, i.e. the nearer one, is in
  front), ``"brighter"`` (the brighter disk is in front), ``"stochastic"`` (two disks only: the
  larger disk is in front with probability ``p_larger_front``, a constant or a function of the
  radius ratio ``small / large`` in ``(0, 1]``; the probability used is recorded per sequence).
* Every sequence has at least one frame in which at least half of the smaller of disks 0 and 1 is
  overlapped by the other (hidden, under the default rule). This is built in, not hoped for: a frame
  ``t*`` is drawn at random, and the smaller disk's whole trajectory is translated so that at ``t*``
  its centre sits uniformly at random inside the region where the analytic lens area of the two
  circles is at least half of its area. Since trajectories are smooth, the frames around ``t*``
  show the disks approaching, overlapping and separating. Finally all disks are shifted together
  (which keeps every overlap) by a random offset that keeps everything inside the frame when the
  motion fits; otherwise by the offset closest to centring the motion that keeps the pair at ``t*``
  inside the frame, so that the half-occlusion event is always in view.

The same seed and options give the same data; different rules on the same seed give the same
geometry and luminances, only the depth order differs.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import checks

__all__ = [
    "RULES",
    "generate",
    "splits",
    "disk_coverage",
    "render",
    "lens_area",
    "hidden_fraction",
    "speeds",
    "min_frame_size",
    "sample_paths",
    "predicted_contacts",
]

RULES = ("larger", "stochastic", "brighter")
DEFAULT_RADIUS_RANGE = (3.0, 10.0)
DEFAULT_FRAMES_PER_DEPTH = 2.5
_CHUNK = 64  # sequences rendered at a time (keeps the working set in cache)


# --------------------------------------------------------------------------- geometry helpers


def disk_coverage(size: int, centre, radius) -> np.ndarray:
    """Anti-aliased coverage of one disk: float32 ``(size, size)`` in ``[0, 1]``.

    ``centre = (x, y)`` in pixels (pixel ``(i, j)`` has its centre at ``(j + 0.5, i + 0.5)``),
    ``radius`` in pixels. Coverage is ``clip(radius - dist + 0.5, 0, 1)``. Taught in chapter 3.
    """
    size = checks.integer(size, "size", 1)
    x, y = (float(c) for c in np.asarray(centre, dtype=float).reshape(2))
    radius = float(radius)
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius!r}")
    grid = np.arange(size, dtype=np.float64) + 0.5
    dist = np.sqrt((grid[None, :] - x) ** 2 + (grid[:, None] - y) ** 2)
    return np.clip(radius - dist + 0.5, 0.0, 1.0).astype(np.float32)


def lens_area(distance, r1, r2) -> np.ndarray:
    """Area of the intersection of two circles with radii ``r1, r2`` whose centres are ``distance`` apart.

    Broadcasts over array inputs (all in pixels; result in square pixels, float64). Taught in chapter 3.
    """
    d = np.asarray(distance, dtype=np.float64)
    r1 = np.asarray(r1, dtype=np.float64)
    r2 = np.asarray(r2, dtype=np.float64)
    d, r1, r2 = np.broadcast_arrays(d, r1, r2)
    small = np.minimum(r1, r2)
    large = np.maximum(r1, r2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ds = np.maximum(d, 1e-12)
        c1 = np.clip((ds**2 + small**2 - large**2) / (2 * ds * small), -1.0, 1.0)
        c2 = np.clip((ds**2 + large**2 - small**2) / (2 * ds * large), -1.0, 1.0)
        k = (-ds + small + large) * (ds + small - large) * (ds - small + large) * (ds + small + large)
        partial = small**2 * np.arccos(c1) + large**2 * np.arccos(c2) - 0.5 * np.sqrt(np.maximum(k, 0.0))
    area = np.where(d >= small + large, 0.0, np.where(d <= large - small, np.pi * small**2, partial))
    return area


def hidden_fraction(distance, r_small, r_large) -> np.ndarray:
    """Fraction of the disk of radius ``r_small`` covered by the disk of radius ``r_large``.

    ``distance`` between centres, both radii in pixels; broadcasts; float64 in ``[0, 1]``. When the
    other disk is in front, this is the fraction of the first disk that is hidden. Taught in chapter 3.
    """
    r_small = np.asarray(r_small, dtype=np.float64)
    return lens_area(distance, r_small, r_large) / (np.pi * r_small**2)


def predicted_contacts(meta: dict, k: int = 2) -> np.ndarray:
    """Which ``(k past frames, next frame)`` pairs are *predicted from the past* to be a first contact
    of disks 0 and 1. Taught in chapter 6.

    ``meta`` is :func:`generate`'s; returns bool ``(n, n_frames - k)``, entry ``[i, j]`` for the pair
    whose target is frame ``j + k``: the two disks are apart in the last past frame (centre distance at
    least the sum of radii) and the linear extrapolation of their centres from the last two past frames
    puts them overlapping in the target frame. Only the past (positions and radii the past frames show)
    is read, never the target nor the depth order, so reweighting pairs by this flag leaves the
    conditional density of the next frame given the past unchanged. Needs ``k >= 2``.
    """
    k = checks.integer(k, "k", 2, hint="predicted_contacts needs k >= 2 past frames to extrapolate motion")
    centres = np.asarray(meta["centres"], dtype=np.float64)  # (n, disks, T, 2)
    if centres.ndim != 4 or centres.shape[1] < 2 or centres.shape[2] <= k:
        raise ValueError(f"meta['centres'] must be (n, disks >= 2, T > k, 2), got {centres.shape}")
    radius = np.asarray(meta["radius"], dtype=np.float64)
    touch = radius[:, 0] + radius[:, 1]  # (n,)
    delta = centres[:, 0] - centres[:, 1]  # (n, T, 2): relative position of disk 0
    last = delta[:, k - 1:-1]  # last past frame of each pair
    before = delta[:, k - 2:-2]  # the one before it
    apart = np.linalg.norm(last, axis=-1) >= touch[:, None]
    predicted = np.linalg.norm(2 * last - before, axis=-1) < touch[:, None]
    return apart & predicted


def _half_hidden_distance(r_small: np.ndarray, r_large: np.ndarray, iterations: int = 40) -> np.ndarray:
    """Largest centre distance at which at least half of the smaller disk is covered (bisection, lower bracket)."""
    lo = np.maximum(r_large - r_small, 0.0)
    hi = r_large.copy()  # at d = r_large less than half is covered (the large circle curves away)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        ok = hidden_fraction(mid, r_small, r_large) >= 0.5
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return lo


def min_frame_size(r_max: float) -> int:
    """Smallest frame (pixels) that holds two disks of radius ``r_max`` with half of one hidden. Taught in chapter 3."""
    r = np.array([float(r_max)])
    return int(np.ceil(2 * r_max + _half_hidden_distance(r, r)[0]))


def _gp_factor(depth: np.ndarray, n_frames: int, frames_per_depth: float) -> np.ndarray:
    """Cholesky factors ``(..., n_frames, n_frames)`` of the unit-variance RBF covariance over frame
    index with length scale ``frames_per_depth * depth`` frames (one per entry of ``depth``)."""
    t = np.arange(n_frames, dtype=np.float64)
    ell = frames_per_depth * np.asarray(depth, dtype=np.float64)
    dt2 = (t[:, None] - t[None, :]) ** 2
    K = np.exp(-dt2 / (2.0 * ell[..., None, None] ** 2)) + 1e-6 * np.eye(n_frames)
    return np.linalg.cholesky(K)


def sample_paths(depth, n_paths: int = 1, seed: int = 0, *, n_frames: int = 11, size: int = 32,
                 frames_per_depth: float = DEFAULT_FRAMES_PER_DEPTH, motion_std: float | None = None) -> np.ndarray:
    """Draw the generator's Gaussian-process motion for disks at given depths. Taught in chapter 3.

    ``depth``: float or array ``(m,)``. Returns zero-mean (x, y) offsets in pixels, float64
    ``(m, n_paths, n_frames, 2)``, with the same kernel as :func:`generate` (standard deviation
    ``motion_std``, default ``size / 5``; length scale ``frames_per_depth * depth`` frames).
    """
    depth = np.atleast_1d(np.asarray(depth, dtype=np.float64))
    if depth.ndim != 1 or not np.all(depth > 0):
        raise ValueError(f"depth must be a positive float or 1-D array, got {depth!r}")
    n_paths = checks.integer(n_paths, "n_paths", 1)
    n_frames = checks.integer(n_frames, "n_frames", 1)
    motion_std = checks.integer(size, "size", 1) / 5.0 if motion_std is None else float(motion_std)
    z = np.random.default_rng(seed).standard_normal(size=(depth.size, n_paths, n_frames, 2))
    L = _gp_factor(depth, n_frames, frames_per_depth)[:, None]  # (m, 1, T, T)
    return motion_std * (L @ z)


def speeds(centres: np.ndarray) -> np.ndarray:
    """Mean image speed (pixels per frame) of each disk from ``centres`` ``(..., n_frames, 2)``. Taught in chapter 3."""
    centres = np.asarray(centres, dtype=np.float64)
    return np.linalg.norm(np.diff(centres, axis=-2), axis=-1).mean(axis=-1)


def render(centres, radii, luminances, background, order, size: int, *, out=None) -> np.ndarray:
    """Paint disks back to front with anti-aliased edges.

    ``centres`` ``(n, n_disks, n_frames, 2)`` (x, y in pixels), ``radii`` and ``luminances``
    ``(n, n_disks)``, ``background`` ``(n,)``, ``order`` ``(n, n_disks)`` disk indices from back to
    front. Returns float32 ``(n, n_frames, size, size)`` in ``[0, 1]`` (written into ``out`` if given).
    Taught in chapter 3.
    """
    centres = np.asarray(centres, dtype=np.float32)
    radii = np.asarray(radii, dtype=np.float32)
    lum = np.asarray(luminances, dtype=np.float32)
    bg = np.asarray(background, dtype=np.float32)
    order = np.asarray(order)
    n, n_disks, n_frames, _ = centres.shape
    if out is None:
        out = np.empty((n, n_frames, size, size), dtype=np.float32)
    grid = np.arange(size, dtype=np.float32) + np.float32(0.5)
    rows = np.arange(n)
    for s in range(0, n, _CHUNK):
        sl = slice(s, min(s + _CHUNK, n))
        m = sl.stop - sl.start
        img = out[sl]
        img[...] = bg[sl, None, None, None]
        d2 = np.empty((m, n_frames, size, size), dtype=np.float32)
        for layer in range(n_disks):
            j = order[sl, layer]
            c = centres[rows[sl], j]  # (m, T, 2)
            dx2 = np.square(grid[None, None, None, :] - c[:, :, 0, None, None])  # (m, T, 1, W)
            dy2 = np.square(grid[None, None, :, None] - c[:, :, 1, None, None])  # (m, T, H, 1)
            np.add(dx2, dy2, out=d2)
            np.sqrt(d2, out=d2)
            # coverage a = clip(r + 0.5 - dist, 0, 1)
            np.subtract((radii[rows[sl], j] + np.float32(0.5))[:, None, None, None], d2, out=d2)
            np.clip(d2, 0.0, 1.0, out=d2)
            # img += a * (lum - img)
            tmp = np.subtract(lum[rows[sl], j][:, None, None, None], img)
            tmp *= d2
            img += tmp
    return out


def _fit_shift(centres: np.ndarray, radius: np.ndarray, size: int, u: np.ndarray,
               key_centres: np.ndarray, key_radius: np.ndarray) -> np.ndarray:
    """Common (x, y) shift per sequence, ``(n, 2)``, applied to every disk of a sequence.

    When the whole motion of ``centres`` ``(n, n_disks, T, 2)`` (radii ``(n, n_disks)``) fits in the
    frame, the shift is drawn at position ``u`` ``(n, 2)`` in ``[0, 1]`` of the range that keeps it all
    inside. Otherwise it is the shift closest to centring the motion that keeps the key disks
    ``key_centres`` ``(n, m, 2)`` (radii ``key_radius`` ``(n, m)``: the pair at the occlusion event)
    inside, so that the event is always visible (centred if even that does not fit).
    """
    lo_box = (centres - radius[:, :, None, None]).min(axis=(1, 2))  # (n, 2)
    hi_box = (centres + radius[:, :, None, None]).max(axis=(1, 2))
    lo_shift, hi_shift = -lo_box, size - hi_box
    lo_key = -(key_centres - key_radius[..., None]).min(axis=1)
    hi_key = size - (key_centres + key_radius[..., None]).max(axis=1)
    centred = 0.5 * (lo_shift + hi_shift)
    fallback = np.where(lo_key <= hi_key, np.clip(centred, lo_key, hi_key), 0.5 * (lo_key + hi_key))
    return np.where(lo_shift <= hi_shift, lo_shift + u * (hi_shift - lo_shift), fallback)


# --------------------------------------------------------------------------- validation helpers


# --------------------------------------------------------------------------- the generator


def generate(
    n: int,
    seed: int = 0,
    *,
    n_frames: int = 11,
    size: int = 32,
    n_disks: int = 2,
    rule: str = "larger",
    p_larger_front: float | Callable | None = None,
    radius_range: tuple[float, float] = DEFAULT_RADIUS_RANGE,
    frames_per_depth: float = DEFAULT_FRAMES_PER_DEPTH,
    motion_std: float | None = None,
    dtype: str = "float32",
) -> tuple[np.ndarray, dict]:
    """Generate ``n`` Moving Leaves sequences (rules in the module docstring). Taught in chapter 3.

    Returns ``frames`` of shape ``(n, n_frames, size, size)``, float32 in ``[0, 1]`` (or uint8 in
    0..255 with ``dtype="uint8"``, rounded, to save memory), and ``meta``, a dict of NumPy arrays
    whose first axis is the sequence:

    * ``depth``, ``radius`` (pixels), ``luminance``: ``(n, n_disks)``; ``background``: ``(n,)``;
    * ``centres``: ``(n, n_disks, n_frames, 2)``, (x, y) in pixels;
    * ``order``: ``(n, n_disks)`` disk indices painted from back to front; ``front``: ``(n,)`` the
      front disk; ``larger``: ``(n,)`` the larger of disks 0 and 1; ``larger_front``: ``(n,)`` bool,
      whether it is in front of the other one;
    * ``p_front``: ``(n,)`` probability that the larger of disks 0 and 1 is put in front (1 for
      ``"larger"``, 0 or 1 for ``"brighter"``, ``p_larger_front`` for ``"stochastic"``);
    * ``hidden_fraction``: ``(n, n_frames)`` fraction of the smaller of disks 0 and 1 covered by the
      other (analytic lens area; the hidden fraction when the larger is in front), at least 1/2 at
      frame ``event_frame`` ``(n,)``.

    ``p_larger_front`` (``rule="stochastic"`` only, required there): a float in ``[0, 1]`` or a
    callable mapping the radius ratio (small / large, an array in ``(0, 1]``) to probabilities.
    """
    n = checks.integer(n, "n", 1)
    n_frames = checks.integer(n_frames, "n_frames", 1)
    size = checks.integer(size, "size", 1)
    n_disks = checks.integer(n_disks, "n_disks", 1)
    seed = checks.integer(seed, "seed", 0)
    if n_disks < 2:
        raise ValueError(f"n_disks must be at least 2 (the occlusion constraint needs a pair), got {n_disks}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if rule == "stochastic":
        if n_disks != 2:
            raise ValueError(f"rule='stochastic' needs n_disks=2, got n_disks={n_disks}")
        if p_larger_front is None:
            raise ValueError("p_larger_front is required for rule='stochastic' (a float in [0, 1] or a callable)")
        if not callable(p_larger_front):
            checks.probability(p_larger_front, "p_larger_front")
    elif p_larger_front is not None:
        raise ValueError(f"p_larger_front is only used with rule='stochastic', not rule={rule!r}")
    try:
        r_min, r_max = (float(v) for v in radius_range)
    except (TypeError, ValueError):
        raise ValueError(f"radius_range must be a pair (r_min, r_max) of pixels, got {radius_range!r}") from None
    if not (0 < r_min <= r_max):
        raise ValueError(f"radius_range must satisfy 0 < r_min <= r_max, got {radius_range!r}")
    min_size = min_frame_size(r_max)
    if size < min_size:
        raise ValueError(
            f"size={size} is too small for radius_range={radius_range!r}: frames must be at least "
            f"{min_size} pixels wide so that two disks of the largest radius fit at the half-occlusion event"
        )
    if not (np.isfinite(frames_per_depth) and frames_per_depth > 0):
        raise ValueError(f"frames_per_depth must be positive, got {frames_per_depth!r}")
    motion_std = size / 5.0 if motion_std is None else float(motion_std)
    if not (np.isfinite(motion_std) and motion_std >= 0):
        raise ValueError(f"motion_std must be non-negative (pixels), got {motion_std!r}")
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"dtype must be 'float32' or 'uint8', got {dtype!r}")

    rng = np.random.default_rng(seed)
    T = n_frames
    # --- random draws, always in this order (keeps data identical across rules for a seed)
    depth = rng.uniform(1.0, r_max / r_min, size=(n, n_disks))
    luminance = rng.uniform(0.0, 1.0, size=(n, n_disks))
    background = rng.uniform(0.0, 1.0, size=n)
    z = rng.standard_normal(size=(n, n_disks, T, 2))
    start = rng.uniform(0.0, size, size=(n, n_disks, 1, 2))
    event = rng.integers(0, T, size=n)
    u_dist = rng.uniform(0.0, 1.0, size=n)
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    u_shift = rng.uniform(0.0, 1.0, size=(n, 2))
    u_coin = rng.uniform(0.0, 1.0, size=n)

    radius = r_max / depth

    # --- Gaussian-process trajectories: one Cholesky factor per disk, shared by x and y
    L = _gp_factor(depth, T, frames_per_depth)  # (n, n_disks, T, T)
    centres = start + motion_std * (L @ z)  # (n, n_disks, T, 2)

    # --- half-occlusion event: translate the smaller of disks 0, 1 so that at frame t* >= 1/2 is covered
    idx = np.arange(n)
    small = np.where(radius[:, 0] <= radius[:, 1], 0, 1)
    large = 1 - small
    r_s, r_l = radius[idx, small], radius[idx, large]
    d_half = _half_hidden_distance(r_s, r_l)
    dist = d_half * np.sqrt(u_dist)  # uniform over the disk of admissible relative positions
    offset = dist[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    target = centres[idx, large, event] + offset  # (n, 2)
    centres[idx, small] += (target - centres[idx, small, event])[:, None, :]

    # --- shift everything together to stay inside the frame when the motion fits, else centre it
    key = np.stack([centres[idx, 0, event], centres[idx, 1, event]], axis=1)  # the pair at the event
    centres += _fit_shift(centres, radius, size, u_shift, key, radius[:, :2])[:, None, None, :]

    # --- occlusion order
    larger_front_coin = np.ones(n, dtype=bool)
    if rule == "larger":
        p_front = np.ones(n)
        order = np.argsort(radius, axis=1, kind="stable")  # small (far) first, large (near) last
    elif rule == "brighter":
        order = np.argsort(luminance, axis=1, kind="stable")
        p_front = (luminance[idx, large] >= luminance[idx, small]).astype(np.float64)
    else:  # stochastic, two disks
        if callable(p_larger_front):
            ratio = r_s / r_l
            p_front = np.broadcast_to(np.asarray(p_larger_front(ratio), dtype=np.float64), (n,)).copy()
            checks.probability(p_front, "p_larger_front(ratio)")
        else:
            p_front = np.full(n, float(p_larger_front))
        larger_front_coin = u_coin < p_front
        front = np.where(larger_front_coin, large, small)
        order = np.stack([1 - front, front], axis=1)
    front = order[:, -1]
    pos = np.argsort(order, axis=1)  # painting position of each disk
    larger_front = pos[idx, large] > pos[idx, small]

    if dtype == "float32":
        frames = render(centres, radius, luminance, background, order, size)
    else:  # render in blocks so that no full float32 copy is ever held
        frames = np.empty((n, T, size, size), dtype=np.uint8)
        block = 4096
        for s in range(0, n, block):
            sl = slice(s, s + block)
            f = render(centres[sl], radius[sl], luminance[sl], background[sl], order[sl], size)
            frames[sl] = np.rint(f * np.float32(255.0))

    d_pair = np.linalg.norm(centres[:, 0] - centres[:, 1], axis=-1)  # (n, T)
    meta = {
        "depth": depth,
        "radius": radius,
        "luminance": luminance,
        "background": background,
        "centres": centres,
        "order": order,
        "front": front,
        "larger": large,
        "larger_front": larger_front,
        "p_front": p_front,
        "hidden_fraction": hidden_fraction(d_pair, r_s[:, None], r_l[:, None]),
        "event_frame": event,
    }
    return frames, meta


def splits(
    n_sequences: int, seed: int = 0, *, test_fraction: float = 0.1, **options
) -> tuple[tuple[np.ndarray, dict], tuple[np.ndarray, dict]]:
    """Generate ``n_sequences`` sequences and split them into train and test sets (default 9:1).

    The first ``n_sequences - n_test`` sequences are the training set, the last ``n_test =
    round(test_fraction * n_sequences)`` the test set, so no sequence is in both. ``options`` go to
    :func:`generate`. Returns ``((train_frames, train_meta), (test_frames, test_meta))``. Taught in chapter 3.
    """
    n_sequences = checks.integer(n_sequences, "n_sequences", 1)
    if not (isinstance(test_fraction, (float, int)) and 0 < test_fraction < 1):
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    n_test = int(round(test_fraction * n_sequences))
    if n_test < 1 or n_test >= n_sequences:
        raise ValueError(
            f"n_sequences={n_sequences} with test_fraction={test_fraction} leaves an empty train or test set"
        )
    frames, meta = generate(n_sequences, seed, **options)
    n_train = n_sequences - n_test
    train = (frames[:n_train], {k: v[:n_train] for k, v in meta.items()})
    test = (frames[n_train:], {k: v[n_train:] for k, v in meta.items()})
    return train, test
