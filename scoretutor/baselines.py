"""One-step next-frame predictors a practitioner would try first; taught in chapter 7.

Every predictor takes the past frames ``past`` of shape ``(B, k, H, W)``, float in [0, 1], oldest
first (``past[:, -1]`` is the latest frame x_t), as a torch tensor or a NumPy array, and returns its
guess of the next frame x_{t+1} as a torch tensor ``(B, 1, H, W)`` (same floating dtype and device
as a tensor input; float32 for a non-float input, float64 for a float64 NumPy array). None of them
learns anything: they are the yardsticks the networks of chapter 7 have to beat.

* :func:`copy_last` – nothing moves: x_{t+1} = x_t (needs k >= 1).
* :func:`linear_extrapolation` – every pixel keeps its rate of change: clip(2 x_t - x_{t-1}, 0, 1) (k >= 2).
* :func:`block_matching` – every block keeps its velocity: motion vectors from x_{t-1} to x_t by
  exhaustive search (:func:`estimate_motion`), then one more step along them (k >= 2).

``BASELINES`` maps a printable name to each predictor, so that a chapter can loop over them.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import checks

__all__ = ["copy_last", "linear_extrapolation", "block_matching", "estimate_motion", "BASELINES"]


def _as_float_tensor(x, name: str) -> torch.Tensor:
    """``x`` as a floating torch tensor (no copy when it already is one), with a clear error otherwise."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            t = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{name} must be a torch tensor or a NumPy array of numbers, got {type(x).__name__}") from exc
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {t.dtype}")
    return t if t.is_floating_point() else t.float()


def _check_frames(t: torch.Tensor, name: str) -> None:
    """Frames must be finite and in [0, 1] (the range every dataset of the course uses)."""
    if t.numel() == 0:
        return
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = float(t.min()), float(t.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name} must hold pixel values in [0, 1], got values in [{lo:.4g}, {hi:.4g}]")


def _check_past(past, min_frames: int) -> torch.Tensor:
    """Validate ``past (B, k, H, W)`` with ``k >= min_frames``; return it as a floating tensor."""
    t = _as_float_tensor(past, "past")
    if t.dim() != 4:
        raise ValueError(f"past must have shape (B, k, H, W) (a batch of k past frames), got shape {tuple(t.shape)}")
    b, k, h, w = t.shape
    if k < min_frames:
        raise ValueError(f"past must hold at least {min_frames} past frame{'s' if min_frames > 1 else ''} "
                         f"(axis 1), got k={k}")
    if b == 0 or h == 0 or w == 0:
        raise ValueError(f"past must have a non-empty batch and non-empty frames, got shape {tuple(t.shape)}")
    _check_frames(t, "past")
    return t


def copy_last(past) -> torch.Tensor:
    """Predict that nothing changes: the latest frame ``past[:, -1]``, shape ``(B, 1, H, W)``.

    Exact for a static scene; its error measures how much the scene moves in one frame. Taught in chapter 7.
    """
    x = _check_past(past, 1)
    return x[:, -1:].clone()


def linear_extrapolation(past) -> torch.Tensor:
    """Per-pixel constant rate of change: ``clip(2 x_t - x_{t-1}, 0, 1)``, shape ``(B, 1, H, W)``.

    Uses the last two frames only (needs k >= 2). Exact for intensities that change linearly in time
    (a fade) and stay in [0, 1]; wrong, often badly, for anything that moves, since a moving edge is
    not a pixel whose value changes at a constant rate. Taught in chapter 7.
    """
    x = _check_past(past, 2)
    return (2.0 * x[:, -1:] - x[:, -2:-1]).clamp(0.0, 1.0)


def _candidates(search: int) -> list[tuple[int, int]]:
    """All displacements ``(dy, dx)`` in ``[-search, search]**2``, smallest ``dy**2 + dx**2`` first
    (ties between equal lengths broken by ``dy``, then ``dx``, both ascending)."""
    r = range(-search, search + 1)
    return sorted(((dy, dx) for dy in r for dx in r), key=lambda v: (v[0] ** 2 + v[1] ** 2, v[0], v[1]))


def _block_sums(err: torch.Tensor, block: int) -> torch.Tensor:
    """Sum ``err (B, H, W)`` over ``block×block`` tiles -> ``(B, ceil(H/block), ceil(W/block))``
    (the last row and column of tiles are cut short when ``block`` does not divide ``H`` or ``W``)."""
    # average pooling that divides by 1 sums each tile; ceil_mode keeps the short tiles at the edges
    return F.avg_pool2d(err[:, None], block, ceil_mode=True, divisor_override=1)[:, 0]


def estimate_motion(previous, current, block: int = 4, search: int = 3) -> torch.Tensor:
    """One integer motion vector per ``block×block`` block of ``current``, by exhaustive search.

    Args:
        previous, current: frames x_{t-1} and x_t, shape ``(B, H, W)``, float in [0, 1] (torch or NumPy).
        block: block side in pixels (>= 1). When it does not divide ``H`` (or ``W``), the last row
            (column) of blocks is shorter.
        search: largest displacement tried along each axis (>= 0), in pixels.

    Returns:
        int64 tensor ``(B, ceil(H/block), ceil(W/block), 2)`` of vectors ``v = (dy, dx)`` meaning "the
        content at pixel p of ``current`` was at ``p - v`` in ``previous``" (dx > 0: moving right,
        dy > 0: moving down). For each block, ``v`` minimises the sum of squared differences
        ``sum_p (current[p] - previous[p - v])**2`` over the block's pixels p, among all
        ``(2 search + 1)**2`` displacements; pixels ``p - v`` outside the frame take the nearest
        border pixel (replicate padding). Ties go to the smallest displacement, then the smallest
        ``dy``, then the smallest ``dx`` (so a flat block gets ``v = (0, 0)``).

    Vectorised over the batch and the pixels; one pass per candidate displacement. Taught in chapter 7.
    """
    prev = _as_float_tensor(previous, "previous")
    cur = _as_float_tensor(current, "current")
    if prev.dim() != 3 or cur.dim() != 3:
        raise ValueError(f"previous and current must have shape (B, H, W), got {tuple(prev.shape)} and {tuple(cur.shape)}")
    if prev.shape != cur.shape:
        raise ValueError(f"previous and current must have the same shape, got {tuple(prev.shape)} and {tuple(cur.shape)}")
    if 0 in cur.shape:
        raise ValueError(f"previous and current must be non-empty, got shape {tuple(cur.shape)}")
    block = checks.integer(block, "block", 1)
    search = checks.integer(search, "search", 0)
    _check_frames(prev, "previous")
    _check_frames(cur, "current")
    dtype = torch.promote_types(prev.dtype, cur.dtype)
    prev, cur = prev.to(dtype), cur.to(device=prev.device, dtype=dtype)
    h, w = cur.shape[1:]
    s = search
    padded = F.pad(prev[:, None], (s, s, s, s), mode="replicate")[:, 0] if s else prev  # (B, H+2s, W+2s)
    candidates = _candidates(s)
    best_cost = best_index = None
    for i, (dy, dx) in enumerate(candidates):  # in order of length, so strict "<" keeps the shortest on ties
        moved = padded[:, s - dy:s - dy + h, s - dx:s - dx + w]  # moved[p] = previous[p - v]
        cost = _block_sums(torch.sub(cur, moved).square_(), block)
        if best_cost is None:
            best_cost, best_index = cost, torch.zeros(cost.shape, dtype=torch.long, device=cost.device)
        else:
            better = cost < best_cost
            best_cost = torch.minimum(cost, best_cost)
            best_index.masked_fill_(better, i)
    table = torch.tensor(candidates, dtype=torch.long, device=best_index.device)  # (n, 2)
    return table[best_index]


def _fetch(frame: torch.Tensor, vectors: torch.Tensor, block: int) -> torch.Tensor:
    """Backward warp: ``out[p] = frame[p - v(p)]`` with ``v(p)`` the vector of the block holding p.

    ``frame (B, H, W)``, ``vectors (B, nby, nbx, 2)`` integer; out-of-frame pixels take the nearest
    border pixel. Returns ``(B, H, W)``.
    """
    b, h, w = frame.shape
    v = vectors.repeat_interleave(block, dim=1).repeat_interleave(block, dim=2)[:, :h, :w]  # (B, H, W, 2)
    s = int(v.abs().max()) if v.numel() else 0
    padded = F.pad(frame[:, None], (s, s, s, s), mode="replicate")[:, 0] if s else frame
    ys = torch.arange(h, device=frame.device).view(1, h, 1) - v[..., 0] + s
    xs = torch.arange(w, device=frame.device).view(1, 1, w) - v[..., 1] + s
    flat = (ys * (w + 2 * s) + xs).reshape(b, -1)
    return padded.reshape(b, -1).gather(1, flat).reshape(b, h, w)


def block_matching(past, block: int = 4, search: int = 3) -> torch.Tensor:
    """Block-matching motion compensation: each block keeps its velocity for one more frame.

    1. Estimate one vector ``v`` per ``block×block`` block of x_t from x_{t-1} to x_t
       (:func:`estimate_motion`: exhaustive search over ``[-search, search]**2``, least sum of
       squared differences, replicate padding, ties to the smallest displacement).
    2. Predict by *backward* warping: each output pixel p fetches ``x_t[p - v]``, with ``v`` the vector
       of the block that holds p (out-of-frame pixels take the nearest border pixel). Fetching rather
       than pushing blocks forward by ``v`` leaves no holes and no overlaps; it assumes the motion at
       p in x_{t+1} is the motion estimated at p in x_t, which holds for a smooth motion field.

    Uses the last two frames of ``past (B, k, H, W)`` (k >= 2); returns ``(B, 1, H, W)`` in [0, 1].
    Exact, away from the borders, for a pattern translating at a constant integer velocity of at
    most ``search`` pixels per frame. Taught in chapter 7.
    """
    x = _check_past(past, 2)
    block = checks.integer(block, "block", 1)
    search = checks.integer(search, "search", 0)
    vectors = estimate_motion(x[:, -2], x[:, -1], block, search)
    return _fetch(x[:, -1], vectors, block)[:, None]


#: printable name -> predictor, in order of sophistication (every one takes ``past`` and returns ``(B, 1, H, W)``)
BASELINES = {
    "copy last frame": copy_last,
    "linear extrapolation": linear_extrapolation,
    "block matching": block_matching,
}
