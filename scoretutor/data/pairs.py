"""Frame pairs: every (k past frames, next frame) pair of a set of sequences, as a torch dataset and
as one vectorised gather. Taught in chapter 3 (used for training from chapter 4 on).
"""
from __future__ import annotations

import numpy as np
import torch

from .. import checks

__all__ = ["FramePairs", "pair_windows"]


def _as_uint8_frames(frames) -> torch.Tensor:
    """Frames ``(N, T, H, W)``, uint8 in 0..255 or float in [0, 1], as a contiguous uint8 tensor."""
    if isinstance(frames, torch.Tensor):
        arr = frames.detach().cpu()
    else:
        arr = torch.from_numpy(np.ascontiguousarray(np.asarray(frames)))
    if arr.ndim != 4:
        raise ValueError(f"frames must have shape (N, T, H, W), got shape {tuple(arr.shape)}")
    if arr.dtype == torch.uint8:
        return arr.contiguous()
    if not arr.is_floating_point():
        raise TypeError(f"frames must be uint8 (0..255) or float in [0, 1], got dtype {arr.dtype}")
    if arr.numel() and (not torch.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1):
        raise ValueError("frames given as floats must lie in [0, 1] (finite)")
    return torch.round(arr.float() * 255.0).to(torch.uint8).contiguous()


def pair_windows(frames: torch.Tensor, k: int, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather (past, target) pairs from ``frames (N, T, H, W)`` by pair index, vectorised, on the
    frames' own device and dtype.

    Pair ``j`` is sequence ``j // (T - k)`` with target frame ``t = k + j % (T - k)``: past
    ``frames[n, t-k:t]`` (oldest first), target ``frames[n, t]``; the numbering of :class:`FramePairs`.
    ``index`` holds non-negative pair indices. Returns ``past (B, k, H, W)``, ``target (B, 1, H, W)``.
    Taught in chapter 3; training (chapter 5) gathers its batches with it.
    """
    n_t = frames.shape[1] - k
    seq = torch.div(index, n_t, rounding_mode="floor")
    t = index - seq * n_t
    offsets = torch.arange(k + 1, device=frames.device)
    window = frames[seq[:, None], t[:, None] + offsets[None, :]]  # (B, k+1, H, W)
    return window[:, :k], window[:, k:]


class FramePairs(torch.utils.data.Dataset):
    """Every (k past frames, next frame) pair of a set of sequences. Taught in chapter 3.

    ``frames``: ``(N, T, H, W)``, uint8 (0..255) or float in ``[0, 1]`` (NumPy array or tensor); stored
    as uint8 (floats are rounded to the nearest 1/255) so that memory stays at one byte per pixel.
    Item ``i`` is the target position ``t = k + i % (T - k)`` of sequence ``i // (T - k)`` and returns
    ``(past, target)``: float32 tensors in ``[0, 1]`` of shapes ``(k, H, W)`` (frames ``t - k .. t - 1``,
    oldest first; ``(0, H, W)`` when ``k = 0``) and ``(1, H, W)`` (frame ``t``). ``len = N * (T - k)``.

    ``prediction_only=True`` marks a dataset for a predictor that sees only the past (no noisy
    observation of the target); the items are the same, but it needs ``k >= 1``.
    """

    def __init__(self, frames, k: int, *, prediction_only: bool = False):
        k = checks.integer(k, "k", 0)
        self.frames = _as_uint8_frames(frames)
        n, t = self.frames.shape[:2]
        if n == 0:
            raise ValueError("frames must hold at least one sequence")
        if k >= t:
            raise ValueError(f"k={k} leaves no target: sequences have only {t} frames")
        if prediction_only and k == 0:
            raise ValueError("prediction_only needs k >= 1 (a predictor with no past has nothing to go on)")
        self.k = int(k)
        self.prediction_only = bool(prediction_only)
        self.per_sequence = t - self.k

    def __len__(self) -> int:
        return self.frames.shape[0] * self.per_sequence

    def locate(self, i: int) -> tuple[int, int]:
        """Sequence index and target frame index of item ``i``."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for FramePairs of length {n}")
        i = i % n
        return i // self.per_sequence, self.k + i % self.per_sequence

    def __getitem__(self, i):
        seq, t = self.locate(int(i))
        clip = self.frames[seq, t - self.k : t + 1].float().div_(255.0)
        return clip[: self.k], clip[self.k :]

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """Many items at once, stacked: ``(past (B, k, H, W), target (B, 1, H, W))`` float32 in [0, 1]."""
        idx = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        n = len(self)
        if idx.numel() and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"indices out of range for FramePairs of length {n}")
        past, target = pair_windows(self.frames, self.k, idx % n)
        return past.float().div_(255.0), target.float().div_(255.0)
